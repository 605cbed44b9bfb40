"""The measurements behind robustness (rule.py): training with snapshots of the weights along the way
(so checkpoints can be matched on clean accuracy), attacks and Lipschitz bounds of a chosen checkpoint. Jobs are
plain dicts run in spawned single-thread workers (two small nets side by side use 2 cores better than one net
with two threads); the claim module holds the thresholds and the matching rule."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Callable

import torch
from safetensors.torch import load, save

from skiplab import config as C
from skiplab.claims.core.contract import Context
from skiplab.claims.core.scale import resolve_scale
from skiplab.data import pixel_range
from skiplab.train import Callback, TrainState
from skiplab.train.config import TrainConfig
from skiplab.claims.core.engine import spawn_map, with_progress

from .rule import NETS, choose

Job = dict[str, Any]


class Snapshots(Callback):
    """Every `every` steps (and at the start and the end): clean accuracy on the held-out batch (x, y) in eval mode
    and a CPU copy of the weights. Evaluation draws no random numbers and leaves batch-norm statistics alone, so
    training is the same as without it."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, every: int) -> None:
        self.x, self.y, self.every = x, y, every
        self.steps: list[int] = []
        self.acc: list[float] = []
        self.weights: list[dict[str, torch.Tensor]] = []

    def take(self, state: TrainState) -> None:
        if self.steps and self.steps[-1] == state.step:
            return
        model = state.model
        was = model.training
        model.eval()
        with torch.no_grad():
            right = sum(int((model(self.x[s:s + 500].to(state.device)).argmax(1).cpu() == self.y[s:s + 500]).sum())
                        for s in range(0, len(self.y), 500))
        model.train(was)
        self.steps.append(state.step)
        self.acc.append(right / len(self.y))
        self.weights.append({k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()})

    def on_fit_start(self, state: TrainState) -> None:
        self.take(state)

    def on_step_end(self, state: TrainState) -> None:
        if self.every and state.step % self.every == 0:
            self.take(state)

    def on_fit_end(self, state: TrainState, history: Any) -> None:
        if history.status != "diverged":
            self.take(state)


def _setup(job: Job):
    from skiplab.data import load_dataset
    from skiplab.models import create_model
    from skiplab.claims.core.engine import heldout_batch
    if job.get("threads"):
        torch.set_num_threads(job["threads"])
    data = load_dataset(job["data"], root=job["data_root"])
    torch.manual_seed(job["seed"])
    net = create_model(job["model"], **job["args"], **data.model_kwargs())
    x, y = heldout_batch(data, min(job["eval_examples"], len(data.test_y)))
    return data, net, x, y


def train_job(job: Job) -> dict[str, Any]:
    """Train one (model, seed) taking snapshots every job["every"] steps (0: start and end only)."""
    from skiplab.train import fit
    data, net, x, y = _setup(job)
    snaps = Snapshots(x, y, job["every"])
    t0 = time.process_time()
    hist = fit(net, data, job["train"], seed=job["seed"], callbacks=[snaps], verbose=False)
    # Weights travel back as safetensors bytes: many tensors through a Pool would each take a file descriptor
    return {"key": job["key"], "status": hist.status, "steps": snaps.steps, "acc": snaps.acc,
            "weights": [save(w) for w in snaps.weights], "params": net.num_parameters(),
            "epochs": len(hist.epochs),
            "steps_per_epoch": hist.epochs[0]["step"] if hist.epochs else 0,
            "cpu_seconds": time.process_time() - t0}


def attack_job(job: Job) -> dict[str, Any]:
    """Robust accuracy curves (L-inf and L2, worst of FGSM and two PGDs per example) of the weights job["state"]
    (safetensors bytes)
    on the held-out batch; with job["bounds"] also the Lipschitz bounds (tightened first for a budgeted net), the
    empirical lower bound and the certified L2 accuracy."""
    from skiplab.attacks import robust_curve, standard_attacks
    from skiplab.models.families.lipschitz import budgeted, tighten
    from skiplab.probes.lipschitz import certified_accuracy, lipschitz_bounds, margin_gradients
    from skiplab.train.loop import resolve_device
    data, net, x, y = _setup(job)
    bounds = pixel_range(data)
    net.load_state_dict(load(job["state"]))
    dev = resolve_device(job["device"])
    net.to(dev).eval()
    x, y = x.to(dev), y.to(dev)
    t0 = time.process_time()
    out: dict[str, Any] = {"key": job["key"]}
    for norm in ("linf", "l2"):
        c = robust_curve(net, x, y, job[f"{norm}_eps"], standard_attacks(norm, job["steps"], job["restarts"]),
                         bounds, seed=job["seed"])
        out[norm] = c
    out["clean"] = out["linf"]["clean"]
    if job.get("bounds"):
        if budgeted(net):
            tighten(net)
        b = lipschitz_bounds(net, x[:1])
        out["bound"] = b["total"]
        out["branch"] = [blk["branch"] for blk in b["blocks"]]
        out["lower"] = margin_gradients(net, x, y)["lower_bound"]
        out["certified"] = certified_accuracy(net, x, y, b["total"], job["l2_eps"])
    out["cpu_seconds"] = time.process_time() - t0
    return out


