"""The RevNet family (Gomez et al. 2017, "The Reversible Residual Network", Table 1) in the CIFAR skeleton: a 3x3
stem conv + norm, three stages of coupling blocks (models/parts/reversible.py), batch norm + ReLU + global pool +
linear head.

Layout (channels are C = |x1| + |x2|; F and G each see C/2, as in the paper and its public code):
    revnet38   basic      3-3-3 blocks, stage channels 32-64-112, stem 32   (12n+2 = 38 weighted layers)
    revnet110  basic      9-9-9 blocks, stage channels 32-64-128, stem 32   (12n+2 = 110)
    revnet164  bottleneck 9-9-9 blocks, stage channels 128-256-512, stem 32 (18n+2 = 164; inner width C/8)
F and G are pre-activation branches (norm-act-conv-norm-act-conv, or the 1x1-3x3-1x1 bottleneck). The first block
of a stage that changes the resolution or the width is a downsampling coupling block: F's first conv has stride 2
and the shortcut of each half subsamples and zero-pads (`downsample="pad"`), or, in the bottleneck RevNet-164,
projects with a 1x1 conv of its own per half (`"project"`), as the authors' code does (renmengye/revnet-public,
`_possible_bottleneck_downsample`). It is not invertible, so it stores its activations, as RevNet does; the blocks
between them form runs that store none (`ReversibleRun`).

Parameters on CIFAR-10 (10 classes): revnet38 464,922, revnet110 1,729,226, revnet164 1,748,810, against 464,890,
1,729,194 and 1,748,778 counted from the authors' code (Gomez et al.'s Table 1: 0.46M, 1.73M, 1.75M). The 32 left
over in each: the authors' stem is conv-norm-ReLU and the first block's F starts at its conv, while here the stem is
conv-norm and that F keeps its norm-ReLU (a 16-channel batch norm: 32 parameters). Without the projections RevNet-164
would have 1,664,842 (-4.8%).

Per-block gradients: the memory-saving backward hides the intermediate tensors from ordinary hooks, so the net runs
its blocks one by one with ordinary autograd whenever a probe needs them: in `block_outputs` (always), in
`forward_features` with `skip` or `gate` given, with `net.reversible = False`, with grad mode off, and under
functorch transforms. Both paths compute the same values; their gradients agree to float rounding.
The residual stream x1, x2 between blocks is carried in float64 by default (`stream`), while F and G compute in
float32 (or bf16 under autocast): each block's y = x + F adds a float32 number to a float64 one, and the inverse
x = y - F subtracts the bit-identical F again (F sees the same float32 input, since the reconstructed float64 input
rounds to the same float32 value), so reconstruction is exact to float64 rounding and errors cannot compound. With a
float32 stream each block instead leaves eps * |y| of rounding that the next inverses amplify (their Lipschitz
constants multiply): 1e-4 to 1e-3 relative after 100 blocks at init, measured. The cost is one cast per branch and a
float64 tensor for the one output each run saves (MacKay et al. 2018 make the same point with fixed-point arithmetic).
The stem casts the stream up, the head casts it back to the weights' dtype.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Literal, Mapping

import torch
from torch import nn

from ...config import option
from ...errors import ConfigError
from ..blocks import Block
from ..parts.layers import ACTIVATIONS, Normalize, PadShortcut, conv, init_weights, norm
from ..net import Net
from ..parts.reversible import CouplingBlock, run_reversible
from ..registry import register_presets

BOTTLENECK = 4  # a bottleneck branch's inner width is its output width / 4 (He et al. 2016)


@dataclass(frozen=True)
class RevNetConfig:
    depth: int = option(38, "weighted layers: 12n+2 with basic F/G (two 3x3 convs each), 18n+2 with bottlenecks; "
                            "n coupling blocks per stage")
    block: Literal["basic", "bottleneck"] = option("basic", "F and G: basic (two 3x3 convs) or 1x1-3x3-1x1")
    widths: tuple[int, ...] = option((32, 64, 112), "channels |x1| + |x2| of each stage; F and G see half")
    stem_width: int = option(32, "channels of the stem conv's output")
    width_mult: float = option(1.0, "multiplies every width (halves are rounded to whole channels)")
    stream: Literal["float64", "float32"] = option("float64", "dtype of the residual stream x1, x2 between coupling "
                                                    "blocks (F and G compute in the weights' dtype): float64 "
                                                    "makes the inverse exact to float64 rounding")
    reversible: bool = option(True, "memory-saving backward (reconstruct, recompute) for runs of invertible "
                                    "blocks; false: ordinary backprop through the same weights")
    downsample: Literal["pad", "project"] = option("pad", "shortcut of a block that changes the resolution or the "
                                                         "width: subsample and zero-pad each half, or a 1x1 "
                                                         "projection conv per half (the bottleneck RevNet-164)")
    norm: Literal["batch", "none"] = option("batch", "normalization layer in F and G")
    activation: Literal["relu", "gelu", "tanh", "identity"] = option("relu", "nonlinearity")
    dims: Literal[1, 2] = option(2, "2 for images (N, C, H, W), 1 for sequences (N, C, L)")
    in_channels: int = option(3, "input channels (from the data)")
    num_classes: int = option(10, "output classes (from the data)")
    input_size: tuple[int, ...] = option((32, 32), "spatial input size (from the data); used for FLOPs")
    input_mean: tuple[float, ...] | None = option(None, "per-channel input mean for the normalization layer")
    input_std: tuple[float, ...] | None = option(None, "per-channel input std for the normalization layer")

    def __post_init__(self) -> None:
        step = len(self.widths) * (4 if self.block == "basic" else 6)
        if self.depth < step + 2 or (self.depth - 2) % step:
            lower = max(step + 2, (self.depth - 2) // step * step + 2)
            raise ConfigError(f"depth {self.depth} breaks the {step}n+2 rule for {self.block} coupling blocks with "
                              f"{len(self.widths)} stages; nearest valid: {lower}, {lower + step}")
        if len(self.input_size) != self.dims:
            raise ConfigError(f"input_size {self.input_size} needs {self.dims} entries for dims={self.dims}")
        if not self.widths or min(self.widths) < 2 or self.stem_width < 2 or self.width_mult <= 0:
            raise ConfigError("widths and stem_width must be >= 2 (two halves) and width_mult > 0")

    @property
    def blocks_per_stage(self) -> int:
        return (self.depth - 2) // (len(self.widths) * (4 if self.block == "basic" else 6))

    def halves(self) -> list[int]:
        """Channels of one half (x1 or x2) per stage, after the width multiplier."""
        return [max(1, round(w * self.width_mult / 2)) for w in self.widths]


class _Stream(nn.Module):
    """Casts the stem's output up to the stream dtype (see the module docstring): at least float32 under autocast,
    float64 when asked. A net converted with .double() keeps its float64 stream either way."""

    def __init__(self, stream: str) -> None:
        super().__init__()
        self.wide = stream == "float64"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.wide:
            return x.double()
        return x.float() if x.dtype in (torch.bfloat16, torch.float16) else x


class _Unstream(nn.Module):
    """Casts the stream back to the dtype of the weights (tracked by an empty buffer that .to()/.double() move)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("like", torch.empty(0), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.like.dtype)


