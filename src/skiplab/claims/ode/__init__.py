"""The residual update as a forward-Euler step: convergence to an ODE flow, conditional stability, continuous-depth
ODE-Nets, and the same step in real-time TDDFT."""