def run_pool(fn: Callable[[Job], dict[str, Any]], jobs: list[Job], workers: int, what: str = "jobs",
             say: Callable[[str], None] = lambda s: None) -> list[dict[str, Any]]:
    """fn over jobs, in `workers` spawned single-thread processes (in this process when workers <= 1), in order,
    saying progress as each finishes."""
    if workers <= 1 or len(jobs) <= 1:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # tiny nets: a second thread costs more than it saves on a busy 2-core CPU
        try:
            return list(with_progress(map(fn, jobs), len(jobs), what, say))
        finally:
            torch.set_num_threads(threads)
    return list(with_progress(spawn_map(fn, [{**j, "threads": 1} for j in jobs], workers), len(jobs), what, say))


@dataclass(frozen=True)
class RobustScale:
    data: str = C.option("digits", "dataset of every run")
    resnet: str = C.option("resnet20", "the residual net")
    plain: str = C.option("plain20", "its plain twin")
    vgg: str = C.option("vgg11", "the VGG-style net")
    vgg_width: float = C.option(0.25, "width multiplier of the VGG-style net")
    budget_model: str = C.option("lipresnet20", "the Lipschitz-budget ResNet of the trade-off")
    budgets: tuple[float, ...] = C.option((0.5, 1.0, 2.0), "budgets c of the trade-off (each branch Lip <= c)")
    train: TrainConfig = C.option(TrainConfig(), "the training recipe of every run")
    budget_lr: float = C.option(0.1, "learning rate of the budget runs (else the same recipe)")
    snapshot_every: int = C.option(5, "steps between weight snapshots (scored on the held-out examples)")
    eval_examples: int = C.option(450, "held-out (test) examples for matching and attacks, spread over the split")
    linf_eps: tuple[float, ...] = C.option((0.0, 0.02, 0.05, 0.1), "L-inf epsilons (pixels in [0, 1]), from 0")
    l2_eps: tuple[float, ...] = C.option((0.0, 0.1, 0.25, 0.5), "L2 epsilons, from 0")
    pgd_steps: int = C.option(10, "steps of each PGD")
    restarts: int = C.option(1, "random restarts of each PGD")

    def describe(self, seeds: int) -> str:
        t = self.train
        return (f"{self.data}; {self.resnet} / {self.plain} / {self.vgg} (width {self.vgg_width}); {t.epochs} epochs "
                f"of batch {t.batch_size} (sgd lr {t.lr}, {t.warmup_epochs:g} warm-up epoch, {t.schedule}), "
                f"snapshots every {self.snapshot_every} steps; {self.eval_examples} held-out examples; L-inf eps "
                f"{list(self.linf_eps)}, L2 eps {list(self.l2_eps)}, PGD {self.pgd_steps} steps x {self.restarts}; "
                f"{self.budget_model} at c = {list(self.budgets)} (lr {self.budget_lr}); {seeds} seed(s)")


# Quick: the ladder's digits recipe (batch 64, lr 0.05, one warm-up epoch) for 8 epochs; a first timing run of all
# nets at 10 epochs on the loaded 2-core CPU needed ~9 s per net plus ~15 s of attacks, over the 3-minute budget.
# The budget runs use lr 0.1: in that timing run the norm-free lipresnet20 (c = 1) reached only 80% test accuracy
# at lr 0.05 (bounded branches and ends make small logits, so it learns slowly). Set before any verdict was seen.
QUICK = RobustScale(train=TrainConfig(epochs=8, batch_size=64, lr=0.05, warmup_epochs=1.0))


FULL = RobustScale(data="cifar10", vgg_width=0.5, budgets=(0.5, 1.0, 2.0, 4.0), snapshot_every=391,
                   train=TrainConfig(epochs=60, warmup_epochs=1.0, precision="bf16"), eval_examples=1000,
                   linf_eps=(0.0, 1 / 255, 2 / 255, 4 / 255, 8 / 255), l2_eps=(0.0, 0.1, 0.25, 0.5, 1.0),
                   pgd_steps=20, restarts=2, budget_lr=0.1)


