"""What reversible-memory measures (thresholds and verdict: rule.py): the standard RevNet's gradient error and
training comparison (standard.py), bytes saved for backward and step times against ordinary backprop, peak memory
in fresh processes (revnet.py).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

import torch

from skiplab import config as C
from skiplab.claims.core.contract import Context
from skiplab.claims.core.datasets import dataset
from skiplab.claims.core.engine import Done, FunctionRun
from skiplab.claims.core.scale import resolve_scale

from .revnet import batch, make_net, peak_memory, saved_bytes, step_times
from .standard import TrainRun, train_revnet, verify


@dataclass(frozen=True)
class RevMemScale:
    verify_blocks: int = C.option(102, "invertible blocks of the standard net checked and trained (>= 100, issue 7)")
    train_data: str = C.option("digits", "data of the gradient-noise check and the training comparison")
    train_batch: int = C.option(8, "batch size of the training comparison, and of the gradient checks")
    train_steps: int = C.option(30, "SGD steps of each arm of the training comparison")
    lr: float = C.option(0.05, "its learning rate (momentum 0.9, constant)")
    noise_batches: int = C.option(4, "disjoint training batches whose gradients give the minibatch noise")
    per_stage: tuple[int, ...] = C.option((7, 35, 167), "blocks per stage of the depth sweep (3 stages each)")
    timed: tuple[int, ...] = C.option((7, 35), "blocks per stage whose step time is measured")
    peaks: tuple[int, ...] = C.option((7, 35), "blocks per stage whose peak memory is measured (fresh processes)")
    batch: int = C.option(8, "examples per batch of the memory and time sweep")
    size: int = C.option(8, "input size (size x size) of the memory and time sweep")
    repeats: int = C.option(3, "interleaved timing repeats per seed (each seed times its own pair of nets)")


# Quick: the training comparison is 12 runs of the 102-block net (6 seeds x 2 arms). A step of batch 8 takes ~0.75 s
# (ordinary backprop) to ~1 s (reconstructing) of one core of this CPU and the held-out evaluation ~4 s, so 30 steps
# are ~3 min with 2 workers, most of this claim's cost (about 4.5 min in all). 30 steps is early training: a pilot of
# the backprop arm on seed 100 (not a judged seed) had held-out loss 2.15 after 30 steps at lr 0.05, 1.93 after 40,
# 1.59 after 60 (ln 10 = 2.30 untrained); 60 steps would double the cost.
QUICK = RevMemScale()
# Full (GPU): CIFAR-10 batches of 128, 2,000 steps per arm.
FULL = RevMemScale(train_data="cifar10", train_batch=128, train_steps=2000, per_stage=(7, 14, 35, 70, 140, 167),
                   timed=(7, 35, 167), peaks=(7, 35, 167), batch=32, size=16, repeats=5)


def scale_config(ctx: Context) -> RevMemScale:
    return resolve_scale(ctx, QUICK, FULL, data_key="train_data", steps_key="train_steps")


def train_jobs(ctx: Context) -> dict[tuple[str, int], FunctionRun]:
    s = scale_config(ctx)
    return {(arm, seed): FunctionRun(train_revnet, TrainRun(arm == "reversible", s.verify_blocks, s.train_data,
                                                            ctx.data_root, s.train_steps, s.train_batch, s.lr, seed),
                                     name=f"revnet-{s.verify_blocks}-{arm}", seed=seed, cost=s.verify_blocks)
            for arm in ("reversible", "backprop") for seed in ctx.seed_list}


def runs(ctx: Context) -> list[FunctionRun]:
    return list(train_jobs(ctx).values())


def budget(ctx: Context) -> str:
    s = scale_config(ctx)
    return (f"standard RevNet of {s.verify_blocks} coupling blocks (float32): gradient checks on {s.noise_batches} "
            f"batches of {s.train_batch}, and {s.train_steps} SGD steps of batch {s.train_batch} (lr {s.lr}, momentum "
            f"0.9) on {s.train_data} per arm, reconstructing backward and ordinary backprop, {ctx.seeds} seeds; "
            f"sweep: {'/'.join(str(3 * n) for n in s.per_stage)} blocks, batch {s.batch} of {s.size}x{s.size}, "
            f"{s.repeats} timing repeats per seed, CPU")


def measure(ctx: Context, done: Done) -> dict[str, Any]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small convs: on a loaded 2-core machine a second thread made steps ~20x slower
    try:
        return _measure(ctx, done)
    finally:
        torch.set_num_threads(threads)


def _measure(ctx: Context, done: Done) -> dict[str, Any]:
    s = scale_config(ctx)
    v = ctx.map(verify, [(s, seed, ctx.data_root) for seed in ctx.seed_list], "gradient checks")
    jobs, data = train_jobs(ctx), dataset(s.train_data, ctx.data_root)
    x, _ = batch(s.batch, s.size)
    out: dict[str, Any] = {
        "seeds": ctx.seed_list, "verify_blocks": s.verify_blocks, "batch_size": s.train_batch,
        "standard": {k: [e[k] for e in v] for k in ("recon", "grad", "noise", "ratio", "fp32_floor")},
        "remedy": {"recon": [e["remedy_recon"] for e in v], "grad": [e["remedy_grad"] for e in v]},
        "train": {"data": s.train_data, "steps": s.train_steps, "lr": s.lr, "chance": 1 / data.num_classes,
                  "examples": len(data.test_y),
                  **{arm: [done.value(jobs[(arm, seed)]) for seed in ctx.seed_list]
                     for arm in ("reversible", "backprop")}},
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
