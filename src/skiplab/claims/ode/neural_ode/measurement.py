"""The measurements of neural-ode: training runs that record NFE per epoch, and the bytes autograd saves for the
backward pass. Training runs in worker processes of one thread each (spawned, as runs.execute does: two small
single-thread runs side by side finish sooner than one two-thread run after the other)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from skiplab import config as C
from skiplab.claims.core.contract import Context
from skiplab.claims.core.engine import Runs, spawn_map
from skiplab.claims.core.scale import own_overrides
from skiplab.train import Callback, TrainConfig, TrainState

from .rule import MARGIN


class NFERecorder(Callback):
    """Per epoch: mean forward and backward NFE per training solve of every ODE block (Chen et al. Fig. 3)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []

    def on_fit_start(self, state: TrainState) -> None:
        from skiplab.models.families.odenet import ode_blocks
        self.blocks = ode_blocks(state.model)
        for b in self.blocks:
            b.reset_nfe()

    def on_epoch_end(self, state: TrainState, metrics: dict[str, Any]) -> None:
        if not self.blocks:
            return
        solves = sum(b.solves for b in self.blocks)
        fwd, bwd = sum(b.nfe_forward for b in self.blocks), sum(b.nfe_backward for b in self.blocks)
        # one backward pass per training solve, so both averages are per training step
        self.rows.append({"epoch": metrics["epoch"], "forward": fwd / max(1, solves),
                          "backward": bwd / max(1, solves)})
        for b in self.blocks:
            b.reset_nfe()


def train_job(job: dict[str, Any]) -> dict[str, Any]:
    """Train one (model, dataset, seed) and return its test accuracy, parameters and NFE curve."""
    from skiplab.data import load_dataset
    from skiplab.models import create_model
    from skiplab.train import fit
    if job.get("threads"):
        torch.set_num_threads(job["threads"])
    data = load_dataset(job["data"], root=job["data_root"])
    torch.manual_seed(job["seed"])
    net = create_model(job["model"], **job["args"], **data.model_kwargs())
    rec = NFERecorder()
    t0, c0 = time.perf_counter(), time.process_time()
    hist = fit(net, data, job["train"], seed=job["seed"], callbacks=[rec], verbose=False)
    err = hist.last("test_err")
    return {"key": job["key"], "seed": job["seed"], "status": hist.status, "seconds": time.perf_counter() - t0,
            "cpu_seconds": time.process_time() - c0,  # wall time is unreliable on a shared CPU
            "acc": None if err is None or hist.status == "diverged" else 1.0 - err,
            "params": net.num_parameters(), "nfe": rec.rows}


def run_jobs(jobs: list[dict[str, Any]], workers: int, say: Callable[[str], None] = lambda s: None) -> list[dict]:
    """Every job, in `workers` spawned single-thread processes (in this process when workers <= 1)."""
    if workers <= 1 or len(jobs) <= 1:
        return [train_job(j) for j in jobs]
    return list(spawn_map(train_job, [{**j, "threads": 1} for j in jobs], workers))


def saved_bytes(fn: Callable[[], torch.Tensor]) -> int:
    """Bytes autograd keeps for the backward pass of `fn()`: numel * element_size of every distinct tensor it
    saves (distinct by address, shape and dtype, so a tensor saved by two ops counts once). Exact, not a peak."""
    seen: dict[tuple, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        seen[(t.data_ptr(), tuple(t.shape), t.dtype)] = t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


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


# Quick: width 32 (not 64) and 5 epochs keep the 24 runs inside the 3-minute budget on 2 cores; the dopri5
# adjoint's backward pass costs ~0.4 s per step at width 32 on digits.
QUICK = NeuralODEScale()


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


def runs(ctx: Context):
    scale_config(ctx)  # bad overrides fail here, before any claim trains
    return []


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


def measure(ctx: Context, done: Runs) -> dict[str, Any]:
    import torch
    from skiplab.data import load_dataset, to_float
    from skiplab.claims.core.reproduce import default_workers
    s = scale_config(ctx)
    ev: dict[str, Any] = {"scale": ctx.scale, "seeds": ctx.seed_list, "data": list(s.data), "margin": MARGIN[ctx.scale],
                          "mem_steps": list(s.mem_steps), "datasets": {}}
    jobs = []
    for name in s.data:
        data = load_dataset(name, root=ctx.data_root)
        nets = nets_for(s, tuple(data.info.shape), data.model_kwargs())
        ode_preset, ode_args = nets["odenet"]
        x, y = to_float(data.train_x[:s.mem_batch]), data.train_y[:s.mem_batch]
        ev["datasets"][name] = {"nets": {k: {"model": m, "args": a} for k, m, a in
                                         ((k, *v) for k, v in nets.items())},
                                "memory": memory_curve(ode_preset, {**ode_args, **data.model_kwargs()}, x, y,
                                                       s.mem_steps)}
        for key, (model, args) in nets.items():
            train = s.train if ctx.max_steps is None else C.replace(s.train, batch_size=min(16, len(data.train_y)))
            jobs += [{"key": (name, key), "model": model, "args": args, "data": name, "data_root": ctx.data_root,
                      "train": train, "seed": seed} for seed in ctx.seed_list]
    jobs.sort(key=lambda j: j["key"][1] != "odenet")  # the slowest runs first, so the last to finish are short
    workers = 1 if torch.cuda.is_available() else default_workers()
    for r in run_jobs(jobs, workers):
        name, key = r.pop("key")
        ev["datasets"][name]["nets"][key].setdefault("runs", []).append(r)
    for d in ev["datasets"].values():
        for n in d["nets"].values():
            n["runs"].sort(key=lambda r: r["seed"])
    return ev
