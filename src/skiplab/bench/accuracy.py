"""Time-to-accuracy of one recipe, and the large-batch check (batch 512 vs 2048 at equal epochs over seeds).

Training seconds are fit's per-epoch `train_time` (steps only, up to the epoch's one host sync; evaluation is not
training). With torch.compile the first epoch also compiles: its extra time over the median later epoch is
reported as `compile_s` beside the training time and taken out of it, so the number is steady-state training.
"""

from __future__ import annotations

import dataclasses
import statistics
from typing import Any, Callable

from ..config import to_dict
from ..errors import ConfigError
from ..train.config import large_batch
from ..train.experiment import RunConfig, build_model, load_data
from ..train.loop import fit

SAY = Callable[[str], None]


def timeline(epochs: list[dict[str, Any]], target: float) -> dict[str, Any]:
    """Per-epoch test accuracy against cumulative training seconds (first-epoch compile taken out), and the
    first time the accuracy reached `target`."""
    times = [e["train_time"] for e in epochs]
    steady = statistics.median(times[1:]) if len(times) > 1 else times[0]
    compile_s = max(0.0, times[0] - steady)
    rows, elapsed, reached = [], 0.0, None
    for i, e in enumerate(epochs):
        elapsed += times[i] - (compile_s if i == 0 else 0.0)
        acc = 1 - e["test_err"] if "test_err" in e else None
        rows.append({"epoch": e["epoch"], "train_s": elapsed, "test_acc": acc})
        if reached is None and acc is not None and acc >= target:
            reached = {"epoch": e["epoch"], "train_s": elapsed}
    return {"epochs": rows, "compile_s": compile_s, "train_s": elapsed,
            "final_test_acc": rows[-1]["test_acc"] if rows else None, "target": target, "reached": reached}


def time_to_accuracy(run: RunConfig, target: float, say: SAY = print, verbose: bool = False) -> dict[str, Any]:
    """Train `run` once (no run folder) and report its accuracy timeline."""
    if not 0 < target <= 1:
        raise ConfigError(f"--target is a test accuracy in (0, 1], got {target}")
    data = load_data(run.data)
    model = build_model(run, data)
    history = fit(model, data, run.train, seed=run.seed, verbose=verbose)
    if history.status != "finished":
        raise ConfigError(f"the recipe did not finish training ({history.status}); lower --lr")
    out = timeline(history.epochs, target)
    for r in out["epochs"]:
        say(f"  epoch {r['epoch']:3d}  {r['train_s']:7.2f} s  test acc {r['test_acc']:.2%}"
            if r["test_acc"] is not None else f"  epoch {r['epoch']:3d}  {r['train_s']:7.2f} s")
    hit = out["reached"]
    say(f"{run.model.name}: {out['final_test_acc']:.2%} after {out['train_s']:.2f} s of training "
        f"(+ {out['compile_s']:.1f} s compile); target {target:.0%} "
        + (f"reached at epoch {hit['epoch']}, {hit['train_s']:.2f} s" if hit else "not reached"))
    return {"model": run.model.name, "data": run.data.name, "recipe": to_dict(run.train), **out}


def mean_std(xs: list[float]) -> dict[str, float]:
    """Mean and sample standard deviation; a diverged seed (nan) makes both nan rather than hiding it."""
    n = len(xs)
    mean = sum(xs) / n
    std = (sum((x - mean) ** 2 for x in xs) / (n - 1)) ** 0.5 if n > 1 else 0.0
    return {"mean": mean, "std": std, "n": n}


def large_batch_check(run: RunConfig, base_batch: int, big_batch: int, seeds: list[int], rule: str = "linear",
                      say: SAY = print) -> dict[str, Any]:
    """Test accuracy over `seeds` at `base_batch` (the recipe as given) and at `big_batch` (lr scaled by `rule`,
    warm-up added by `large_batch`), equal epochs; the difference big - base of the means."""
    if len(seeds) < 1:
        raise ConfigError("--seeds must be >= 1")
    if not 1 <= base_batch < big_batch:
        raise ConfigError(f"the large batch must be larger than the base batch, got {big_batch} vs {base_batch}")
    data = load_data(run.data)
    base_cfg = dataclasses.replace(run.train, batch_size=base_batch)
    recipes = {base_batch: base_cfg, big_batch: large_batch(base_cfg, big_batch, base_batch, rule=rule)}  # type: ignore[arg-type]
    out: dict[str, Any] = {"model": run.model.name, "data": run.data.name, "rule": rule, "seeds": seeds,
                           "batches": {}}
    for batch, cfg in recipes.items():
        accs = []
        for seed in seeds:
            one = dataclasses.replace(run, train=cfg, seed=seed)
            history = fit(build_model(one, data), data, cfg, seed=seed, verbose=False)
            acc = 1 - history.final["test_err"] if history.status == "finished" else float("nan")
            accs.append(acc)
            say(f"  batch {batch:5d} lr {cfg.lr:.3g} seed {seed}: test acc {acc:.2%} ({history.status})")
        out["batches"][str(batch)] = {"lr": cfg.lr, "warmup_epochs": cfg.warmup_epochs, "test_acc": accs,
                                      **mean_std(accs)}
    a, b = out["batches"][str(base_batch)], out["batches"][str(big_batch)]
    out["difference"] = b["mean"] - a["mean"]
    say(f"{run.model.name}: batch {base_batch} {a['mean']:.2%} +- {a['std']:.2%}, batch {big_batch} "
        f"{b['mean']:.2%} +- {b['std']:.2%} ({len(seeds)} seeds), difference {out['difference']:+.2%}")
    return out
