"""Small layers shared by the model families: input normalization, conv/norm factories, shortcuts, the residual
scale h. Families pass dimensionality (1D sequences or 2D images) down instead of copying code per variant."""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": lambda: nn.ReLU(inplace=False),
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "identity": nn.Identity,
}


class Normalize(nn.Module):
    """(x - mean) / std per channel, inside the model so attacks and Jacobians work in pixel space.

    Buffers, not parameters: parameter counts stay those of the papers.
    """

    def __init__(self, mean: Sequence[float] | None, std: Sequence[float] | None, channels: int, dims: int) -> None:
        super().__init__()
        mean = [0.0] * channels if mean is None else list(mean)
        std = [1.0] * channels if std is None else list(std)
        if len(mean) != channels or len(std) != channels:
            raise ValueError(f"input_mean/input_std need {channels} entries, got {len(mean)} and {len(std)}")
        if min(std) <= 0:
            raise ValueError("input_std entries must be positive")
        shape = (channels,) + (1,) * dims
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(shape))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def conv(dims: int, c_in: int, c_out: int, kernel: int, stride: int = 1, bias: bool = False) -> nn.Module:
    cls = nn.Conv1d if dims == 1 else nn.Conv2d
    return cls(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=bias)


def norm(kind: str, dims: int, channels: int) -> nn.Module:
    """Batch norm over channels, or nothing. (`layer` is for vector inputs, see the MLP family.)"""
    if kind == "none":
        return nn.Identity()
    if kind == "batch":
        return (nn.BatchNorm1d if dims <= 1 else nn.BatchNorm2d)(channels)
    if kind == "layer":
        return nn.LayerNorm(channels)
    raise ValueError(f"unknown norm {kind!r}")


class PadShortcut(nn.Module):
    """He et al.'s option A: subsample by the stride and zero-pad the new channels. No parameters."""

    def __init__(self, c_in: int, c_out: int, stride: int, dims: int) -> None:
        super().__init__()
        if c_out < c_in:
            raise ValueError("option A cannot reduce channels; use shortcut B")
        self.extra, self.stride, self.dims = c_out - c_in, stride, dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, ::self.stride] if self.dims == 1 else x[:, :, ::self.stride, ::self.stride]
        if self.extra:
            x = nn.functional.pad(x, (0, 0) * self.dims + (0, self.extra))
        return x


def shortcut(option: str, c_in: int, c_out: int, stride: int, dims: int, norm_kind: str) -> nn.Module:
    """The identity where shapes match; otherwise option A (zero-pad) or B (1x1 projection + norm)."""
    if c_in == c_out and stride == 1:
        return nn.Identity()
    if option == "A":
        return PadShortcut(c_in, c_out, stride, dims)
    return nn.Sequential(conv(dims, c_in, c_out, 1, stride, bias=norm_kind == "none"), norm(norm_kind, dims, c_out))


class ResidualScale(nn.Module):
    """Multiplies a branch by h: a fixed constant (a buffer) or a learnable scalar (SkipInit/ReZero when h=0)."""

    def __init__(self, h: float, learnable: bool) -> None:
        super().__init__()
        self.learnable = learnable
        if learnable:
            self.h = nn.Parameter(torch.tensor(float(h)))
        else:
            self.register_buffer("h", torch.tensor(float(h)), persistent=False)
        self._is_one = not learnable and float(h) == 1.0

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return f if self._is_one else self.h * f

    def extra_repr(self) -> str:
        return f"h={float(self.h):g}, learnable={self.learnable}"


def init_weights(module: nn.Module) -> None:
    """He (MSRA) init for convolutions and linear layers, as He et al. 2015/2016; norms start at (1, 0)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.kaiming_uniform_(m.weight, a=5 ** 0.5)  # torch's default, stated for clarity
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def zero_last(branch: nn.Sequential) -> None:
    """Zero-init the last norm of a branch (its last conv/linear when the branch has no norm), so the branch
    outputs 0 at initialization and the block starts as its shortcut (Goyal et al. 2017; SkipInit)."""
    norms = [m for m in branch.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm))]
    if norms:
        nn.init.zeros_(norms[-1].weight)
        return
    layers = [m for m in branch.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))]
    nn.init.zeros_(layers[-1].weight)
    if layers[-1].bias is not None:
        nn.init.zeros_(layers[-1].bias)
