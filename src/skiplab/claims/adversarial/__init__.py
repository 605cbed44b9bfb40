"""Adversarial robustness and Lipschitz bounds of residual, plain and VGG-style nets."""