def scale_config(ctx: Context) -> RobustScale:
    s = resolve_scale(ctx, QUICK, FULL, data_key="data")
    if ctx.max_steps is not None:  # a smoke run: a few steps, a few examples, short attacks
        s = replace(s, train=replace(s.train, max_steps=ctx.max_steps, max_eval_examples=100),
                    eval_examples=min(s.eval_examples, 32), pgd_steps=min(s.pgd_steps, 2),
                    budgets=(min(s.budgets), max(s.budgets)), linf_eps=s.linf_eps[:2], l2_eps=s.l2_eps[:2])
    if s.linf_eps[0] != 0 or s.l2_eps[0] != 0 or not s.budgets:
        from skiplab.errors import ConfigError
        raise ConfigError("scale: linf_eps and l2_eps must start at 0 (clean) and budgets must not be empty")
    return s


def runs(ctx: Context) -> list:
    """None shared: matching needs snapshots along training, which claims runs do not keep; measure trains."""
    return []


def budget(ctx: Context) -> str:
    return scale_config(ctx).describe(ctx.seeds)


def _jobs(ctx: Context, s: RobustScale) -> list[Job]:
    base = {"data": s.data, "data_root": ctx.data_root, "eval_examples": s.eval_examples}
    nets = {"resnet": (s.resnet, {}), "plain": (s.plain, {}), "vgg": (s.vgg, {"width_mult": s.vgg_width})}
    jobs = [{**base, "key": (n, seed), "model": m, "args": a, "seed": seed, "train": s.train,
             "every": s.snapshot_every} for n, (m, a) in nets.items() for seed in ctx.seed_list]
    bt = replace(s.train, lr=s.budget_lr)
    jobs += [{**base, "key": (f"c={c:g}", seed), "model": s.budget_model, "args": {"budget": c}, "seed": seed,
              "train": bt, "every": 0} for c in s.budgets for seed in ctx.seed_list]
    return jobs


def measure(ctx: Context, done: Any) -> dict[str, Any]:
    from skiplab.claims.core.reproduce import default_workers
    s = scale_config(ctx)
    jobs = _jobs(ctx, s)
    workers = 1 if ctx.max_steps is not None else default_workers()  # smoke: spawning workers costs more
    trained = {tuple(r["key"]): r for r in run_pool(train_job, jobs, workers, "training runs", done.say)}
    common = {"linf_eps": list(s.linf_eps), "l2_eps": list(s.l2_eps), "steps": s.pgd_steps,
              "restarts": s.restarts, "device": s.train.device}
    match, attacks = [], []
    for seed in ctx.seed_list:
        target, idx = choose({n: trained[(n, seed)]["acc"] for n in NETS})
        chosen = {n: {"index": i, "step": trained[(n, seed)]["steps"][i], "acc": trained[(n, seed)]["acc"][i],
                      "steps": trained[(n, seed)]["steps"], "curve": trained[(n, seed)]["acc"]} for n, i in idx.items()}
        match.append({"seed": seed, "target": target, "chosen": chosen})
        for j in jobs:
            if j["key"][1] == seed and j["key"][0] in NETS:
                w = trained[j["key"]]["weights"][idx[j["key"][0]]]
                # bounds of the unconstrained nets: reported for the first seed (not in smoke runs: ~2 s a net)
                bounds = seed == ctx.seed_list[0] and ctx.max_steps is None
                attacks.append({**j, **common, "state": w, "bounds": bounds})
    for j in jobs:
        if j["key"][0] not in NETS:
            attacks.append({**j, **common, "state": trained[j["key"]]["weights"][-1], "bounds": True})
    measured = {tuple(r["key"]): r for r in run_pool(attack_job, attacks, workers, "attacks and bounds", done.say)}
    curves = {n: [measured[(n, seed)] for seed in ctx.seed_list] for n in NETS}
    budgets = {f"{c:g}": [measured[(f"c={c:g}", seed)] for seed in ctx.seed_list] for c in s.budgets}
    status = {f"{k[0]} seed {k[1]}": r["status"] for k, r in trained.items()}
    return {"seeds": ctx.seed_list, "scale": C.to_dict(s), "match": match, "curves": curves,
            "budgets": [float(c) for c in s.budgets], "budget_runs": budgets, "status": status,
            "params": {k[0]: r["params"] for k, r in trained.items()},
            "cpu_seconds": sum(r["cpu_seconds"] for r in list(trained.values()) + list(measured.values()))}
