"""The depth ladder the first four claims share: plain and residual twins at several depths, trained once each
(per seed) and read by degradation, degradation-cause and vanishing-gradients; plus the pre-activation pair the
Jacobian claim needs (x_{l+1} = x_l + F(x_l) holds exactly only for pre-activation blocks).

Scales are data: QUICK fits the 2-core CPU (digits, depths 8/20/56); CIFAR is CIFAR-10 at He et al.'s depths with
a short recipe for minutes of one GPU; FULL is He et al.'s CIFAR-10 setting (depths 20/56/110, 64k iterations of
batch 128 = 164 epochs, lr / 10 at 50% and 75%). The claims that read only the ladder's runs declare
LADDER_SCALES, so `--scale cifar` runs them (and refuses the others)."""

from __future__ import annotations

from dataclasses import dataclass

from skiplab import config as C
from skiplab.errors import ConfigError
from skiplab.models import list_models
from skiplab.train.config import TrainConfig
from skiplab.train.experiment import DataConfig, ModelConfig, RunConfig
from skiplab.claims.core.contract import Context
from skiplab.claims.core.engine import RunSpec
from skiplab.claims.core.runspec import Probes
from skiplab.claims.core.scale import shared


@shared
@dataclass(frozen=True)
class LadderScale:
    data: str = C.option("digits", "dataset of every run")
    depths: tuple[int, ...] = C.option((8, 20, 56), "depths of the plain/residual twins (>= 3)")
    jacobian_depth: int = C.option(20, "depth of the pre-activation pair whose block Jacobians are probed")
    probe_examples: int = C.option(256, "training examples in the fixed batch the gradient probe uses")
    probe_every: int = C.option(2, "record the gradient probe every N epochs (and at init and the end)")
    train: TrainConfig = C.option(TrainConfig(), "the training recipe of every run")

    def describe(self, seeds: int) -> str:
        t = self.train
        warm = f", {t.warmup_epochs:g} warm-up epoch(s)" if t.warmup_epochs else ""
        return (f"{self.data}, depths {'/'.join(map(str, self.depths))}, {t.epochs} epochs of batch {t.batch_size} "
                f"({t.optimizer} lr {t.lr}{warm}, {t.schedule}, wd {t.weight_decay}, {t.precision}) per run, "
                f"{seeds} seed{'s' * (seeds != 1)}; gradient probe on {self.probe_examples} fixed training examples "
                f"every {self.probe_every} epochs")


# Quick: batch 64 at lr 0.05 with a one-epoch warm-up. At He et al.'s batch 128 / lr 0.1 without warm-up the
# first quick run left resnet-56 at 35-73% train error after 10 epochs (its first steps blew up; He et al. warm
# up their 110-layer net for the same reason), which fails the fair-test precondition. Every net gets this budget.
QUICK = LadderScale(train=TrainConfig(epochs=10, batch_size=64, lr=0.05, warmup_epochs=1.0, eval_train=True))
FULL = LadderScale(data="cifar10", depths=(20, 56, 110), jacobian_depth=56, probe_examples=512,
                   train=TrainConfig(epochs=164, warmup_epochs=1.0, precision="bf16", eval_train=True))


# Cifar (issue 22): CIFAR-10 at He et al.'s depths, 6 seeds, a short modern recipe (batch 512, SGD Nesterov at lr
# 0.4 = 0.1 x 512 / 128 with a one-cycle warm-up, wd 5e-4, bf16, 8 epochs), sized for the nine claims that read the
# ladder to finish within ~8 minutes of one H100. The size is an estimate from the recorded H200 throughput
# (benchmarks/results/h200-2026-11-27: compiled bf16 resnet20 ~200k img/s, resnet56 ~72k at large batch): with the 6
# seeds of each configuration stepped together (population training, recorders included), ~50 s an epoch for the
# 42 runs, ~8 epochs; one by one (eager bf16) the same numbers give ~3 epochs in 8 minutes. Not yet measured on a
# GPU: benchmarks/gpu_cifar.sh measures it.
CIFAR = LadderScale(data="cifar10", depths=(20, 56, 110), jacobian_depth=56, probe_examples=512,
                    train=TrainConfig(epochs=8, batch_size=512, lr=0.4, nesterov=True, weight_decay=5e-4,
                                      schedule="onecycle", precision="bf16", eval_train=True))
BY_SCALE = {"quick": QUICK, "cifar": CIFAR, "full": FULL}


def scale_config(ctx: Context) -> LadderScale:
    base = BY_SCALE[ctx.scale]
    data = C.to_dict(base)
    if ctx.data:
        data["data"] = ctx.data
    if ctx.max_steps is not None:  # a smoke run: a few steps, and evaluations on the first 1,000 examples
        data["train"]["max_steps"] = ctx.max_steps
        data["train"]["max_eval_examples"] = 1000
    cfg = C.from_dict(LadderScale, C.apply_overrides(data, ctx.overrides), "scale")
    if len(cfg.depths) < 3:
        raise ConfigError(f"scale.depths: the claims need at least 3 depths, got {cfg.depths}")
    return cfg


LADDER_SCALES = ("quick", "cifar", "full")  # what a claim that reads only the ladder's runs declares as SCALES


def _model(family: str, depth: int) -> tuple[str, dict]:
    """A preset name where one exists (readable run folders), else the family's 20-layer preset + depth."""
    name = f"{family}{depth}"
    return (name, {}) if name in list_models() else (f"{family}20", {"depth": depth})


def spec(ctx: Context, family: str, depth: int, seed: int) -> RunSpec:
    scale = scale_config(ctx)
    model, args = _model(family, depth)
    data = DataConfig(name=scale.data, root=ctx.data_root)
    # Pre-activation residual runs also record the residual/error alignment through training
    # (residual-aligns-with-error reads it; x_{l+1} = x_l + F(x_l) holds exactly only for them).
    return RunSpec(RunConfig(model=ModelConfig(model, args), data=data, train=scale.train, seed=seed),
                   probes=Probes(scale.probe_examples, scale.probe_every, alignment=family == "preresnet"))


def ladder_runs(ctx: Context) -> list[RunSpec]:
    scale = scale_config(ctx)
    return [spec(ctx, fam, d, s) for fam in ("plain", "resnet") for d in scale.depths for s in ctx.seed_list]


def jacobian_runs(ctx: Context) -> list[RunSpec]:
    d = scale_config(ctx).jacobian_depth
    return [spec(ctx, fam, d, s) for fam in ("plain-preresnet", "preresnet") for s in ctx.seed_list]
