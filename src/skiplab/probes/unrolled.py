"""The unrolled view of a pre-activation net, checked exactly: within a run of additive blocks that keep the shape,
x_end = x_start + sum_i F_i(x_i); across a downsampling block x_{l+1} = shortcut(x_l) + F(x_l), where the shortcut is
what `block.lesion` returns for an additive block, so a stage's sum restarts at the downsampling block's output.
Post-activation blocks (relu after the sum) break the sum and end a segment. The unrolled-ensemble claim reads it."""

from __future__ import annotations

from typing import Any

import torch

from ..models import Net


def unrolled_check(net: Net, x: torch.Tensor) -> dict[str, Any]:
    """x: (N, *example_shape) already in the net's dtype. Returns {"segments": [{"blocks", "max_abs", "rel"}],
    "downsampling": [{"block", "max_abs", "rel"}], "max_rel"}: deviations of the unrolled sums from the forward
    pass (rel = max |diff| / max |x_end|)."""
    blocks = list(net.blocks())
    with torch.no_grad():
        inter = list(net.block_outputs(x).values())  # inter[i] is block i's input, inter[i+1] its output
        segments, down, current = [], [], None
        for i, (name, b) in enumerate(blocks):
            keeps = b.kind == "additive" and inter[i].shape == inter[i + 1].shape
            if b.kind == "additive" and not keeps:  # the shortcut changes the shape: x_{l+1} = S(x_l) + F(x_l)
                diff = (b.lesion(inter[i]) + b.increment(inter[i]) - inter[i + 1]).abs().max()
                down.append({"block": name, "max_abs": float(diff),
                             "rel": float(diff / inter[i + 1].abs().max().clamp_min(1e-300))})
            if not keeps:
                current = None
                continue
            if current is None:
                # the increments are summed on their own and x_start added last: a rounding order unlike the forward
                # pass's, so agreement tests the algebra, not a replay of the same additions
                current = {"blocks": [], "start": i, "sum": torch.zeros_like(inter[i])}
                segments.append(current)
            current["blocks"].append(name)
            current["sum"] += b.increment(inter[i])
            current["end"] = i + 1
        out = []
        for s in segments:
            diff = (inter[s["start"]] + s["sum"] - inter[s["end"]]).abs().max()
            out.append({"blocks": s["blocks"], "max_abs": float(diff),
                        "rel": float(diff / inter[s["end"]].abs().max().clamp_min(1e-300))})
    rels = [s["rel"] for s in out] + [d["rel"] for d in down]
    return {"segments": out, "downsampling": down, "max_rel": max(rels) if rels else float("nan")}
