"""Moving a ticket's masks to another architecture (a plain twin's or a VGG's mask onto a residual net).

Layers are paired by name and shape first (twins: a plain twin is the same skeleton without shortcuts, so with
option-A shortcuts every layer has its namesake), then, for what is left, in forward order among layers of the
same shape (a VGG's convs onto a ResNet's, where the shapes allow). A destination layer with no counterpart gets
a random mask at the source's overall density: it inherits no pattern, only the sparsity, so the transferred
net has the source's overall density and the report can say which layers carried a pattern."""

from __future__ import annotations

import torch
from torch import nn

from .masks import Masks, density, prunable


def transfer_masks(source: Masks, target: nn.Module, exclude: tuple[str, ...] = (),
                   generator: torch.Generator | None = None) -> tuple[Masks, dict[str, str | None]]:
    """(masks for `target`'s prunable layers, {target layer: source layer it came from, or None}).
    A paired layer's mask is the source's mask unchanged (the pattern is kept exactly)."""
    layers = {n: tuple(m.weight_orig.shape if hasattr(m, "weight_orig") else m.weight.shape)
              for n, m in prunable(target, exclude).items()}
    pairs: dict[str, str | None] = {}
    used: set[str] = set()
    for n, shape in layers.items():  # first pass: namesakes of the same shape
        if n in source and tuple(source[n].shape) == shape:
            pairs[n] = n
            used.add(n)
    remaining = [s for s in source if s not in used]
    for n, shape in layers.items():  # second pass: the next unused source layer of the same shape, in order
        if n in pairs:
            continue
        match = next((s for s in remaining if tuple(source[s].shape) == shape), None)
        pairs[n] = match
        if match is not None:
            remaining.remove(match)
    keep = density(source)
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    out: Masks = {}
    for n, shape in layers.items():
        src = pairs[n]
        if src is not None:
            out[n] = source[src].clone()
        else:
            numel = int(torch.tensor(shape).prod())
            flat = torch.zeros(numel, dtype=torch.bool)
            flat[torch.randperm(numel, generator=g)[:round(keep * numel)]] = True
            out[n] = flat.view(shape)
    return out, {n: pairs[n] for n in layers}
