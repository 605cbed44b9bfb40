"""The measurements of neural-ode: three or four nets per dataset trained by the run engine, each recording its
training loss and NFE per epoch (RunSpec(nfe=True)), and the bytes autograd saves for the backward pass."""

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
    data: tuple[str, ...] = C.option(("digits",), "datasets (a --data override replaces them)")
    width: int = C.option(32, "ODE-Net / RK-Net width (Chen et al.: 64)")
    groups: int = C.option(8, "group-norm groups of the ODE-Net")
    tol: float = C.option(1e-3, "dopri5 rtol = atol (Chen et al.'s MNIST script: 1e-3)")
    rknet: bool = C.option(True, "also train Chen et al.'s RK-Net (shown beside the others, not judged)")
    rk_steps: int = C.option(4, "RK4 steps of the RK-Net")
    resnet_depth: int = C.option(20, "depth of the usual ResNet (resnet<d> / resnet1d<d>)")
    matched_depth: int = C.option(20, "depth of the parameter-matched ResNet (its widths are scaled)")
    train: TrainConfig = C.option(TrainConfig(epochs=20, batch_size=64, optimizer="adamw", lr=2e-3,
                                              weight_decay=1e-4, schedule="cosine", eval_every=20),
                                  "the recipe of all the nets")
    mem_steps: tuple[int, ...] = C.option((1, 2, 4, 8, 16, 32), "RK4 steps of the saved-bytes comparison "
                                                                "(powers of 2: T / steps is exact)")
    mem_batch: int = C.option(32, "training examples in the saved-bytes forward pass")


# Quick: digits only, width 32 (not 64), no RK-Net, so that every net reaches a plateau of its training loss on 2
# cores in ~5 minutes for 6 seeds. One-seed pilots of the ODE-Net on digits (the nets' slowest to fit; the ResNets
# fit within ~8 epochs) under the plateau rule: batch 128 x 20 epochs still falling (1.7x the allowed fall), x 30
# a plateau (0.6x); batch 64 x 15 borderline (1.05x), x 20 a plateau (0.4x); batch 32 x 12 borderline (0.9x). The
# dopri5 adjoint dominates (~3 s an epoch at batch 128, ~1.25x that at batch 64; forward NFE 26, backward 26 -> 32
# through training), so batch 64 x 20 epochs costs ~2/3 of batch 128 x 30. MNIST-1D (4000 examples; its 1D ODE-Net
# ~6 s an epoch at 4 epochs) would double that: name it with --data mnist1d; the RK-Net (~20 s a seed) with
# --set rknet=true.
QUICK = NeuralODEScale(rknet=False)


# Chen et al.'s MNIST experiment: the ODE-Net at width 64 (0.21M parameters; theirs 0.22M) against a ResNet of
# ~0.6M (resnet44: 0.66M on MNIST; theirs 0.60M) and resnet44 scaled in width to the ODE-Net's count; their recipe
# (odenet_mnist.py): SGD lr 0.1, momentum 0.9, no weight decay, batch 128, 160 epochs, lr x0.1 at epochs 60, 100,
# 140. Its last 40 epochs run at lr <= 0.001, where the plateau criterion reads the loss.
FULL = NeuralODEScale(data=("mnist",), width=64, groups=32, resnet_depth=44, matched_depth=44,
                      train=TrainConfig(epochs=160, batch_size=128, optimizer="sgd", lr=0.1, momentum=0.9,
                                        weight_decay=0.0, schedule="multistep", milestones=(0.375, 0.625, 0.875),
                                        gamma=0.1, eval_every=10))


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
            f"{t.schedule}) for each of ODE-Net (width {s.width}, dopri5 tol {s.tol:g}, adjoint), "
            f"{f'RK-Net ({s.rk_steps} RK4 steps), ' if s.rknet else ''}resnet{s.resnet_depth} and a width-scaled "
            f"resnet{s.matched_depth}, each to reach a plateau of its training loss; "
            f"{ctx.seeds} seed{'s' * (ctx.seeds != 1)}; saved bytes at {'/'.join(map(str, s.mem_steps))} steps")


def nets_for(s: NeuralODEScale, shape: tuple[int, ...], kwargs: dict[str, Any]) -> dict[str, tuple[str, dict]]:
    """(preset, overrides) of the nets (ODE-Net, RK-Net if asked, ResNet, matched ResNet) for data of example shape
    (C, *S); the matched ResNet's width_mult is found by bisection on the parameter count."""
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
    out = {"odenet": ("odenet1d" if one_d else "odenet", ode),
           "rknet": ("rknet1d" if one_d else "rknet", {**ode, "steps": s.rk_steps}),
           "resnet": (f"{res}{s.resnet_depth}", {}),
           "matched": (f"{res}{s.matched_depth}", {"width_mult": round(hi, 4)})}
    if not s.rknet:
        del out["rknet"]
    return out


def nets(ctx: Context) -> dict[str, dict[str, tuple[str, dict]]]:
    """Per dataset of the scale: its nets (nets_for)."""
    s = scale_config(ctx)
    out = {}
    for name in s.data:
        data = dataset(name, ctx.data_root)
        out[name] = nets_for(s, tuple(data.info.shape), data.model_kwargs())
    return out


def specs(ctx: Context) -> dict[tuple[str, str, int], RunSpec]:
    """(dataset, net, seed) -> its run, recording NFE per epoch; the same recipe for all the nets."""
    s = scale_config(ctx)
    out = {}
    for name, nets_of in nets(ctx).items():
        train = s.train
        if ctx.max_steps is not None:  # smoke data sets can be smaller than a batch
            train = C.replace(s.train, batch_size=min(16, len(dataset(name, ctx.data_root).train_y)))
        for key, (model, args) in nets_of.items():
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
    for name, nets_of in nets(ctx).items():
        data = dataset(name, ctx.data_root)
        ode_preset, ode_args = nets_of["odenet"]
        x, y = to_float(data.train_x[:s.mem_batch]), data.train_y[:s.mem_batch]
        cap = s.train.max_eval_examples  # accuracy is read on the test split (at most this many examples of it)
        ev["datasets"][name] = {"nets": {k: {"model": m, "args": a, "runs": [run_summary(done, runs_of[(name, k, seed)])
                                                                            for seed in ctx.seed_list]}
                                         for k, (m, a) in nets_of.items()},
                                "test_examples": len(data.test_y) if cap is None else min(cap, len(data.test_y)),
                                "memory": memory_curve(ode_preset, {**ode_args, **data.model_kwargs()}, x, y,
                                                       s.mem_steps)}
    return ev


def run_summary(done: Done, spec: RunSpec) -> dict[str, Any]:
    """A finished run's test accuracy (None if diverged or never evaluated), parameters, training loss and NFE per
    epoch, and training seconds (the epochs' own times, as recorded in metrics.jsonl)."""
    result, rows = done.result(spec), done.metrics(spec)
    err = next((r["test_err"] for r in reversed(rows) if "test_err" in r), None)
    return {"seed": spec.run.seed, "status": result["status"], "seconds": sum(r.get("time", 0.0) for r in rows),
            "acc": None if err is None or result["status"] == "diverged" else 1.0 - err,
            "params": result["params"], "train_loss": [r["train_loss"] for r in rows], "nfe": done.records(spec, NFE)}
