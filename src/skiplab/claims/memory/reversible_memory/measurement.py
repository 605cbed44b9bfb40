"""What reversible-memory measures (thresholds and verdict: rule.py): the reconstruction and gradient checks, bytes
saved for backward and step times against ordinary backprop, peak memory in fresh processes (revnet.py).
"""

from __future__ import annotations

import copy
import statistics
from dataclasses import dataclass
from typing import Any

import torch

from skiplab import config as C
from skiplab.claims.core.contract import Context
from skiplab.claims.core.scale import resolve_scale
from skiplab.models.parts.reversible import reconstruction_error

from .revnet import batch, make_net, peak_memory, saved_bytes, step_times


@dataclass(frozen=True)
class RevMemScale:
    verify_blocks: int = C.option(102, "invertible blocks in the verification's one run (>= 100, issue 7)")
    per_stage: tuple[int, ...] = C.option((7, 35, 167), "blocks per stage of the depth sweep (3 stages each)")
    timed: tuple[int, ...] = C.option((7, 35), "blocks per stage whose step time is measured")
    peaks: tuple[int, ...] = C.option((7, 35), "blocks per stage whose peak memory is measured (fresh processes)")
    batch: int = C.option(8, "examples per batch")
    size: int = C.option(8, "input size (size x size)")
    repeats: int = C.option(3, "interleaved timing repeats per seed (each seed times its own pair of nets)")


QUICK = RevMemScale()


FULL = RevMemScale(per_stage=(7, 14, 35, 70, 140, 167), timed=(7, 35, 167), peaks=(7, 35, 167), batch=32, size=16,
                   repeats=5)


def scale_config(ctx: Context) -> RevMemScale:
    return resolve_scale(ctx, QUICK, FULL)


def runs(ctx: Context) -> list:
    scale_config(ctx)
    return []  # everything is measured inside measure


def budget(ctx: Context) -> str:
    s = scale_config(ctx)
    return (f"verification: {s.verify_blocks} coupling blocks, {ctx.seeds} seeds; sweep: "
            f"{'/'.join(str(3 * n) for n in s.per_stage)} blocks, batch {s.batch} of {s.size}x{s.size}, "
            f"{s.repeats} timing repeats per seed, CPU")


def _stage_recon(net: Any, x: torch.Tensor) -> float:
    with torch.no_grad():
        h = net.stem(net.normalize(x))
    return reconstruction_error(net._runs[0], h)


def verify(blocks: int, seed: int, s: RevMemScale) -> dict[str, float]:
    """Reconstruction and gradient errors of one stage of `blocks` invertible blocks (float32 weights, train mode);
    `recon_fp32_stream`: the reconstruction error of the same weights with a float32 stream."""
    from skiplab.models import create_model
    torch.manual_seed(seed)
    net = create_model("revnet38", widths=(32,), depth=12 * blocks + 2, input_size=(s.size, s.size)).train()
    narrow = create_model("revnet38", widths=(32,), depth=12 * blocks + 2, input_size=(s.size, s.size),
                          stream="float32").train()
    narrow.load_state_dict(net.state_dict())
    ref = copy.deepcopy(net)
    ref.reversible = False
    x, _ = batch(s.batch, s.size, seed)
    recon, recon32 = _stage_recon(net, x), _stage_recon(narrow, x)
    grads = []
    for m in (net, ref):
        xi = x.clone().requires_grad_(True)
        m(xi).logsumexp(1).sum().backward()
        grads.append(torch.cat([xi.grad.flatten()] + [p.grad.flatten() for p in m.parameters()]))
    return {"recon": recon, "recon_fp32_stream": recon32,
            "grad": float((grads[0] - grads[1]).norm() / grads[1].norm())}


def measure(ctx: Context, done: Any) -> dict[str, Any]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small convs: on a loaded 2-core machine a second thread made steps ~20x slower
    try:
        return _measure(ctx)
    finally:
        torch.set_num_threads(threads)


def _measure(ctx: Context) -> dict[str, Any]:
    s = scale_config(ctx)
    v = [verify(s.verify_blocks, seed, s) for seed in ctx.seed_list]
    x, y = batch(s.batch, s.size)
    out: dict[str, Any] = {"seeds": ctx.seed_list, "verify_blocks": s.verify_blocks,
                           "recon": [e["recon"] for e in v], "grad": [e["grad"] for e in v],
                           "recon_fp32_stream": [e["recon_fp32_stream"] for e in v],
                           "blocks": [3 * n for n in s.per_stage], "saved": {"revnet": [], "resnet": []},
                           "timed": [3 * n for n in s.timed], "time_ratio": [],
                           "peak_blocks": [3 * n for n in s.peaks], "peak": {"revnet": [], "resnet": []}}
    for n in s.per_stage:
        for k in ("revnet", "resnet"):
            out["saved"][k].append(saved_bytes(make_net(n, k == "revnet", s.size), x))
    for n in s.timed:  # per seed: the median ratio of interleaved repeats on that seed's pair of nets
        per_seed = []
        for seed in ctx.seed_list:
            t = step_times({k: make_net(n, k == "revnet", s.size, seed) for k in ("revnet", "resnet")},
                           *batch(s.batch, s.size, seed), s.repeats)
            per_seed.append(statistics.median(a / b for a, b in zip(t["revnet"], t["resnet"])))
        out["time_ratio"].append(per_seed)
    for n in s.peaks:
        for k in ("revnet", "resnet"):
            p = peak_memory(n, k == "revnet", s.batch, s.size, threads=1)
            out["peak"][k].append(p["peak"] - p["before"] if "peak" in p else None)
    return out
