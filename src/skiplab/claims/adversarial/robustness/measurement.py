"""The measurements behind robustness (rule.py holds the thresholds and the matching rule): runs of the engine that
snapshot their weights along training (so checkpoints can be matched on clean accuracy), then attacks and
Lipschitz bounds of the chosen snapshots, as plain-dict jobs in the context's worker processes (Context.map)."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from skiplab import config as C
from skiplab.claims.core.contract import Context
from skiplab.claims.core.datasets import dataset, heldout_batch
from skiplab.claims.core.engine import Done, RunSpec
from skiplab.claims.core.runspec import Snapshots
from skiplab.claims.core.scale import resolve_scale
from skiplab.data import pixel_range
from skiplab.train.checkpoint import read_weights
from skiplab.train.config import TrainConfig
from skiplab.train.experiment import DataConfig, ModelConfig, RunConfig

from .rule import NETS, choose

Job = dict[str, Any]


def _setup(job: Job):
    from skiplab.models import create_model
    data = dataset(job["data"], job["data_root"])
    torch.manual_seed(job["seed"])
    net = create_model(job["model"], **job["args"], **data.model_kwargs())
    x, y = heldout_batch(data, min(job["eval_examples"], len(data.test_y)))
    return data, net, x, y


def _curve(net, x, y, job: Job, norm: str, bounds: tuple[float, float]) -> dict[str, Any]:
    """The strong curve (skiplab.attacks.strong_curve: the cheap attacks on every example, PGD / APGD-CE / APGD-T on
    their survivors) at the nonzero epsilons, with the clean point put in front: an attack inside a ball of radius 0
    changes nothing, and the strong attacks would otherwise run on every right example there, a third of the cost."""
    from skiplab.attacks import standard_attacks, strong_curve
    eps = job[f"{norm}_eps"]
    c = strong_curve(net, x, y, [e for e in eps if e > 0], norm, weak=standard_attacks(norm, job["steps"],
                     job["restarts"]), bounds=bounds, seed=job["seed"], steps=job["strong_steps"],
                     restarts=job["strong_restarts"], apgd_steps=job["apgd_steps"], targets=job["targets"])
    c["eps"], c["accuracy"] = [0.0, *c["eps"]], [c["clean"], *c["accuracy"]]
    for part in ("per_attack", "cascade"):
        c[part] = {k: [c["clean"], *v] for k, v in c[part].items()}
    # the cheap attacks alone (each one's own rate): the strong curve must never lie above their lowest
    c["weak"] = [min(v) for v in zip(*c["per_attack"].values())]
    return c


def attack_job(job: Job) -> dict[str, Any]:
    """Strong robust accuracy curves (_curve) of the weights in the file job["weights"] (a snapshot of a finished
    run) on the held-out batch; with job["bounds"] also the Lipschitz bounds (tightened first for a budgeted net),
    the empirical lower bound and the certified L2 accuracy."""
    from skiplab.models.families.lipschitz import budgeted, tighten
    from skiplab.probes.lipschitz import certified_accuracy, lipschitz_bounds, margin_gradients
    from skiplab.train.loop import resolve_device
    data, net, x, y = _setup(job)
    bounds = pixel_range(data)
    net.load_state_dict(read_weights(Path(job["weights"])))
    dev = resolve_device(job["device"])
    net.to(dev).eval()
    x, y = x.to(dev), y.to(dev)
    t0 = time.process_time()
    out: dict[str, Any] = {"key": job["key"]}
    for norm in job["norms"]:
        out[norm] = _curve(net, x, y, job, norm, bounds)
    out["clean"] = out[job["norms"][0]]["clean"]
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


@dataclass(frozen=True)
class RobustScale:
    data: str = C.option("digits", "dataset of every run")
    resnet: str = C.option("resnet20", "the residual net")
    plain: str = C.option("plain20", "its plain twin")
    vgg: str = C.option("vgg11", "the VGG-style net")
    vgg_width: float = C.option(0.25, "width multiplier of the VGG-style net")
    budget_model: str = C.option("lipresnet20", "the Lipschitz-budget ResNet of the trade-off")
    budgets: tuple[float, ...] = C.option((0.5, 2.0), "the tight and the loose budget c of the trade-off (each "
                                                     "branch Lip <= c)")
    train: TrainConfig = C.option(TrainConfig(), "the training recipe of every run")
    budget_lr: float = C.option(0.1, "learning rate of the budget runs (else the same recipe)")
    budget_linf: bool = C.option(True, "also attack the budget nets in L-inf (reported, not judged: the trade-off "
                                       "reads the L2 curves)")
    snapshot_every: int = C.option(5, "steps between weight snapshots (scored on the held-out examples)")
    loose_snapshot_every: int = C.option(1, "steps between snapshots of the loose budget's run: it climbs fast and "
                                            "is matched down to the tight one's plateau, so it needs a fine grid")
    eval_examples: int = C.option(450, "held-out (test) examples for matching and attacks, spread over the split")
    linf_eps: tuple[float, ...] = C.option((0.0, 0.02, 0.05, 0.1), "L-inf epsilons (pixels in [0, 1]), from 0")
    l2_eps: tuple[float, ...] = C.option((0.0, 0.1, 0.25, 0.5), "L2 epsilons, from 0")
    budget_epochs: int = C.option(6, "epochs of every budget run (all budgets the same recipe)")
    pgd_steps: int = C.option(10, "steps of each cheap PGD (run on every example)")
    restarts: int = C.option(1, "random restarts of each cheap PGD")
    strong_steps: int = C.option(50, "steps of the strong PGDs (from x and from random starts; on the survivors)")
    strong_restarts: int = C.option(3, "random starts of the strong PGD")
    apgd_steps: int = C.option(100, "steps of APGD-CE and of APGD-T per target class")
    targets: int = C.option(9, "target classes of APGD-T")

    def describe(self, seeds: int) -> str:
        t = self.train
        return (f"{self.data}; {self.resnet} / {self.plain} / {self.vgg} (width {self.vgg_width}); {t.epochs} epochs "
                f"of batch {t.batch_size} (sgd lr {t.lr}, {t.warmup_epochs:g} warm-up epoch, {t.schedule}), "
                f"snapshots every {self.snapshot_every} steps (the loose budget every {self.loose_snapshot_every}); "
                f"{self.eval_examples} held-out examples; L-inf eps {list(self.linf_eps)}, L2 eps "
                f"{list(self.l2_eps)}, cheap PGD {self.pgd_steps} steps x {self.restarts} then "
                f"PGD {self.strong_steps} x {self.strong_restarts} + 1, APGD-CE {self.apgd_steps}, APGD-T "
                f"{self.apgd_steps} x {self.targets} targets on the survivors; {self.budget_model} at c = "
                f"{list(self.budgets)} ({self.budget_epochs} epochs, lr {self.budget_lr}"
                f"{'' if self.budget_linf else ', L2 attacks only'}); {seeds} seed(s)")


# Quick: the ladder's digits recipe (batch 64, lr 0.05, one warm-up epoch); a first timing run of all nets at 10
# epochs on the loaded 2-core CPU needed ~9 s per net plus ~15 s of attacks, over the 3-minute budget.
# The budget runs use lr 0.1: in that timing run the norm-free lipresnet20 (c = 1) reached only 80% test accuracy
# at lr 0.05 (bounded branches and ends make small logits, so it learns slowly). Set before any verdict was seen.
# For 6 seeds (issue 19) the quick budget was cut to ~2/3 per seed (at 3 seeds: ~47 s of training and ~55 s of
# attacks per seed, ~9 s per attack job), so that the claim alone fits 5 minutes on 2 workers: 6 epochs instead
# of 8 (training x0.75; every net still passes its matched target, which is the lowest best accuracy), only the
# smallest and largest budget c (the only two the trade-off judges; c = 1 was reported only), and no L-inf
# attacks on the budget nets (reported only; the share is L2): training ~29 s and attacks ~36 s per seed.
# Issue 21: the attacks became the strong evaluation (cheap attacks on every example, then PGD from x and from
# random starts, APGD-CE and APGD-T on the survivors), and the budget runs train longer (budget_epochs).
# Both budget runs share one recipe rather than only the tight one training longer: then the cost D reads the two
# nets after the same training (their final snapshots), and the matched snapshots differ only in where along one
# schedule each net reaches the target, not in the schedule itself (multistep milestones scale with the epochs).
# A one-seed pilot (seen before the rule was registered; loaded 2-core CPU): c = 0.5 reached a best held-out accuracy
# of ~33-61% at 6 epochs (the committed run), 72.9% at 12 and 87.3% at 18 (flat from epoch ~10 on: the budget, not
# the training, caps it), c = 2 97-98%; 18 epochs cost ~12 s a run. The strong attacks below AutoAttack's standard
# budget: at PGD-20 x (1 + 1), APGD 50 steps, APGD-T 3 targets a strong curve of resnet20 took ~50 s of one core
# (the cheap attacks ~6 s), ~290 s of attacks per seed, ~16 min for 6 seeds on 2 workers; PGD-10, APGD 25 steps
# and 1 target took ~20 s and found robust accuracy within 1 point of it at the largest epsilon (0.3 point on the mean
# over epsilons), 2-3 points below the cheap attacks alone.
# Snapshot grids: in that pilot the loose net (c = 2) climbed ~2 points per 5-step snapshot where it crossed the
# tight net's plateau (~87%), so a 1-point band caught it on about half the seeds (part 1 failed its band by 1.11%
# on one seed of the committed run the same way). The loose budget is snapshotted every step (~1 MB each, ~2.4 GB
# for 6 seeds) and part 1's nets every 2 steps; chosen from the pilot's step size, before the 6-seed run.
QUICK = RobustScale(train=TrainConfig(epochs=6, batch_size=64, lr=0.05, warmup_epochs=1.0), budgets=(0.5, 2.0),
                    snapshot_every=2, loose_snapshot_every=1, budget_linf=False, budget_epochs=18, strong_steps=10,
                    strong_restarts=1, apgd_steps=25, targets=1)


# (budget_epochs at full: twice the recipe, not piloted)
FULL = RobustScale(data="cifar10", vgg_width=0.5, budgets=(0.5, 4.0), snapshot_every=391,
                   train=TrainConfig(epochs=60, warmup_epochs=1.0, precision="bf16"), eval_examples=1000,
                   linf_eps=(0.0, 1 / 255, 2 / 255, 4 / 255, 8 / 255), l2_eps=(0.0, 0.1, 0.25, 0.5, 1.0),
                   pgd_steps=20, restarts=2, budget_lr=0.1, budget_epochs=120, loose_snapshot_every=78)


def scale_config(ctx: Context) -> RobustScale:
    s = resolve_scale(ctx, QUICK, FULL, data_key="data")
    if ctx.max_steps is not None:  # a smoke run: a few steps, a few examples, short attacks
        s = replace(s, train=replace(s.train, max_steps=ctx.max_steps, max_eval_examples=100),
                    eval_examples=min(s.eval_examples, 32), pgd_steps=min(s.pgd_steps, 2),
                    strong_steps=min(s.strong_steps, 2), strong_restarts=1, apgd_steps=min(s.apgd_steps, 3),
                    targets=min(s.targets, 2), linf_eps=s.linf_eps[:2], l2_eps=s.l2_eps[:2])
    if (s.linf_eps[0] != 0 or s.l2_eps[0] != 0 or len(s.linf_eps) < 2 or len(s.l2_eps) < 2
            or len(set(s.budgets)) != 2):
        from skiplab.errors import ConfigError
        raise ConfigError("scale: linf_eps and l2_eps must start at 0 (clean) and go on to a nonzero epsilon, and "
                          "budgets must be two values (the tight and the loose c)")
    return s


def specs(ctx: Context) -> dict[tuple[str, int], RunSpec]:
    """(net, seed) -> its run: every net (the three of part 1 and the Lipschitz-budget nets "c=<budget>", these with
    their own learning rate and epochs) snapshots its weights every `snapshot_every` steps: matching reads the
    accuracy curve."""
    s = scale_config(ctx)
    data = DataConfig(name=s.data, root=ctx.data_root)
    nets = {"resnet": (s.resnet, {}), "plain": (s.plain, {}), "vgg": (s.vgg, {"width_mult": s.vgg_width})}
    out = {(n, seed): RunSpec(RunConfig(model=ModelConfig(m, a), data=data, train=s.train, seed=seed), probes=None,
                              snapshots=Snapshots(s.snapshot_every, s.eval_examples))
           for n, (m, a) in nets.items() for seed in ctx.seed_list}
    bt = replace(s.train, lr=s.budget_lr, epochs=s.budget_epochs)
    every = {c: s.loose_snapshot_every if c == max(s.budgets) else s.snapshot_every for c in s.budgets}
    out.update({(f"c={c:g}", seed): RunSpec(RunConfig(model=ModelConfig(s.budget_model, {"budget": c}), data=data,
                                                      train=bt, seed=seed), probes=None,
                                            snapshots=Snapshots(every[c], s.eval_examples))
                for c in s.budgets for seed in ctx.seed_list})
    return out


def runs(ctx: Context) -> list[RunSpec]:
    return list(specs(ctx).values())


def budget(ctx: Context) -> str:
    return scale_config(ctx).describe(ctx.seeds)


def match_budgets(snaps: dict[str, dict[str, list]]) -> tuple[float, dict[str, int], dict[str, int]]:
    """Part 2's snapshots, from each budget's {"steps", "acc"}: (target, the matched snapshot index per budget
    (rule.choose), the index of its snapshot after equal training: at the last step both runs reached, the final
    one unless a run stopped early)."""
    target, idx = choose({c: sn["acc"] for c, sn in snaps.items()})
    last = min(sn["steps"][-1] for sn in snaps.values())
    return target, idx, {c: max(i for i, st in enumerate(sn["steps"]) if st <= last) for c, sn in snaps.items()}


def measure(ctx: Context, done: Done) -> dict[str, Any]:
    s = scale_config(ctx)
    trained = specs(ctx)
    snaps = {k: done.snapshots(sp) for k, sp in trained.items()}
    common = {"data": s.data, "data_root": ctx.data_root, "eval_examples": s.eval_examples,
              "linf_eps": list(s.linf_eps), "l2_eps": list(s.l2_eps), "steps": s.pgd_steps, "restarts": s.restarts,
              "strong_steps": s.strong_steps, "strong_restarts": s.strong_restarts, "apgd_steps": s.apgd_steps,
              "targets": s.targets, "device": s.train.device}

    budget_norms = ("linf", "l2") if s.budget_linf else ("l2",)

    def attack(key: tuple[str, int], index: int, bounds: bool, norms: tuple[str, ...] = ("linf", "l2")) -> Job:
        sp = trained[key]
        return {**common, "key": key, "model": sp.run.model.name, "args": dict(sp.run.model.overrides), "seed": key[1],
                "weights": str(done.snapshot_file(sp, snaps[key]["steps"][index])), "bounds": bounds,
                "norms": list(norms)}

    def picked(key: tuple[str, int], i: int) -> dict[str, Any]:
        sn = snaps[key]
        return {"index": i, "step": sn["steps"][i], "acc": sn["acc"][i], "steps": sn["steps"], "curve": sn["acc"]}

    match, budget_match, attacks = [], [], []
    cs = [f"{c:g}" for c in sorted(s.budgets)]
    for seed in ctx.seed_list:
        target, idx = choose({n: snaps[(n, seed)]["acc"] for n in NETS})
        match.append({"seed": seed, "target": target, "chosen": {n: picked((n, seed), i) for n, i in idx.items()}})
        # bounds of the unconstrained nets: reported for the first seed (not in smoke runs: ~2 s a net)
        attacks += [attack((n, seed), idx[n], seed == ctx.seed_list[0] and ctx.max_steps is None) for n in NETS]
        bsn = {c: snaps[(f"c={c}", seed)] for c in cs}
        btarget, bidx, equal = match_budgets(bsn)
        budget_match.append({"seed": seed, "target": btarget,
                             "chosen": {c: picked((f"c={c}", seed), i) for c, i in bidx.items()},
                             "equal": {c: {"step": bsn[c]["steps"][i], "acc": bsn[c]["acc"][i]}
                                       for c, i in equal.items()}})
        attacks += [attack((f"c={c}", seed), bidx[c], True, budget_norms) for c in cs]
    measured = {tuple(r["key"]): r for r in ctx.map(attack_job, attacks, "attacks and bounds")}
    curves = {n: [measured[(n, seed)] for seed in ctx.seed_list] for n in NETS}
    budgets = {c: [measured[(f"c={c}", seed)] for seed in ctx.seed_list] for c in cs}
    status = {f"{k[0]} seed {k[1]}": done.result(sp)["status"] for k, sp in trained.items()}
    # the n of every accuracy's binomial noise: the held-out examples the snapshots were scored and attacked on
    examples = min(r["l2"]["examples"] for r in measured.values())
    return {"seeds": ctx.seed_list, "scale": C.to_dict(s), "examples": examples, "match": match, "curves": curves,
            "budgets": sorted(float(c) for c in s.budgets), "budget_match": budget_match, "budget_runs": budgets,
            "status": status, "params": {k[0]: done.result(sp)["params"] for k, sp in trained.items()},
            "attack_cpu_seconds": sum(r["cpu_seconds"] for r in measured.values())}
