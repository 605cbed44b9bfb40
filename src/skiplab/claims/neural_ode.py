"""neural-ode: a continuous-depth ODE-Net matches a ResNet with far fewer parameters; its NFE grows in training;
the adjoint trains in memory constant in depth (Chen et al. 2018).

Four nets per dataset, the same recipe each: the ODE-Net (dopri5, adjoint), the RK-Net (RK4, backprop through
its steps), a ResNet of the usual size and a ResNet whose widths are scaled to the ODE-Net's parameter count.
NFE per training step is recorded every epoch; the bytes autograd saves for backward are counted exactly for the
ODE-Net's block solved by RK4 at 1..32 steps, adjoint vs backprop. Training runs inside `measure` (its NFE
recorder is no shared run's probe), in single-thread worker processes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import config as C
from ..train import TrainConfig
from ._node_measure import memory_curve, run_jobs
from ._node_present import present  # noqa: F401  (part of the claim's interface)
from ._overrides import own_overrides
from .base import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Claim, Context, Verdict
from .runs import Runs
from .stats import fmt_pct, summary

MARGIN = {"quick": 0.02, "full": 0.01}  # ODE-Net accuracy may trail a ResNet by at most this (one-sided)
FEWER = 0.5  # "far fewer parameters": at most half the usual ResNet's (Chen et al.: 0.22M vs 0.60M = 0.37)
MATCH = 0.10  # the parameter-matched ResNet is within 10% of the ODE-Net's count, else the comparison is void
ADJ_FLAT = 1.3  # adjoint saved bytes grow by less than 1.3x from the fewest to the most solver steps ...
BP_GROWS = 4.0  # ... while backprop's grow by more than 4x (32x the steps; a smaller growth = broken measurement)
NETS = ("odenet", "rknet", "resnet", "matched")

CLAIM = Claim(
    id="neural-ode",
    kind="empirical",
    statement="A continuous-depth ODE-Net matches a ResNet with far fewer parameters; its NFE grows in training; "
              "the adjoint trains in memory constant in depth.",
    source="Chen et al. 2018 (MNIST: ResNet 0.41% error 0.60M params, RK-Net 0.47% 0.22M, ODE-Net 0.42% 0.22M)",
    rule=(f"Test accuracy after the same recipe, per dataset and seed. Margin: {MARGIN['quick']:.0%} at quick "
          f"scale (about two binomial standard errors of digits' 450 test examples at 95% accuracy), "
          f"{MARGIN['full']:.0%} at full scale (CIFAR-10's 10,000). Precondition: the matched ResNet's parameters "
          f"are within {MATCH:.0%} of the ODE-Net's, else inconclusive. Supported if on every dataset the ODE-Net's "
          f"mean accuracy is at least each ResNet's (usual and matched) minus the margin, AND the ODE-Net has at "
          f"most {FEWER:g}x the usual ResNet's parameters, AND its mean forward NFE per step in the last epoch "
          f"exceeds the first epoch's on more than half of the (dataset, seed) runs, AND on every dataset the "
          f"adjoint's saved bytes grow < {ADJ_FLAT:g}x from the fewest to the most RK4 steps while backprop's grow "
          f"> {BP_GROWS:g}x. Not supported if on some dataset the ODE-Net trails one of the ResNets by more than "
          f"the margin on every seed, or it has more parameters than the usual ResNet, or its NFE grows on no "
          f"run, or on some dataset backprop's bytes grow > {BP_GROWS:g}x while the adjoint's grow >= "
          f"{ADJ_FLAT:g}x. Otherwise inconclusive."),
)


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
    from ..models import create_model
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
    from ..data import load_dataset, to_float
    from .reproduce import default_workers
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


def _accs(ev: dict, name: str, net: str) -> list[float]:
    return [float("nan") if r["acc"] is None else r["acc"] for r in ev["datasets"][name]["nets"][net]["runs"]]


def _params(ev: dict, name: str, net: str) -> int:
    return ev["datasets"][name]["nets"][net]["runs"][0]["params"]


def nfe_grows(run: dict[str, Any]) -> bool:
    rows = run["nfe"]
    return len(rows) >= 2 and rows[-1]["forward"] > rows[0]["forward"]


def growth(curve: list[int]) -> float:
    return curve[-1] / curve[0]


def verdict(evidence: dict[str, Any]) -> Verdict:
    ev, margin = evidence, evidence["margin"]
    names = list(ev["datasets"])
    for n in names:
        p, m = _params(ev, n, "odenet"), _params(ev, n, "matched")
        if abs(m - p) > MATCH * p:
            return Verdict(INCONCLUSIVE, f"precondition failed on {n}: matched ResNet {m} params vs ODE-Net {p}")
    mean = lambda v: summary(v)["mean"]  # noqa: E731
    close = all(mean(_accs(ev, n, "odenet")) is not None and all(
        mean(_accs(ev, n, r)) is not None and mean(_accs(ev, n, "odenet")) >= mean(_accs(ev, n, r)) - margin
        for r in ("resnet", "matched")) for n in names)
    trails = [f"{n} vs {r}" for n in names for r in ("resnet", "matched")
              if all(not (o >= b - margin) for o, b in zip(_accs(ev, n, "odenet"), _accs(ev, n, r)))]
    ratios = [_params(ev, n, "odenet") / _params(ev, n, "resnet") for n in names]
    # a run of one epoch has no first-to-last change to count
    runs = [r for n in names for r in ev["datasets"][n]["nets"]["odenet"]["runs"] if len(r["nfe"]) >= 2]
    grows = sum(nfe_grows(r) for r in runs)
    mem = {n: (growth(ev["datasets"][n]["memory"]["adjoint"]), growth(ev["datasets"][n]["memory"]["backprop"]))
           for n in names}
    mem_ok = all(a < ADJ_FLAT and b > BP_GROWS for a, b in mem.values())
    mem_bad = [n for n, (a, b) in mem.items() if b > BP_GROWS and a >= ADJ_FLAT]
    said = "; ".join(
        f"{n}: accuracy ODE-Net {fmt_pct(summary(_accs(ev, n, 'odenet')))}, RK-Net "
        f"{fmt_pct(summary(_accs(ev, n, 'rknet')))}, ResNet {fmt_pct(summary(_accs(ev, n, 'resnet')))}, matched "
        f"{fmt_pct(summary(_accs(ev, n, 'matched')))}; params {_params(ev, n, 'odenet')} vs "
        f"{_params(ev, n, 'resnet')}; saved bytes x{mem[n][0]:.2f} adjoint vs x{mem[n][1]:.1f} backprop"
        for n in names) + f"; forward NFE grew on {grows}/{len(runs)} runs (margin {margin:.0%})"
    if close and max(ratios) <= FEWER and runs and grows * 2 > len(runs) and mem_ok:
        return Verdict(SUPPORTED, f"the ODE-Net matches both ResNets with fewer parameters, its NFE grows and the "
                                  f"adjoint's memory is flat: {said}")
    why = ([f"trails on every seed ({', '.join(trails)})"] if trails else []) + \
          (["has more parameters than the usual ResNet"] if max(ratios) > 1 else []) + \
          (["NFE grew on no run"] if runs and grows == 0 else []) + \
          ([f"adjoint memory grows ({', '.join(mem_bad)})"] if mem_bad else [])
    if why:
        return Verdict(NOT_SUPPORTED, f"the ODE-Net {'; '.join(why)}: {said}")
    return Verdict(INCONCLUSIVE, f"seeds or parts disagree: {said}")
