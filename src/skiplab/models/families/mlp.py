"""Residual MLPs for vectors (toy, regression, scaling experiments): a linear stem, `depth` blocks of width
`width`, a linear head. Blocks are pre-activation (`x + h * F(x)`, F = [norm, act, linear] x branch_layers), so
x_{l+1} = x_l + h F(x_l) holds exactly; `skip="none"` gives the plain twin. Inputs with spatial dims are flattened."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from torch import nn

from ...config import option
from ...errors import ConfigError
from ..blocks import PlainBlock, residual_block
from ..parts.fixup import initialize
from ..parts.integrators import INTEGRATOR_HELP, SOLVER_HELP, IntegratorName, SolverName
from ..parts.layers import ACTIVATIONS, Normalize, ResidualScale, norm
from ..net import Net
from ..registry import register_presets


@dataclass(frozen=True)
class MLPConfig:
    depth: int = option(8, "number of blocks")
    width: int = option(64, "hidden width")
    branch_layers: int = option(2, "linear layers per branch")
    skip: Literal["identity", "none"] = option("identity", "identity shortcuts, or none for the plain twin")
    h: float = option(1.0, "residual scale: a block computes x + h * branch(x)")
    h_learnable: bool = option(False, "make h a learnable scalar per block (ReZero with h=0)")
    zero_init: bool = option(False, "zero-init the last norm (or linear) of each branch: blocks start as identity")
    integrator: IntegratorName = option("euler", INTEGRATOR_HELP)
    solver: SolverName = option("fixed-point", SOLVER_HELP)
    solver_tol: float = option(1e-6, "implicit-euler: relative residual at which a solve has converged")
    solver_max_iter: int = option(100, "implicit-euler: iterations before a solve is counted as unconverged")
    share_weights: bool = option(False, "one branch F shared by every block: with h = T/depth the net is a "
                                        "discretized autonomous ODE x' = F(x) on [0, T]")
    init: Literal["he", "fixup"] = option("he", "weight init: the family's default, or Fixup (Zhang et al. 2019; "
                                                "needs norm='none' and residual blocks)")
    norm: Literal["batch", "layer", "none"] = option("none", "normalization inside each branch")
    activation: Literal["relu", "gelu", "tanh", "identity"] = option("relu", "nonlinearity")
    in_channels: int = option(2, "input features (channels, if the data have spatial dims)")
    num_classes: int = option(2, "outputs: classes, or regression targets")
    input_size: tuple[int, ...] = option((), "spatial dims of the input (flattened); () for plain vectors")
    input_mean: tuple[float, ...] | None = option(None, "per-channel input mean")
    input_std: tuple[float, ...] | None = option(None, "per-channel input std")

    def __post_init__(self) -> None:
        if self.depth < 1 or self.width < 1 or self.branch_layers < 1:
            raise ConfigError("depth, width and branch_layers must be >= 1")
        if self.skip == "none" and (self.integrator != "euler" or self.share_weights):
            raise ConfigError("integrator and share_weights need residual blocks (skip=identity)")
        if self.integrator == "leapfrog" and self.width % 2:
            raise ConfigError(f"leapfrog splits the width in two halves; width {self.width} is odd")


def build_mlp(cfg: MLPConfig, name: str = "") -> Net:
    act, w = ACTIVATIONS[cfg.activation], cfg.width
    in_features = cfg.in_channels * math.prod(cfg.input_size)
    dims = len(cfg.input_size)
    def make_branch() -> nn.Sequential:
        layers: list[nn.Module] = []
        for _ in range(cfg.branch_layers):
            layers += [norm(cfg.norm, 0, w), act(), nn.Linear(w, w)]
        return nn.Sequential(*layers)

    shared = make_branch() if cfg.share_weights else None
    blocks = []
    for _ in range(cfg.depth):
        branch = shared if shared is not None else make_branch()
        if cfg.skip == "none":
            blocks.append(PlainBlock(branch))
        else:
            blocks.append(residual_block(branch, nn.Identity(), ResidualScale(cfg.h, cfg.h_learnable), cfg))
    stem = nn.Sequential(nn.Flatten(), nn.Linear(in_features, w))
    head = nn.Sequential(norm(cfg.norm, 0, w), act(), nn.Linear(w, cfg.num_classes))
    net = Net(cfg, Normalize(cfg.input_mean, cfg.input_std, cfg.in_channels, dims), stem, [blocks], head, name)
    initialize(net, cfg.zero_init, cfg.init)
    return net


PRESETS = {
    "resmlp": (MLPConfig(), "residual MLP (pre-activation blocks) for vectors"),
    "plainmlp": (MLPConfig(skip="none"), "plain twin of resmlp"),
}

register_presets(PRESETS, build_mlp)