def _branch(cfg: RevNetConfig, c_in: int, c_out: int, stride: int) -> nn.Sequential:
    """F or G on one half: (N, c_in, *s) -> (N, c_out, *s / stride), pre-activation."""
    d, act, bias = cfg.dims, ACTIVATIONS[cfg.activation], cfg.norm == "none"
    if cfg.block == "basic":
        convs = [(c_in, c_out, 3, stride), (c_out, c_out, 3, 1)]
    else:
        w = max(1, c_out // BOTTLENECK)
        convs = [(c_in, w, 1, 1), (w, w, 3, stride), (w, c_out, 1, 1)]
    layers: list[nn.Module] = []
    for a, b, k, s in convs:
        layers += [norm(cfg.norm, d, a), act(), conv(d, a, b, k, s, bias)]
    return nn.Sequential(*layers)


class RevNet(Net):
    """A `Net` whose runs of invertible coupling blocks train without storing activations (`reversible`).

    Shapes as `Net`: x (N, C, *spatial) -> logits (N, num_classes). Set `net.reversible = False` for ordinary
    backprop through the same weights (the memory baseline, and exact per-block gradients for hooks).
    """

    def __init__(self, *args, reversible: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.reversible = reversible
        self._runs: list[list[Block]] = []  # consecutive invertible blocks share a run; others are runs of one
        for _, b in self.blocks():
            inv = isinstance(b, CouplingBlock) and b.invertible
            if inv and self._runs and getattr(self._runs[-1][-1], "invertible", False):
                self._runs[-1].append(b)
            else:
                self._runs.append([b])

    def memory_saving(self, x: torch.Tensor) -> bool:
        """Whether forward_features(x) (no skip, no gate) takes the reconstructing backward."""
        functorch = torch._C._functorch.peek_interpreter_stack() is not None  # inside jacrev, vmap, ...
        return self.reversible and torch.is_grad_enabled() and not functorch

    def forward_features(self, x: torch.Tensor, skip: Iterable[str] = frozenset(),
                         gate: Mapping[str, str] | None = None) -> torch.Tensor:
        skip = frozenset(skip)
        if skip or gate or not self.memory_saving(x):
            return super().forward_features(x, skip, gate)
        x = self.stem(self.normalize(x))
        for run in self._runs:
            b = run[0]
            x = run_reversible(x, run) if isinstance(b, CouplingBlock) and b.invertible else b(x)
        return x


def build_revnet(cfg: RevNetConfig, name: str = "") -> RevNet:
    d, act = cfg.dims, ACTIVATIONS[cfg.activation]
    stem_half = max(1, round(cfg.stem_width * cfg.width_mult / 2))
    # conv-norm stem (MemCNN's RevNet normalizes its stem too): the stream starts at unit scale, which at init cuts
    # the fp32 reconstruction error after 100 blocks ~10x against a bare conv (1.5e-4 vs 1.2e-2 measured)
    stem = nn.Sequential(conv(d, cfg.in_channels, 2 * stem_half, 3, bias=cfg.norm == "none"),
                         norm(cfg.norm, d, 2 * stem_half), _Stream(cfg.stream))
    stages, c = [], stem_half
    for i, h in enumerate(cfg.halves()):
        blocks = []
        for j in range(cfg.blocks_per_stage):
            stride = 2 if (i > 0 and j == 0) else 1
            sc = sc2 = None
            if stride > 1 or c != h:
                if cfg.downsample == "project":
                    sc, sc2 = (conv(d, c, h, 1, stride, bias=cfg.norm == "none") for _ in range(2))
                else:
                    sc = PadShortcut(c, h, stride, d)
            blocks.append(CouplingBlock(_branch(cfg, c, h, stride), _branch(cfg, h, h, 1), sc, sc2))
            c = h
        stages.append(blocks)
    pool = nn.AdaptiveAvgPool1d(1) if d == 1 else nn.AdaptiveAvgPool2d(1)
    head = nn.Sequential(_Unstream(), norm(cfg.norm, d, 2 * c), act(), pool, nn.Flatten(), nn.Linear(2 * c, cfg.num_classes))
    net = RevNet(cfg, Normalize(cfg.input_mean, cfg.input_std, cfg.in_channels, d), stem, stages, head, name,
                 reversible=cfg.reversible)
    init_weights(net)
    return net


def _presets() -> dict[str, tuple[RevNetConfig, str]]:
    return {
        "revnet38": (RevNetConfig(depth=38, widths=(32, 64, 112)), "RevNet-38 (Gomez et al. 2017): 3-3-3 basic "
                                                                    "coupling blocks, 32-64-112 channels"),
        "revnet110": (RevNetConfig(depth=110, widths=(32, 64, 128)), "RevNet-110: 9-9-9 basic, 32-64-128"),
        "revnet164": (RevNetConfig(depth=164, block="bottleneck", widths=(128, 256, 512), downsample="project"),
                      "RevNet-164: 9-9-9 bottleneck coupling blocks, 128-256-512 channels, projection shortcuts"),
        "revnet-tiny": (RevNetConfig(depth=26, widths=(8, 16, 16), stem_width=8),
                        "a tiny RevNet for tests: 2-2-2 basic coupling blocks, 8-16-16 channels"),
    }


PRESETS = _presets()

register_presets(PRESETS, build_revnet)
