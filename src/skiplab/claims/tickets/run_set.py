"""The IMP run set lottery-ticket, skips-help-tickets and ticket-transfer share: per seed, an IMP chain for the
residual net, its plain twin (skip="none": the same layers, so every conv has its namesake) and optionally a
VGG-style net; at the compared rounds the two baselines (random re-init, layer-wise shuffled mask) for each chain,
and the plain (and VGG) masks moved to the residual net (from its rewound weights, from its own init, and
layer-wise shuffled). Each run is trained once and found again by its folder (a finished run is reused).

Folders: <out>/tickets/<net>-<data>-<hash>/seed-<n>/{round-00 (dense), round-rr, reinit-rr, shuffled-rr,
transfer-<src>-rr, transfer-<src>-init-rr, transfer-<src>-shuffled-rr}."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from skiplab import config as C
from skiplab.errors import ConfigError
from skiplab.models import list_models
from skiplab.pruning import (MASKS, PruneConfig, density, imp, load_masks, reinit_weights, rewound_weights, round_dir,
                       shuffled, train_dense, train_masked, transfer_masks)
from skiplab.train.config import TrainConfig
from skiplab.train.experiment import DataConfig, RunConfig, build_model, load_data
from skiplab.train.runs import RESULT, run_dir
from skiplab.claims.core.scale import resolve_scale
from skiplab.claims.core.contract import Context
from skiplab.claims.core.engine import spawn_map, with_progress

VERSION = 1  # bump when the procedure changes what a run computes


@dataclass(frozen=True)
class TicketScale:
    data: str = C.option("digits", "dataset of every run")
    depth: int = C.option(14, "depth of the residual net and its plain twin (6n+2)")
    width_mult: float = C.option(1.0, "width multiplier of the residual net and its plain twin")
    vgg_depth: int = C.option(0, "also run IMP on a VGG of this depth (11/13/16/19) and move its masks to the "
                                 "residual net where shapes allow; 0: no VGG")
    vgg_width: float = C.option(1.0, "width multiplier of that VGG")
    rounds: int = C.option(13, "IMP rounds (0.8^13 = 5.5% of the weights left at fraction 0.2)")
    compare_rounds: tuple[int, ...] = C.option((4, 8, 11, 13), "rounds at which the baselines and the "
                                                                   "transferred masks are trained")
    prune: PruneConfig = C.option(PruneConfig(), "the pruning procedure")
    train: TrainConfig = C.option(TrainConfig(), "the recipe of every run (dense and each round)")

    def describe(self, seeds: int) -> str:
        t, p = self.train, self.prune
        vgg = f", VGG-{self.vgg_depth} (x{self.vgg_width:g})" if self.vgg_depth else ""
        width = f" (x{self.width_mult:g} width)" if self.width_mult != 1.0 else ""
        return (f"{self.data}; resnet-{self.depth} and its plain twin{width}{vgg}; IMP {self.rounds} rounds of "
                f"{p.fraction:.0%} ({p.scope}, {'/'.join(p.exclude) or 'nothing'} dense), rewind to step "
                f"{p.rewind_step}; baselines/transfer at rounds {'/'.join(map(str, self.compare_rounds))}; each run "
                f"{t.epochs} epochs of batch {t.batch_size} ({t.optimizer} lr {t.lr}, {t.schedule}, warm-up "
                f"{t.warmup_epochs:g} epoch(s), wd {t.weight_decay}); final test accuracy; {seeds} seed(s)")


# Quick: digits, resnet-14 vs plain-14 (6 blocks: 64 paths), 8 epochs per run (~2 s on one core), rewinding to
# step 10 of ~170 (6% of training; Frankle et al. 2020 rewind to 0.1-7%). Down to 5.5% of the weights.
# Width x0.25 (10.7k prunable weights): the first quick run at full width (170k) had every mask, random ones too,
# within 1 point of dense down to 5.5%, so it could not tell a ticket from a random mask; this budget change came
# after that result and is reported as such (the verdict rules were not changed).
QUICK = TicketScale(width_mult=0.25, prune=PruneConfig(rewind_step=10),
                    train=TrainConfig(epochs=8, batch_size=64, lr=0.05, warmup_epochs=1.0, schedule="cosine"))
# Full: CIFAR-10 ResNet-20 (option A) and its plain twin plus VGG-19, Frankle et al. 2020's rewinding recipe
# (lr 0.1, no warm-up, 160 epochs, lr / 10 at 50% and 75%, rewind to iteration 2000), 15 rounds (3.5% left).
FULL = TicketScale(data="cifar10", depth=20, vgg_depth=19, rounds=15, compare_rounds=(3, 6, 9, 12, 15),
                   prune=PruneConfig(rewind_step=2000), train=TrainConfig(epochs=160, precision="bf16"))
SMOKE_ROUNDS = 1  # a smoke run (ctx.max_steps) checks the procedure, not the result: one round


def scale_config(ctx: Context) -> TicketScale:
    s = resolve_scale(ctx, QUICK, FULL, data_key="data")
    if ctx.max_steps is not None:
        kept = tuple(r for r in s.compare_rounds if r <= SMOKE_ROUNDS) or (SMOKE_ROUNDS,)
        prune = dataclasses.replace(s.prune, rewind_step=min(s.prune.rewind_step, ctx.max_steps))
        train = dataclasses.replace(s.train, max_steps=ctx.max_steps, max_eval_examples=1000)
        s = dataclasses.replace(s, rounds=min(s.rounds, SMOKE_ROUNDS), compare_rounds=kept, prune=prune, train=train)
    if s.rounds < 1 or not s.compare_rounds or any(not 1 <= r <= s.rounds for r in s.compare_rounds):
        raise ConfigError(f"scale: need rounds >= 1 and compare_rounds within 1..{s.rounds}, got "
                          f"{s.compare_rounds}")
    if s.vgg_depth not in (0, 11, 13, 16, 19):
        raise ConfigError(f"scale.vgg_depth: {s.vgg_depth} is not one of 0, 11, 13, 16, 19")
    return s


def families(s: TicketScale) -> tuple[str, ...]:
    return ("resnet", "plain") + (("vgg",) if s.vgg_depth else ())


def run_config(ctx: Context, s: TicketScale, family: str, seed: int) -> RunConfig:
    if family == "vgg":
        model, args = "vgg16", {"depth": s.vgg_depth, "width_mult": s.vgg_width}
    else:
        name = f"{family}{s.depth}"
        model, args = (name, {}) if name in list_models() else (f"{family}20", {"depth": s.depth})
        if s.width_mult != 1.0:
            args = {**args, "width_mult": s.width_mult}
    return RunConfig(model=model, model_args=args, data=DataConfig(name=s.data, root=ctx.data_root), train=s.train,
                     seed=seed)


def chain_dir(out: Path, ctx: Context, s: TicketScale, family: str, seed: int) -> Path:
    cfg = run_config(ctx, s, family, seed)
    # Not the number of rounds: round r does not depend on how many follow, so a longer sweep extends a chain.
    key = {"version": VERSION, "model": cfg.model, "model_args": dict(cfg.model_args), "data": s.data,
           "train": C.to_dict(s.train), "prune": C.to_dict(s.prune)}
    return run_dir(Path(out), "tickets", f"{family}-{s.data.replace(':', '-').replace('/', '_')[-40:]}", key, seed)


_DATA: dict[str, Any] = {}  # per process: each worker loads a dataset once


def _data(cfg: RunConfig) -> Any:
    key = C.stable_hash(cfg.data)
    if key not in _DATA:
        _DATA[key] = load_data(cfg.data)
    return _DATA[key]


def _chain_job(args: tuple) -> None:
    """Phase 1, one process per (family, seed): the dense run and its IMP rounds."""
    out, ctx, s, family, seed, threads = args
    if threads:
        torch.set_num_threads(threads)
    cfg = run_config(ctx, s, family, seed)
    data = _data(cfg)
    folder = chain_dir(out, ctx, s, family, seed)
    train_dense(cfg, round_dir(folder, 0), data, s.prune.rewind_step)
    imp(cfg, round_dir(folder, 0), folder, s.rounds, s.prune, data)


def _compare_job(args: tuple) -> None:
    """Phase 2, one process per (family, seed, round): the baselines, and for the residual net the masks moved
    from the other nets."""
    out, ctx, s, family, seed, r, threads = args
    if threads:
        torch.set_num_threads(threads)
    cfg = run_config(ctx, s, family, seed)
    data = _data(cfg)
    folder = chain_dir(out, ctx, s, family, seed)
    masks = load_masks(round_dir(folder, r) / MASKS)
    rewound = rewound_weights(round_dir(folder, 0), s.prune.rewind_step, cfg, data)
    train_masked(cfg, round_dir(folder, r, "reinit"), data, masks, reinit_weights(cfg, data),
                 extra={"role": "reinit", "round": r})
    train_masked(cfg, round_dir(folder, r, "shuffled"), data, shuffled(masks, seed, r), rewound,
                 extra={"role": "shuffled", "round": r})
    if family != "resnet":
        return
    init = build_model(cfg, data).state_dict()
    target = build_model(cfg, data)
    for src in families(s)[1:]:
        source = load_masks(round_dir(chain_dir(out, ctx, s, src, seed), r) / MASKS)
        moved, pairs = transfer_masks(source, target, s.prune.exclude, torch.Generator().manual_seed(seed))
        info = {"from": src, "round": r, "paired": {k: v for k, v in pairs.items()}}
        train_masked(cfg, round_dir(folder, r, f"transfer-{src}"), data, moved, rewound,
                     extra={"role": "transfer", **info})
        train_masked(cfg, round_dir(folder, r, f"transfer-{src}-init"), data, moved, init,
                     extra={"role": "transfer-init", **info})
        train_masked(cfg, round_dir(folder, r, f"transfer-{src}-shuffled"), data, shuffled(moved, seed, r), rewound,
                     extra={"role": "transfer-shuffled", **info})


def _pool_map(fn: Any, jobs: list[tuple], workers: int, what: str, say: Callable[[str], None]) -> None:
    done = map(fn, jobs) if workers <= 1 or len(jobs) <= 1 else spawn_map(fn, jobs, workers, ordered=False)
    for _ in with_progress(done, len(jobs), what, say):
        pass


def _read(directory: Path) -> dict[str, Any]:
    result = json.loads((directory / RESULT).read_text())
    final = result.get("final", {})
    acc = 1.0 - final["test_err"] if result.get("status") != "diverged" and "test_err" in final else float("nan")
    return {"acc": acc, "density": density(load_masks(directory / MASKS)) if (directory / MASKS).exists() else 1.0}


def _label(cfg: RunConfig) -> str:
    args = ", ".join(f"{k}={v}" for k, v in cfg.model_args.items())
    return f"{cfg.model}({args})" if args else cfg.model


def _pairing(ctx: Context, s: TicketScale) -> dict[str, dict[str, Any]]:
    """Per source net: which residual-net layers got a source layer's mask and which a random one."""
    from skiplab.pruning import prunable
    data = _data(run_config(ctx, s, "resnet", 0))
    target = build_model(run_config(ctx, s, "resnet", 0), data)
    out = {}
    for src in families(s)[1:]:
        layers = prunable(build_model(run_config(ctx, s, src, 0), data), s.prune.exclude)
        dense = {n: torch.ones_like(m.weight, dtype=torch.bool) for n, m in layers.items()}
        _, pairs = transfer_masks(dense, target, s.prune.exclude)
        out[src] = {"paired": sum(v is not None for v in pairs.values()), "layers": len(pairs),
                    "unpaired": [k for k, v in pairs.items() if v is None]}
    return out


