"""Bytes autograd keeps for the backward pass: the exact activation memory of a training step, counted through
torch.autograd.graph.saved_tensors_hooks (not a peak, which the allocator blurs)."""

from __future__ import annotations

from typing import Any, Callable, Iterable

import torch


def saved_bytes(fn: Callable[[], Any], exclude: Iterable[torch.Tensor] = ()) -> int:
    """numel * element_size summed over the distinct tensors autograd saves while `fn()` runs its forward pass
    (distinct by address, size and dtype: a tensor saved by two ops counts once), leaving out those in `exclude`
    (e.g. the parameters, which are held anyway). Every saved tensor is kept alive until the count is done, so no
    address is reused within the pass."""
    skip = {t.data_ptr() for t in exclude}
    seen: dict[tuple[int, int, torch.dtype], int] = {}
    keep: list[torch.Tensor] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.data_ptr() not in skip:
            keep.append(t)
            seen[(t.data_ptr(), t.numel(), t.dtype)] = t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    keep.clear()
    return int(sum(seen.values()))
