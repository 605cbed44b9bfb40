"""The measurements of neural-ode: four nets per dataset trained by the run engine, each recording NFE per epoch
(RunSpec(nfe=True)), and the bytes autograd saves for the backward pass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from skiplab import config as C
from skiplab.claims.core.contract import Context
from skiplab.claims.core.datasets import dataset
from skiplab.claims.core.engine import NFE, Done, RunSpec
from skiplab.claims.core.scale import own_overrides
from skiplab.probes.memory import saved_bytes
from skiplab.train import TrainConfig
from skiplab.train.experiment import DataConfig, ModelConfig, RunConfig

from .rule import MARGIN


def memory_curve(model: str, args: dict[str, Any], x: torch.Tensor, y: torch.Tensor,
                 steps: tuple[int, ...]) -> dict[str, list[int]]:
    """Saved bytes of one training forward pass (net + cross-entropy) with RK4 at each number of `steps`, by the
    adjoint and by backprop through the steps. The same weights for every point (seed 0)."""
    from skiplab.models import create_model
    out: dict[str, list[int]] = {"adjoint": [], "backprop": []}
    for key, adjoint in (("adjoint", True), ("backprop", False)):
        for n in steps:
            torch.manual_seed(0)
            net: nn.Module = create_model(model, **{**args, "method": "rk4", "steps": n, "adjoint": adjoint})
            net.train()
            out[key].append(saved_bytes(lambda: nn.functional.cross_entropy(net(x), y)))
    return out


@dataclass(frozen=True)
class NeuralODEScale:
    data: tuple[str, ...] = C.option(("digits", "mnist1d"), "datasets (a --data override replaces them)")
    width: int = C.option(32, "ODE-Net / RK-Net width (Chen et al.: 64)")
    groups: int = C.option(8, "group-norm groups of the ODE-Net")
    tol: float = C.option(1e-3, "dopri5 rtol = atol (Chen et al.'s MNIST script: 1e-3)")
    rk_steps: int = C.option(4, "RK4 steps of the RK-Net")
    resnet_depth: int = C.option(20, "depth of the usual ResNet (resnet<d> / resnet1d<d>)")
    matched_depth: int = C.option(20, "depth of the parameter-matched ResNet (its widths are scaled)")
    train: TrainConfig = C.option(TrainConfig(epochs=5, optimizer="adamw", lr=2e-3, weight_decay=1e-4,
                                              schedule="cosine", eval_every=5), "the recipe of all four nets")
    mem_steps: tuple[int, ...] = C.option((1, 2, 4, 8, 16, 32), "RK4 steps of the saved-bytes comparison "
                                                                "(powers of 2: T / steps is exact)")
    mem_batch: int = C.option(32, "training examples in the saved-bytes forward pass")


# Quick: width 32 (not 64) keeps the runs inside the budget on 2 cores; the dopri5 adjoint's backward pass costs
# ~0.4 s per step at width 32 on digits. 4 epochs (not 5) with 6 seeds: the 48 runs cost ~1.6x the 24 five-epoch
# runs of 3 seeds instead of 2x (the ODE-Net dominates, and its last epoch, with the most NFE, is the one cut);
# 4 epochs still give the first-vs-last NFE comparison, and the cosine schedule still decays to 0.
QUICK = NeuralODEScale(train=TrainConfig(epochs=4, optimizer="adamw", lr=2e-3, weight_decay=1e-4, schedule="cosine",
                                         eval_every=4))


FULL = NeuralODEScale(data=("cifar10",), width=64, groups=32, resnet_depth=56,
                      train=TrainConfig(epochs=100, lr=0.1, eval_every=10, schedule="cosine"))


def scale_config(ctx: Context) -> NeuralODEScale:
    d = C.to_dict(QUICK if ctx.scale == "quick" else FULL)
    if ctx.data:
        d["data"] = [ctx.data]
    if ctx.max_steps is not None:  # smoke runs
        d["train"]["max_steps"], d["train"]["eval_every"] = ctx.max_steps, 1
        d["train"]["batch_size"], d["mem_steps"], d["mem_batch"] = 16, [1, 2], 2
    return C.from_dict(NeuralODEScale, C.apply_overrides(d, own_overrides(ctx.overrides, NeuralODEScale)), "scale")


def budget(ctx: Context) -> str:
    s, t = scale_config(ctx), scale_config(ctx).train
    return (f"{', '.join(s.data)}; {t.epochs} epochs of batch {t.batch_size} ({t.optimizer} lr {t.lr}, "
            f"{t.schedule}) for each of ODE-Net (width {s.width}, dopri5 tol {s.tol:g}, adjoint), RK-Net "
            f"({s.rk_steps} RK4 steps), resnet{s.resnet_depth} and a width-scaled resnet{s.matched_depth}; "
            f"{ctx.seeds} seed{'s' * (ctx.seeds != 1)}; saved bytes at {'/'.join(map(str, s.mem_steps))} steps")


def nets_for(s: NeuralODEScale, shape: tuple[int, ...], kwargs: dict[str, Any]) -> dict[str, tuple[str, dict]]:
    """(preset, overrides) of the four nets for data of example shape (C, *S); the matched ResNet's width_mult
    is found by bisection on the parameter count."""
    from skiplab.models import create_model
    one_d = len(shape) == 2
    # downsample 8x8 digits once only: group norm needs a few positions per channel to average over
    ode = dict(width=s.width, groups=s.groups, rtol=s.tol, atol=s.tol, downsample=2 if min(shape[1:]) >= 16 else 1)
    res = "resnet1d" if one_d else "resnet"
    target = create_model("odenet1d" if one_d else "odenet", **ode, **kwargs).num_parameters()
    lo, hi = 0.05, 4.0
    for _ in range(40):
        mid = (lo * hi) ** 0.5
        n = create_model(f"{res}{s.matched_depth}", width_mult=mid, **kwargs).num_parameters()
        lo, hi = (mid, hi) if n < target else (lo, mid)
    return {"odenet": ("odenet1d" if one_d else "odenet", ode),
            "rknet": ("rknet1d" if one_d else "rknet", {**ode, "steps": s.rk_steps}),
            "resnet": (f"{res}{s.resnet_depth}", {}),
            "matched": (f"{res}{s.matched_depth}", {"width_mult": round(hi, 4)})}


def nets(ctx: Context) -> dict[str, dict[str, tuple[str, dict]]]:
    """Per dataset of the scale: the four nets (nets_for)."""
    s = scale_config(ctx)
    out = {}
    for name in s.data:
        data = dataset(name, ctx.data_root)
        out[name] = nets_for(s, tuple(data.info.shape), data.model_kwargs())
    return out


def specs(ctx: Context) -> dict[tuple[str, str, int], RunSpec]:
    """(dataset, net, seed) -> its run, recording NFE per epoch; the same recipe for all four nets."""
    s = scale_config(ctx)
    out = {}
    for name, four in nets(ctx).items():
        train = s.train
        if ctx.max_steps is not None:  # smoke data sets can be smaller than a batch
            train = C.replace(s.train, batch_size=min(16, len(dataset(name, ctx.data_root).train_y)))
        for key, (model, args) in four.items():
            for seed in ctx.seed_list:
                run = RunConfig(model=ModelConfig(model, args), data=DataConfig(name=name, root=ctx.data_root),
                                train=train, seed=seed)
                # the adaptive solver's many evaluations make the ODE-Net the slowest run: scheduled first
                out[(name, key, seed)] = RunSpec(run, probes=None, nfe=True,
                                                 cost_factor=100.0 if key == "odenet" else 1.0)
    return out


def runs(ctx: Context) -> list[RunSpec]:
    return list(specs(ctx).values())


def measure(ctx: Context, done: Done) -> dict[str, Any]:
    from skiplab.data import to_float
    s = scale_config(ctx)
    ev: dict[str, Any] = {"scale": ctx.scale, "seeds": ctx.seed_list, "data": list(s.data), "margin": MARGIN[ctx.scale],
                          "mem_steps": list(s.mem_steps), "datasets": {}}
    runs_of = specs(ctx)
    for name, four in nets(ctx).items():
        data = dataset(name, ctx.data_root)
        ode_preset, ode_args = four["odenet"]
        x, y = to_float(data.train_x[:s.mem_batch]), data.train_y[:s.mem_batch]
        cap = s.train.max_eval_examples  # accuracy is read on the test split (at most this many examples of it)
        ev["datasets"][name] = {"nets": {k: {"model": m, "args": a, "runs": [run_summary(done, runs_of[(name, k, seed)])
                                                                            for seed in ctx.seed_list]}
                                         for k, (m, a) in four.items()},
                                "test_examples": len(data.test_y) if cap is None else min(cap, len(data.test_y)),
                                "memory": memory_curve(ode_preset, {**ode_args, **data.model_kwargs()}, x, y,
                                                       s.mem_steps)}
    return ev


def run_summary(done: Done, spec: RunSpec) -> dict[str, Any]:
    """A finished run's test accuracy (None if diverged or never evaluated), parameters, NFE per epoch and
    training seconds (the epochs' own times, as recorded in metrics.jsonl)."""
    result, rows = done.result(spec), done.metrics(spec)
    err = next((r["test_err"] for r in reversed(rows) if "test_err" in r), None)
    return {"seed": spec.run.seed, "status": result["status"], "seconds": sum(r.get("time", 0.0) for r in rows),
            "acc": None if err is None or result["status"] == "diverged" else 1.0 - err,
            "params": result["params"], "nfe": done.records(spec, NFE)}