_CACHE: dict[str, dict[str, Any]] = {}


def evidence(ctx: Context, out: Path, say: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Train what is missing, then the accuracies every ticket claim reads (the same dict for all three)."""
    import time

    from skiplab.claims.core.reproduce import default_workers
    s = scale_config(ctx)
    key = C.stable_hash({"out": str(out), "scale": C.to_dict(s), "seeds": ctx.seed_list, "root": ctx.data_root})
    if key in _CACHE:
        return _CACHE[key]
    workers = 1 if ctx.max_steps is not None else default_workers()  # smoke runs: spawning costs more than it saves
    # One thread per process on the CPU: these nets are small, and two OpenMP threads on a busy 2-core machine
    # spin against each other (a smoke run took 54 s with two threads under load, ~10 s with one).
    threads = 1 if workers > 1 or not torch.cuda.is_available() else None
    t0 = time.perf_counter()
    fams = families(s)
    before = torch.get_num_threads()
    try:
        _pool_map(_chain_job, [(out, ctx, s, f, seed, threads) for f in fams for seed in ctx.seed_list], workers,
                  f"IMP chains of {s.rounds} round(s)", say)
        _pool_map(_compare_job, [(out, ctx, s, f, seed, r, threads) for f in fams for seed in ctx.seed_list
                                 for r in s.compare_rounds], workers, "baselines and moved masks at a round", say)
    finally:
        torch.set_num_threads(before)  # in-process jobs set it; leave the caller's setting as it was
    ev: dict[str, Any] = {"seeds": ctx.seed_list, "rounds": list(range(s.rounds + 1)),
                          "compare_rounds": list(s.compare_rounds), "families": list(fams), "nets": {}}
    for f in fams:
        per: dict[str, Any] = {"model": _label(run_config(ctx, s, f, 0)), "ticket": [], "density": [],
                               "reinit": [], "shuffled": []}
        for seed in ctx.seed_list:
            folder = chain_dir(out, ctx, s, f, seed)
            rounds = [_read(round_dir(folder, r)) for r in range(s.rounds + 1)]
            per["ticket"].append([x["acc"] for x in rounds])
            per["density"].append([x["density"] for x in rounds])
            for base in ("reinit", "shuffled"):
                per[base].append([_read(round_dir(folder, r, base))["acc"] for r in s.compare_rounds])
            if f == "resnet":
                for src in fams[1:]:
                    for var in ("", "-init", "-shuffled"):
                        per.setdefault(f"transfer-{src}{var}", []).append(
                            [_read(round_dir(folder, r, f"transfer-{src}{var}"))["acc"] for r in s.compare_rounds])
        ev["nets"][f] = per
    ev["transfer_pairs"] = _pairing(ctx, s)
    ev["seconds"] = time.perf_counter() - t0
    _CACHE[key] = ev
    return ev


# The three ticket claims' shared runs(), budget() and measure(): one IMP run set, trained in measure because its
# rounds depend on each other (each claim module imports these).
def runs(ctx: Context) -> list:
    return []


def budget(ctx: Context) -> str:
    return scale_config(ctx).describe(ctx.seeds)


def measure(ctx: Context, done: Any) -> dict[str, Any]:
    return evidence(ctx, done.out, done.say)
