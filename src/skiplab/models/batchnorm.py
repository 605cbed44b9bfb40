"""Batch-norm mode policy for probes: single-example probes (Jacobians, attacks, lesions) run in eval mode with
running statistics calibrated on training data first, so an example's output does not depend on its batch."""

from __future__ import annotations

import torch
from torch import nn

_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, _BN) for m in model.modules())


@torch.no_grad()
def calibrate_batchnorm(model: nn.Module, x: torch.Tensor, batch_size: int = 256) -> str:
    """Reset every BN layer's running statistics and re-estimate them as exact averages over `x` (float inputs,
    model's device). Leaves the model in eval mode; returns the mode the probe should record."""
    layers = [m for m in model.modules() if isinstance(m, _BN)]
    if not layers:
        model.eval()
        return "eval (no batch norm)"
    momenta = [m.momentum for m in layers]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: equal weight for every batch
    model.train()
    for start in range(0, x.shape[0], batch_size):
        model(x[start:start + batch_size])
    for m, mom in zip(layers, momenta):
        m.momentum = mom
    model.eval()
    return f"eval (batch norm calibrated on {x.shape[0]} training examples)"
