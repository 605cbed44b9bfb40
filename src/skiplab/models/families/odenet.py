"""The ODE-Net of Chen et al. 2018 ("Neural Ordinary Differential Equations", Sec. 3 and App. E): a downsampling
stem, ONE continuous block z(T) = z(0) + int_0^T f(t, z) dt solved by torchdiffeq, and a head. With a fixed-step
method and plain backprop through the solver's steps the same module is the RK-Net.

Every solve goes through torchdiffeq's `odeint` / `odeint_adjoint`; no solver is written here. The dynamics count
their evaluations (NFE) so a claim can read forward and backward NFE apart: the block records how many evaluations
each forward solve made, and every other evaluation happened in a backward pass (the adjoint's reverse solve).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torchdiffeq import odeint, odeint_adjoint
from torchdiffeq._impl.odeint import SOLVERS  # the one dict of method names torchdiffeq dispatches on
from torchdiffeq._impl.solvers import FixedGridODESolver

from ...config import option
from ...errors import ConfigError
from ..blocks import StepBlock
from ..parts.layers import Normalize
from ..net import Net
from ..registry import register_presets

# torchdiffeq's own split of its solvers; scipy's is left out (it cannot backprop and ignores torch dtypes).
FIXED = tuple(m for m, cls in SOLVERS.items() if issubclass(cls, FixedGridODESolver))
METHODS = tuple(m for m in SOLVERS if m != "scipy_solver")


@dataclass(frozen=True)
class ODENetConfig:
    width: int = option(64, "channels of the stem, the ODE state and the head (Chen et al.: 64)")
    downsample: int = option(2, "stride-2 convs in the stem (Chen et al.: 2, so 28x28 MNIST -> 7x7)")
    method: str = option("dopri5", "torchdiffeq method: dopri5 (adaptive) or a fixed-grid one (rk4, euler, ...)")
    steps: int = option(0, "fixed-grid methods: steps over [0, T] (step_size = T / steps); 0 for adaptive ones")
    rtol: float = option(1e-3, "adaptive methods: relative tolerance (Chen et al.'s MNIST script: 1e-3)")
    atol: float = option(1e-3, "adaptive methods: absolute tolerance")
    T: float = option(1.0, "integration time: the block maps z(0) to z(T)")
    adjoint: bool = option(True, "backward by torchdiffeq's adjoint solve (memory constant in steps) instead "
                                 "of backprop through the solver's operations (the RK-Net)")
    seminorm: bool = option(True, "adjoint: step-size control on the state's adjoint only, not on the parameter "
                                  "gradients it accumulates (Kidger et al. 2021; torchdiffeq's advice): fewer "
                                  "backward NFE for the same state accuracy")
    activation: Literal["relu", "tanh", "softplus"] = option("relu", "nonlinearity of the dynamics (Chen et al.: "
                                                                     "relu; a smooth one makes f differentiable)")
    groups: int = option(32, "group-norm groups (at most the width; Chen et al.: min(32, width))")
    dims: Literal[1, 2] = option(2, "2 for images (N, C, H, W), 1 for sequences (N, C, L)")
    in_channels: int = option(1, "input channels (from the data)")
    num_classes: int = option(10, "output classes (from the data)")
    input_size: tuple[int, ...] = option((28, 28), "spatial input size (from the data)")
    input_mean: tuple[float, ...] | None = option(None, "per-channel input mean for the normalization layer")
    input_std: tuple[float, ...] | None = option(None, "per-channel input std for the normalization layer")

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"method {self.method!r} is not a torchdiffeq solver; valid: {', '.join(METHODS)}")
        fixed = self.method in FIXED
        if fixed != (self.steps > 0):
            raise ConfigError(f"method {self.method} needs steps {'>= 1' if fixed else '= 0 (it is adaptive)'}, "
                              f"got {self.steps}")
        if len(self.input_size) != self.dims:
            raise ConfigError(f"input_size {self.input_size} needs {self.dims} entries for dims={self.dims}")
        if self.width < 1 or self.downsample < 0 or self.T <= 0 or self.rtol <= 0 or self.atol <= 0:
            raise ConfigError("width >= 1, downsample >= 0, T > 0 and positive tolerances are required")

    @property
    def solver_options(self) -> dict:
        return dict(step_size=self.T / self.steps) if self.steps else {}


def _conv(dims: int, c_in: int, c_out: int, k: int, stride: int = 1, padding: int = 1) -> nn.Module:
    return (nn.Conv1d if dims == 1 else nn.Conv2d)(c_in, c_out, k, stride, padding)


def _gn(groups: int, width: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(groups, width), width)


class ConcatConv(nn.Module):
    """A conv that sees time as an extra constant input channel (Chen et al.'s ConcatConv2d).
    Shapes: t scalar, x (N, C, *S) -> (N, C_out, *S)."""

    def __init__(self, dims: int, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = _conv(dims, c_in + 1, c_out, 3)

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        tt = torch.ones_like(x[:, :1]) * t
        return self.conv(torch.cat([tt, x], 1))


class ODEFunc(nn.Module):
    """f(t, z) = norm(conv_t(act(norm(conv_t(act(norm(z))))))), Chen et al.'s ODEfunc (act = relu). Counts its
    calls. Shapes: t scalar, z (N, C, *S) -> (N, C, *S)."""

    def __init__(self, dims: int, width: int, groups: int, activation: str = "relu") -> None:
        super().__init__()
        self.act = {"relu": torch.relu, "tanh": torch.tanh, "softplus": nn.functional.softplus}[activation]
        self.norm1, self.norm2, self.norm3 = (_gn(groups, width) for _ in range(3))
        self.conv1, self.conv2 = ConcatConv(dims, width, width), ConcatConv(dims, width, width)
        self.nfe = 0  # every evaluation, forward solves and backward (adjoint) solves alike

    def forward(self, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        self.nfe += 1
        h = self.conv1(t, self.act(self.norm1(z)))
        return self.norm3(self.conv2(t, self.act(self.norm2(h))))


class ODEBlock(StepBlock):
    """z(0) -> z(T) by torchdiffeq. As a residual block: out = x + increment(x), increment(x) = phi_T(x) - x.
    Shapes: x (N, C, *S) -> (N, C, *S).

    NFE bookkeeping: `nfe_forward` sums the evaluations of forward solves, `solves` counts them (training mode
    only, so evaluation passes do not blur the training curve); `nfe_backward` is every evaluation that no forward
    solve made, i.e. those of the adjoint's reverse solves (0 when backprop runs through the steps)."""

    def __init__(self, func: ODEFunc, cfg: ODENetConfig) -> None:
        super().__init__()
        self.func, self.cfg = func, cfg
        self.register_buffer("t", torch.tensor([0.0, cfg.T]), persistent=False)
        self.reset_nfe()

    def reset_nfe(self) -> None:
        self.solves = self.nfe_forward = self._forward_all = 0
        self._base = self.func.nfe

    @property
    def nfe_backward(self) -> int:
        return self.func.nfe - self._base - self._forward_all

    def flow(self, x: torch.Tensor) -> torch.Tensor:
        """phi_T(x): the solution at time T."""
        c = self.cfg
        solve = odeint_adjoint if c.adjoint else odeint
        kw = {}
        if c.adjoint:  # adjoint_options must repeat the step size: passing them stops torchdiffeq copying options
            norm = dict(norm="seminorm") if c.seminorm else {}
            kw = dict(adjoint_params=tuple(self.func.parameters()), adjoint_options={**c.solver_options, **norm})
        before = self.func.nfe
        z = solve(self.func, x, self.t.to(x.dtype), rtol=c.rtol, atol=c.atol, method=c.method,
                  options=c.solver_options, **kw)[-1]
        n = self.func.nfe - before
        self._forward_all += n
        if self.training:
            self.solves, self.nfe_forward = self.solves + 1, self.nfe_forward + n
        return z

    def step(self, x: torch.Tensor) -> torch.Tensor:
        return self.flow(x)


def build_odenet(cfg: ODENetConfig, name: str = "") -> Net:
    """normalize -> stem (conv, then per downsampling: norm, relu, stride-2 conv) -> ODE block -> norm, relu,
    global average pool, linear (Chen et al.'s MNIST ODE-Net with width 64 has ~0.21M parameters)."""
    d, w = cfg.dims, cfg.width
    stem: list[nn.Module] = [_conv(d, cfg.in_channels, w, 3)]
    for _ in range(cfg.downsample):
        stem += [_gn(cfg.groups, w), nn.ReLU(), _conv(d, w, w, 4, 2, 1)]
    pool = nn.AdaptiveAvgPool1d(1) if d == 1 else nn.AdaptiveAvgPool2d(1)
    head = nn.Sequential(_gn(cfg.groups, w), nn.ReLU(), pool, nn.Flatten(), nn.Linear(w, cfg.num_classes))
    block = ODEBlock(ODEFunc(d, w, cfg.groups, cfg.activation), cfg)
    return Net(cfg, Normalize(cfg.input_mean, cfg.input_std, cfg.in_channels, d), nn.Sequential(*stem), [[block]],
               head, name)


def ode_blocks(net: nn.Module) -> list[ODEBlock]:
    return [m for m in net.modules() if isinstance(m, ODEBlock)]


def _presets() -> dict[str, tuple[ODENetConfig, str]]:
    # The RK-Net: Chen et al. backprop through a Runge-Kutta integrator; 4 RK4 steps here (16 evaluations).
    rk = dict(method="rk4", steps=4, adjoint=False)
    seq = dict(dims=1, input_size=(40,))
    return {
        "odenet": (ODENetConfig(), "Chen et al.'s ODE-Net: dopri5 with the adjoint, width 64 (~0.21M params)"),
        "rknet": (ODENetConfig(**rk), "Chen et al.'s RK-Net: the ODE-Net by 4 RK4 steps, backprop through them"),
        "odenet1d": (ODENetConfig(**seq), "1D ODE-Net for sequences (MNIST-1D), dopri5 with the adjoint"),
        "rknet1d": (ODENetConfig(**rk, **seq), "1D RK-Net for sequences (MNIST-1D)"),
    }


PRESETS = _presets()

register_presets(PRESETS, build_odenet)
