"""Fixup initialization (Zhang, Dauphin & Ma 2019, "Fixup Initialization: Residual Learning Without
Normalization", Sec. 3), applied to a built residual `Net` after `init_weights`.

For L residual branches of m weight layers each, Fixup
1. initializes the classification layer and the last weight layer of every branch at 0, so each block starts as
   its shortcut and the net's output does not depend on depth at initialization;
2. initializes the other branch layers with He init scaled by L^(-1/(2m-2)), so the updates of a branch after one
   SGD step are O(1/L) and their sum over the L branches stays O(1) (the paper's argument);
3. adds a scalar multiplier (init 1) at the end of every branch and a scalar bias (init 0) before every weight layer
   and every element-wise activation, in the branches, before a post-addition activation and in the head; these
   stand in for the affine part of the normalization Fixup removes.

Included: all three rules, for the MLP and the CIFAR ResNet families (basic and bottleneck branches, original and
pre-activation). Not included: the stem gets no scalar biases (it sees the raw, normalized input), projection
shortcuts (option B) keep He init (the paper leaves them alone too), and the paper's mixup regularization, which is
a training choice, not part of the initialization. With m = 1 the scaling exponent is undefined and only rule 1
applies (a one-layer branch is zero anyway). Linear layers are re-drawn with He init first: the MLP family uses
PyTorch's default, which is not the He init Fixup's factor assumes.
"""

from __future__ import annotations

import torch
from torch import nn

from ...errors import ConfigError
from ..blocks import PlainBlock, ResidualBlock
from .layers import init_weights, zero_last
from ..net import Net

WEIGHTS = (nn.Linear, nn.Conv1d, nn.Conv2d)
ACTIVATIONS = (nn.ReLU, nn.GELU, nn.Tanh)  # nn.Identity (a missing norm, or activation="identity") gets no bias


class ScalarBias(nn.Module):
    """x + b with one learnable scalar b (init 0)."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bias


class ScalarScale(nn.Module):
    """s * x with one learnable scalar s (init 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


def _with_biases(seq: nn.Sequential) -> list[nn.Module]:
    """The layers of `seq` with a ScalarBias before every weight layer and activation."""
    out: list[nn.Module] = []
    for m in seq:
        if isinstance(m, WEIGHTS + ACTIVATIONS):
            out.append(ScalarBias())
        out.append(m)
    return out


@torch.no_grad()
def apply_fixup(net: Net) -> None:
    """Re-initialize `net` in place by Fixup's rules (see the module docstring). Needs a norm-free residual net."""
    blocks = [b for _, b in net.blocks()]
    if any(isinstance(b, PlainBlock) for b in blocks) or not all(isinstance(b, ResidualBlock) for b in blocks):
        raise ConfigError("init='fixup' needs residual blocks (skip='identity'): it zero-inits every branch")
    if any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm)) for m in net.modules()):
        raise ConfigError("init='fixup' replaces normalization; use norm='none'")
    n_branches = len(blocks)
    for block in blocks:
        weights = [m for m in block.branch.modules() if isinstance(m, WEIGHTS)]
        m = len(weights)
        factor = n_branches ** (-1.0 / (2 * m - 2)) if m > 1 else 1.0
        for layer in weights[:-1]:
            if isinstance(layer, nn.Linear):
                nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")
            layer.weight.mul_(factor)  # convolutions already carry He init (fan_out) from init_weights
        nn.init.zeros_(weights[-1].weight)
        if weights[-1].bias is not None:
            nn.init.zeros_(weights[-1].bias)
        block.branch = nn.Sequential(*_with_biases(block.branch), ScalarScale())
        if block.post is not None:  # Fixup's bias before the activation that follows the addition
            block.post = nn.Sequential(ScalarBias(), block.post)
    head = net.head
    classifier = [m for m in head.modules() if isinstance(m, nn.Linear)][-1]
    nn.init.zeros_(classifier.weight)
    if classifier.bias is not None:
        nn.init.zeros_(classifier.bias)
    net.head = nn.Sequential(*_with_biases(head))


def initialize(net: Net, zero_init: bool, init: str) -> None:
    """The residual families' initialization: He init, then optionally zero-init of every branch's last norm,
    then optionally Fixup (which needs a norm-free net)."""
    init_weights(net)
    if zero_init:
        for _, block in net.blocks():
            zero_last(block.branch)
    if init == "fixup":
        apply_fixup(net)
