"""The CIFAR ResNet family of He et al. 2016 ("Deep Residual Learning", Sec. 4.2) and its pre-activation form
("Identity Mappings", 2016), with the plain twin (`skip="none"`: the same layers without shortcuts) and a 1D variant
for sequences (`dims=1`, e.g. MNIST-1D).

Depth counts weighted layers: 6n+2 with basic blocks (two 3x3 convs), 9n+2 with bottlenecks (1x1, 3x3, 1x1 with
4x expansion); n blocks per stage, one stage per width, the first block of each later stage halves the resolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import nn

from ...config import option
from ...errors import ConfigError
from ..blocks import Block, PlainBlock, residual_block
from ..parts.fixup import initialize
from ..parts.integrators import INTEGRATOR_HELP, SOLVER_HELP, IntegratorName, SolverName
from ..parts.layers import ACTIVATIONS, Normalize, ResidualScale, conv, norm, shortcut
from ..net import Net
from ..registry import register_presets

EXPANSION = 4  # bottleneck output width / inner width (He et al. 2016, Sec. 4.1)


@dataclass(frozen=True)
class ResNetConfig:
    depth: int = option(20, "weighted layers: 6n+2 for basic blocks, 9n+2 for bottlenecks")
    block: Literal["basic", "bottleneck"] = option("basic", "basic (two 3x3 convs) or bottleneck (1x1-3x3-1x1)")
    preact: bool = option(False, "pre-activation blocks (He et al. 'Identity Mappings') instead of the original")
    skip: Literal["identity", "none"] = option("identity", "identity shortcuts, or none for the plain twin")
    shortcut: Literal["A", "B"] = option("A", "on a shape change: A zero-pads (no parameters), B projects (1x1)")
    widths: tuple[int, ...] = option((16, 32, 64), "channels of each stage (before the width multiplier)")
    width_mult: float = option(1.0, "multiplies every width")
    h: float = option(1.0, "residual scale: a block computes shortcut(x) + h * branch(x)")
    h_learnable: bool = option(False, "make h a learnable scalar per block (SkipInit/ReZero with h=0)")
    zero_init: bool = option(False, "zero-init the last norm of each branch so every block starts as its shortcut")
    integrator: IntegratorName = option("euler", INTEGRATOR_HELP)
    solver: SolverName = option("fixed-point", SOLVER_HELP)
    solver_tol: float = option(1e-6, "implicit-euler: relative residual at which a solve has converged")
    solver_max_iter: int = option(100, "implicit-euler: iterations before a solve is counted as unconverged")
    norm: Literal["batch", "none"] = option("batch", "normalization layer")
    init: Literal["he", "fixup"] = option("he", "weight init: He et al.'s, or Fixup (Zhang et al. 2019; needs "
                                                "norm='none' and residual blocks)")
    activation: Literal["relu", "gelu", "tanh", "identity"] = option("relu", "nonlinearity")
    dims: Literal[1, 2] = option(2, "2 for images (N, C, H, W), 1 for sequences (N, C, L)")
    in_channels: int = option(3, "input channels (from the data)")
    num_classes: int = option(10, "output classes (from the data)")
    input_size: tuple[int, ...] = option((32, 32), "spatial input size (from the data); used for FLOPs")
    input_mean: tuple[float, ...] | None = option(None, "per-channel input mean for the normalization layer")
    input_std: tuple[float, ...] | None = option(None, "per-channel input std for the normalization layer")

    def __post_init__(self) -> None:
        step = len(self.widths) * (2 if self.block == "basic" else 3)
        if self.depth < step + 2 or (self.depth - 2) % step:
            rule = f"{step}n+2"
            lower = max(step + 2, (self.depth - 2) // step * step + 2)
            raise ConfigError(f"depth {self.depth} breaks the {rule} rule for {self.block} blocks with "
                              f"{len(self.widths)} stages; nearest valid: {lower}, {lower + step}")
        if len(self.input_size) != self.dims:
            raise ConfigError(f"input_size {self.input_size} needs {self.dims} entries for dims={self.dims}")
        if not self.widths or min(self.widths) < 1 or self.width_mult <= 0:
            raise ConfigError("widths must be positive and width_mult > 0")
        if self.integrator != "euler" and (not self.preact or self.skip == "none"):
            raise ConfigError(f"integrator {self.integrator!r} needs pre-activation residual blocks "
                              "(preact=true, skip=identity): the step is x' = x + h F, with nothing after the sum")

    @property
    def blocks_per_stage(self) -> int:
        return (self.depth - 2) // (len(self.widths) * (2 if self.block == "basic" else 3))


def _branch(cfg: ResNetConfig, c_in: int, width: int, c_out: int, stride: int) -> nn.Sequential:
    """The residual branch F. Original: conv-norm-act-conv-norm. Pre-activation: norm-act-conv-norm-act-conv."""
    d, act, nk = cfg.dims, ACTIVATIONS[cfg.activation], cfg.norm
    bias = nk == "none"
    if cfg.block == "basic":
        convs = [(c_in, c_out, 3, stride), (c_out, c_out, 3, 1)]
    else:
        convs = [(c_in, width, 1, 1), (width, width, 3, stride), (width, c_out, 1, 1)]
    layers: list[nn.Module] = []
    for i, (a, b, k, s) in enumerate(convs):
        last = i == len(convs) - 1
        if cfg.preact:
            layers += [norm(nk, d, a), act(), conv(d, a, b, k, s, bias)]
        else:
            layers += [conv(d, a, b, k, s, bias), norm(nk, d, b)] + ([] if last else [act()])
    return nn.Sequential(*layers)


def _block(cfg: ResNetConfig, c_in: int, width: int, c_out: int, stride: int) -> Block:
    branch = _branch(cfg, c_in, width, c_out, stride)
    post = None if cfg.preact else ACTIVATIONS[cfg.activation]()
    if cfg.skip == "none":
        return PlainBlock(branch, post, shape_preserving=(c_in == c_out and stride == 1))
    sc = shortcut(cfg.shortcut, c_in, c_out, stride, cfg.dims, cfg.norm)
    return residual_block(branch, sc, ResidualScale(cfg.h, cfg.h_learnable), cfg, post)


def build_resnet(cfg: ResNetConfig, name: str = "") -> Net:
    d, nk = cfg.dims, cfg.norm
    act = ACTIVATIONS[cfg.activation]
    widths = [max(1, round(w * cfg.width_mult)) for w in cfg.widths]
    stem_width = widths[0]
    stem_layers: list[nn.Module] = [conv(d, cfg.in_channels, stem_width, 3, bias=nk == "none")]
    if not cfg.preact:  # pre-activation blocks normalize their own input
        stem_layers += [norm(nk, d, stem_width), act()]
    stages, c_in = [], stem_width
    for i, w in enumerate(widths):
        c_out = w if cfg.block == "basic" else w * EXPANSION
        blocks = []
        for j in range(cfg.blocks_per_stage):
            stride = 2 if (i > 0 and j == 0) else 1
            blocks.append(_block(cfg, c_in, w, c_out, stride))
            c_in = c_out
        stages.append(blocks)
    pool = nn.AdaptiveAvgPool1d(1) if d == 1 else nn.AdaptiveAvgPool2d(1)
    head_pre = [norm(nk, d, c_in), act()] if cfg.preact else []
    head = nn.Sequential(*head_pre, pool, nn.Flatten(), nn.Linear(c_in, cfg.num_classes))
    net = Net(cfg, Normalize(cfg.input_mean, cfg.input_std, cfg.in_channels, d), nn.Sequential(*stem_layers),
              stages, head, name)
    initialize(net, cfg.zero_init, cfg.init)
    return net


def _presets() -> dict[str, tuple[ResNetConfig, str]]:
    p: dict[str, tuple[ResNetConfig, str]] = {}
    for depth in (8, 20, 32, 44, 56, 110, 1202):
        p[f"resnet{depth}"] = (ResNetConfig(depth=depth), f"He et al. CIFAR ResNet-{depth}, option A")
        p[f"plain{depth}"] = (ResNetConfig(depth=depth, skip="none"), f"plain twin of resnet{depth} (no shortcuts)")
    for depth in (20, 56, 110):
        p[f"preresnet{depth}"] = (ResNetConfig(depth=depth, preact=True), f"pre-activation ResNet-{depth}")
        p[f"plain-preresnet{depth}"] = (ResNetConfig(depth=depth, preact=True, skip="none"),
                                        f"plain twin of preresnet{depth}")
    for depth in (164, 1001):
        p[f"preresnet{depth}"] = (ResNetConfig(depth=depth, block="bottleneck", preact=True, shortcut="B"),
                                  f"pre-activation bottleneck ResNet-{depth} (He et al. 'Identity Mappings')")
    seq = dict(dims=1, in_channels=1, input_size=(40,))
    for depth in (8, 20, 56):
        p[f"resnet1d{depth}"] = (ResNetConfig(depth=depth, **seq), f"1D ResNet-{depth} for sequences (MNIST-1D)")
        p[f"plain1d{depth}"] = (ResNetConfig(depth=depth, skip="none", **seq), f"plain twin of resnet1d{depth}")
    return p


PRESETS = _presets()

register_presets(PRESETS, build_resnet)
