"""A ResNet whose branches are kept under a Lipschitz budget c: `lipresnet20` (and any depth via `depth=`).

Each linear layer of a branch F carries a parametrization (torch.nn.utils.parametrize) W -> W * min(1, t / s(W)),
s(W) its operator norm by power iteration on the layer itself (models/parts/operator_norm.py: the convolution with its
stride and padding, not the reshaped kernel), t = c^(1/k) for a branch of k layers. With 1-Lipschitz activations
Lip(F) <= prod ||W_i|| <= c, so a block x -> shortcut(x) + h F(x) is (1 + |h| c)-Lipschitz. Projection shortcuts
and (with `ends`) the stem conv and head linear are held at norm <= 1, so the whole net's product bound is governed
by c. Batch norm is refused: in training it normalizes by batch statistics, and its eval scale gamma/sqrt(var) is
not a parameter a reparametrization can bound; the constrained family is norm-free.

As in Miyato et al.'s spectral normalization, s(W) is a running power-iteration estimate (one step per training
forward, the vector carried across steps). It approaches the true norm from below, so before a bound is
certified `tighten(net)` sets the vector to the exact top singular vector; the probe (probes/lipschitz.py) then recomputes every norm from
the effective weights, never trusting the budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.nn.utils import parametrize

from ...config import option
from ...errors import ConfigError
from ..net import Net
from ..parts.operator_norm import CONVS, conv_args, conv_maps, input_shapes, linear_maps, power_iteration, top_singular
from ..registry import register_presets
from .resnet_cifar import ResNetConfig, build_resnet


class OperatorNormBudget(nn.Module):
    """Parametrization W -> W * t / max(s(W), t) for a Linear (W: (out, in)) or Conv1d/2d (W: (out, in/g, *k))
    layer whose per-example input shape is `in_shape`. The power-iteration vector `v` (1, *in_shape) is a buffer:
    it is updated in training mode only, so eval-mode outputs are a fixed function of the weights."""

    def __init__(self, layer: nn.Module, in_shape: tuple[int, ...], target: float, iters: int = 1) -> None:
        super().__init__()
        if target <= 0 or iters < 1:
            raise ValueError(f"target must be > 0 and iters >= 1, got {target}, {iters}")
        self.target, self.iters, self.in_shape = float(target), int(iters), tuple(in_shape)
        self.args = conv_args(layer) if isinstance(layer, CONVS) else None
        if self.args is None and not isinstance(layer, nn.Linear):
            raise TypeError(f"no operator-norm budget for {type(layer).__name__}")
        g = torch.Generator().manual_seed(0)
        v = torch.randn((1, *self.in_shape), generator=g, dtype=layer.weight.dtype)
        self.register_buffer("v", (v / v.norm()).to(layer.weight.device))

    def maps(self, w: torch.Tensor):
        return linear_maps(w) if self.args is None else conv_maps(w, self.in_shape, self.args)

    def sigma(self, w: torch.Tensor) -> torch.Tensor:
        """||A(w) v||: the current estimate of w's operator norm, differentiable in w (v fixed)."""
        A, _ = self.maps(w)
        return A(self.v.to(w.dtype)).norm()

    def refine(self, w: torch.Tensor, iters: int) -> None:
        """`iters` power-iteration steps on w from the stored vector (the running estimate of training)."""
        with torch.no_grad():
            A, At = self.maps(w.detach())
            _, v = power_iteration(A, At, self.v.to(w.dtype), iters)
            self.v.copy_(v.to(self.v.dtype))

    def converge(self, w: torch.Tensor) -> None:
        """Set the vector to w's top right singular vector (float64, `top_singular`): sigma is then exact."""
        with torch.no_grad():
            A, At = self.maps(w.detach().double())
            _, v = top_singular(A, At, self.in_shape, device=w.device)
            self.v.copy_(v.to(self.v.dtype))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.refine(w, self.iters)
        t = torch.tensor(self.target, dtype=w.dtype, device=w.device)
        return w * (t / torch.maximum(self.sigma(w), t))

    def extra_repr(self) -> str:
        return f"target={self.target:g}, in_shape={self.in_shape}"


def budgeted(net: nn.Module) -> list[tuple[nn.Module, OperatorNormBudget]]:
    """(layer, parametrization) for every layer of `net` whose weight carries an operator-norm budget."""
    out = []
    for m in net.modules():
        if parametrize.is_parametrized(m, "weight"):
            out += [(m, p) for p in m.parametrizations.weight if isinstance(p, OperatorNormBudget)]
    return out


@torch.no_grad()
def tighten(net: nn.Module) -> None:
    """Replace every budget's running power-iteration vector by the exact top singular vector, so the effective
    weights meet their targets to rounding. Call before certifying; the weights themselves are unchanged."""
    for layer, p in budgeted(net):
        p.converge(layer.parametrizations.weight.original)


def _linears(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, (*CONVS, nn.Linear))]


def constrain(net: Net, budget: float, example: torch.Tensor, ends: bool = True, iters: int = 1) -> Net:
    """Put every branch of `net` under Lipschitz budget `budget` (t = budget^(1/k) per layer of a k-layer branch);
    projection shortcuts, and with `ends` the stem and head, under norm 1. `example` (1, *input shape) fixes
    each convolution's input size. Returns `net`, changed in place."""
    if budget <= 0:
        raise ValueError(f"budget must be > 0, got {budget}")
    shapes = input_shapes(net, example)

    def put(layers: list[nn.Module], target: float) -> None:
        for m in layers:
            parametrize.register_parametrization(m, "weight", OperatorNormBudget(m, shapes[m], target, iters))

    for _, block in net.blocks():
        layers = _linears(block.branch)
        if layers:
            put(layers, budget ** (1.0 / len(layers)))
        if hasattr(block, "shortcut"):
            put(_linears(block.shortcut), 1.0)
    if ends:
        put(_linears(net.stem) + _linears(net.head), 1.0)
    return net


@dataclass(frozen=True)
class LipschitzResNetConfig(ResNetConfig):
    norm: Literal["batch", "none"] = option("none", "must be none: batch norm's scale is not bounded by the budget")
    budget: float = option(1.0, "c: every branch's Lipschitz bound (product of its layers' operator norms) <= c")
    ends: bool = option(True, "also keep the stem conv and the head's linear layer at operator norm <= 1")
    power_iters: int = option(1, "power-iteration steps per training forward (the vector carries across steps)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.norm != "none":
            raise ConfigError("lipresnet: norm must be 'none' (batch norm's scale is not bounded by the budget)")
        if self.activation not in ("relu", "tanh", "identity"):
            raise ConfigError(f"lipresnet: activation {self.activation!r} is not 1-Lipschitz; use relu, tanh or "
                              "identity")
        if not self.budget > 0 or self.power_iters < 1:
            raise ConfigError(f"lipresnet: budget must be > 0 and power_iters >= 1, got {self.budget}, "
                              f"{self.power_iters}")


def build_lipresnet(cfg: LipschitzResNetConfig, name: str = "") -> Net:
    net = build_resnet(cfg, name)
    example = torch.zeros(1, cfg.in_channels, *cfg.input_size)
    return constrain(net, cfg.budget, example, cfg.ends, cfg.power_iters)


PRESETS = {"lipresnet20": (LipschitzResNetConfig(depth=20), "ResNet-20 (norm-free) with each branch's Lipschitz "
                                                           "bound kept under a budget c (default 1)")}

register_presets(PRESETS, build_lipresnet)
