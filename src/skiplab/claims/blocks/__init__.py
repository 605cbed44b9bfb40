"""What one residual block computes: a Jacobian near the identity, an increment aligned with the error, a boosting
stage. All three read the depth ladder's pre-activation pair (depth/ladder.py), where x_{l+1} = x_l + F(x_l)."""
