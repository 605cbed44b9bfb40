"""Reversible residual blocks (Gomez et al. 2017, "The Reversible Residual Network") and the autograd function
that trains a run of them without storing their activations.

A coupling block splits x (N, C, *s) along channels into x1, x2 (N, C/2, *s) and computes
    y1 = x1 + F(x2),   y2 = x2 + G(y1)
so its input is recovered from its output:  x2 = y2 - G(y1),  x1 = y1 - F(x2).
`ReversibleRun` runs consecutive invertible coupling blocks under no_grad in the forward pass and saves only the
run's output; its backward walks the blocks from the last, reconstructing each block's input from its output,
recomputing F and G there with autograd on, and backpropagating through that one block (Gomez et al.'s Alg. 1:
F and G are evaluated once more each, the backward's only extra compute). Activation memory is then that of one
block, whatever the depth. Not supported: double backward, and functorch transforms (the net falls back to
ordinary autograd under them, see RevNet.forward_features).
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

import networkx as nx
import torch
from torch import nn

from ..blocks import GATES, Block, NotLesionable, ResidualBlock

_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


@contextlib.contextmanager
def kept_running_stats(module: nn.Module) -> Iterator[None]:
    """Batch-norm layers of `module` normalize with batch statistics but leave their running statistics (and batch
    counts) alone inside the block, so a recomputation in the backward pass (or an inversion) does not update them a
    second time: they move exactly once per step. Train mode only matters here; turning off track_running_stats is
    how BatchNorm itself skips the update (an attribute flip per layer instead of cloning its buffers)."""
    norms = [m for m in module.modules() if isinstance(m, _NORMS) and m.training and m.track_running_stats]
    for m in norms:
        m.track_running_stats = False
    try:
        yield
    finally:
        for m in norms:
            m.track_running_stats = True


def _branch(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """m(x) with x cast to m's parameter dtype. The residual stream may be wider than the weights (float64 around
    float32 F and G, see RevNetConfig.stream); the branch computes at its own precision (or autocast's), and its
    output is promoted back when added to the stream."""
    p = next(m.parameters(), None)
    return m(x if p is None or x.dtype == p.dtype else x.to(p.dtype))


def _skip(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A shortcut m(x) that keeps the stream's dtype: a parameter-free one (identity, zero-pad) as it is, a projection
    computed like a branch (`_branch`) and cast back, so a float64 stream stays float64 past it."""
    return m(x) if next(m.parameters(), None) is None else _branch(m, x).to(x.dtype)


class CouplingBlock(Block):
    """Additive coupling, kind "coupling". Shapes: x (N, C_in, *s) -> y (N, C_out, *s / stride); F, G act on halves.

    `shortcut` maps each half to the output's shape: the identity for an invertible block, or RevNet's
    downsampling (subsample by the stride, zero-pad the new channels; or a 1x1 projection, in which case each half
    has its own: `shortcut2`, for x2, defaults to `shortcut`). A block with a non-identity shortcut is not
    invertible and is run with ordinary autograd, storing its activations, as in RevNet. Deleting the block
    (F = G = 0) leaves cat(shortcut(x1), shortcut2(x2)); gates work as StepBlock's: "skip" keeps only the
    shortcut's gradient, "branch" all the rest, and the value stays bit-identical.
    """

    kind = "coupling"

    def __init__(self, f: nn.Module, g: nn.Module, shortcut: nn.Module | None = None,
                 shortcut2: nn.Module | None = None) -> None:
        super().__init__()
        self.f, self.g = f, g
        self.shortcut = shortcut if shortcut is not None else nn.Identity()
        if shortcut2 is not None and shortcut is None:
            raise ValueError("shortcut2 (x2's own shortcut) needs shortcut (x1's)")
        self.shortcut2 = shortcut2  # None: x2 shares `shortcut` (registered once, so state dicts are unchanged)

    def _shortcut2(self, x2: torch.Tensor) -> torch.Tensor:
        return _skip(self.shortcut if self.shortcut2 is None else self.shortcut2, x2)

    @property
    def invertible(self) -> bool:
        return isinstance(self.shortcut, nn.Identity)

    def couple(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(self.couple_halves(*x.chunk(2, dim=1)), dim=1)

    def couple_halves(self, x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x1, x2) -> (y1, y2), each (N, C/2, *s): a run passes halves between its blocks, so it splits and joins
        the stream once per run instead of once per block."""
        y1 = _skip(self.shortcut, x1) + _branch(self.f, x2)
        return y1, self._shortcut2(x2) + _branch(self.g, y1)

    def forward(self, x: torch.Tensor, gate: str | None = None) -> torch.Tensor:
        y = self.couple(x)
        if gate is None:
            return y
        if gate not in GATES:
            raise ValueError(f"gate must be one of {GATES}, got {gate!r}")
        s = self.lesion(x)
        # s - s.detach() is exactly 0 carrying the shortcut's gradient (see StepBlock)
        return y.detach() + (s - s.detach()) if gate == "skip" else y - (s - s.detach())

    def lesion(self, x: torch.Tensor) -> torch.Tensor:
        if self.invertible:
            return x
        x1, x2 = x.chunk(2, dim=1)
        return torch.cat([_skip(self.shortcut, x1), self._shortcut2(x2)], dim=1)

    def increment(self, x: torch.Tensor) -> torch.Tensor:
        return self.couple(x) - self.lesion(x)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """x from y = block(x): (N, C, *s) -> (N, C, *s). In train mode F and G use batch statistics, as in the
        forward pass, and the running statistics are left as they were."""
        if not self.invertible:
            raise NotLesionable("a downsampling coupling block is not invertible")
        y1, y2 = y.chunk(2, dim=1)
        with kept_running_stats(self):
            x2 = y2 - _branch(self.g, y1)
            x1 = y1 - _branch(self.f, x2)
        return torch.cat([x1, x2], dim=1)

    def backward_step(self, y1: torch.Tensor, y2: torch.Tensor, g1: torch.Tensor, g2: torch.Tensor,
                      params: Sequence[nn.Parameter]) -> tuple[torch.Tensor, ...]:
        """From the output halves y1, y2 and dL/dy1, dL/dy2: the reconstructed input halves x1, x2, dL/dx1, dL/dx2
        and dL/dp for `params` (in order; None where p is unused), as one tuple."""
        fp = [p for p in self.f.parameters() if p.requires_grad]
        gp = [p for p in self.g.parameters() if p.requires_grad]
        with kept_running_stats(self), torch.enable_grad():
            z1 = y1.detach().requires_grad_(True)
            gz = _branch(self.g, z1)
            x2 = (y2 - gz).detach().requires_grad_(True)
            fx = _branch(self.f, x2)
            x1 = (y1 - fx).detach()
            dz1, *dgp = torch.autograd.grad(gz, [z1, *gp], g2.to(gz.dtype), allow_unused=True)
            gz1 = g1 + dz1  # dL/dy1 through y1 itself and through G(y1)
            dx2, *dfp = torch.autograd.grad(fx, [x2, *fp], gz1.to(fx.dtype), allow_unused=True)
        grads = {id(p): d for p, d in zip(fp + gp, dfp + dgp)}
        return (x1, x2.detach(), gz1, g2 + dx2, *(grads.get(id(p)) for p in params))

    def add_to_graph(self, g: nx.DiGraph, name: str, src: str) -> str:
        return ResidualBlock.add_to_graph(self, g, name, src)  # x + increment: same topology as additive


class ReversibleRun(torch.autograd.Function):
    """y = blocks[-1](...blocks[0](x)) for invertible coupling blocks, saving only y for the backward pass.

    apply(x, blocks, *params): x (N, C, *s); `params` are the blocks' trainable parameters in block order (they are
    inputs so autograd hands them their gradients). Autocast state is recorded in forward and restored in backward.
    """

    @staticmethod
    def forward(ctx, x, blocks, *params):  # type: ignore[override]
        with torch.no_grad():
            h = x.chunk(2, dim=1)
            for b in blocks:
                h = b.couple_halves(*h)
            y = torch.cat(h, dim=1)
        ctx.blocks = blocks
        dev = y.device.type
        ctx.autocast = (dev, torch.is_autocast_enabled(dev), torch.get_autocast_dtype(dev))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):  # type: ignore[override]
        (y,) = ctx.saved_tensors
        dev, enabled, dtype = ctx.autocast
        (y1, y2), (g1, g2) = y.chunk(2, dim=1), gy.chunk(2, dim=1)
        per_block: list[tuple[torch.Tensor | None, ...]] = []
        with torch.autocast(dev, dtype=dtype, enabled=enabled):
            for b in reversed(ctx.blocks):
                ps = [p for p in b.parameters() if p.requires_grad]
                y1, y2, g1, g2, *gps = b.backward_step(y1, y2, g1, g2, ps)
                per_block.append(gps)
        flat = [g for gps in reversed(per_block) for g in gps]
        return (torch.cat([g1, g2], dim=1), None, *flat)


def _apply(x: torch.Tensor, blocks: Sequence[CouplingBlock]) -> torch.Tensor:
    params = [p for b in blocks for p in b.parameters() if p.requires_grad]
    return ReversibleRun.apply(x, tuple(blocks), *params)


def run_reversible(x: torch.Tensor, blocks: Sequence[CouplingBlock]) -> torch.Tensor:
    """ReversibleRun on x (N, C, *s). Under torch.compile the run is left to eager (its backward runs modules and
    autograd.grad); the rest of the net compiles. Decorating at import would import dynamo (seconds) for everyone."""
    if torch.compiler.is_compiling():
        return torch.compiler.disable(_apply)(x, blocks)
    return _apply(x, blocks)


def reconstruction_error(blocks: Sequence[CouplingBlock], x: torch.Tensor) -> float:
    """||inverse(forward(x)) - x|| / ||x|| through a run of invertible blocks: what the memory-saving backward
    relies on. Batch-norm statistics move as in one forward pass (the inversion leaves them alone)."""
    with torch.no_grad():
        y = x
        for b in blocks:
            y = b.couple(y)
        for b in reversed(blocks):
            y = b.inverse(y)
    return float((y - x).norm() / x.norm())
