"""What exploding-residuals measures (thresholds and verdict: rule.py): signal and gradient growth through
norm-free residual MLPs at initialization (measured here), a short SGD run per variant at one depth (FunctionRuns
of the run engine), and at full scale each variant as a CIFAR ResNet trained with He et al.'s recipe (RunSpecs,
reported beside the verdict)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from skiplab import config as C
from skiplab.claims.core.contract import Context
from skiplab.claims.core.datasets import dataset
from skiplab.claims.core.engine import Done, FunctionRun, Job, RunSpec
from skiplab.claims.core.pool import threads
from skiplab.claims.core.scale import resolve_scale
from skiplab.train.config import TrainConfig
from skiplab.train.experiment import DataConfig, ModelConfig, RunConfig

from .rule import VARIANTS


def variant_args(variant: str, depth: int) -> tuple[str, dict[str, Any]]:
    """(preset, overrides) of a variant at `depth` blocks (the batch-normed ResNet has h = 1)."""
    base = {"depth": depth, "norm": "none"}
    return {"h=1": ("resmlp", base), "h=1/sqrt(L)": ("resmlp", {**base, "h": depth ** -0.5}),
            "h=1/L": ("resmlp", {**base, "h": 1.0 / depth}), "rezero": ("resmlp", {**base, "h": 0.0, "h_learnable": True}),
            "fixup": ("resmlp", {**base, "init": "fixup"}), "plain": ("plainmlp", base),
            "batchnorm": ("resmlp", {**base, "norm": "batch"})}[variant]


@dataclass(frozen=True)
class ExplodingScale:
    depths: tuple[int, ...] = C.option((10, 30, 100, 300, 1000), "depths (blocks) probed at initialization")
    width: int = C.option(64, "width of every MLP")
    features: int = C.option(16, "input features of the fixed Gaussian batch probed at init")
    batch: int = C.option(64, "examples in that batch")
    data: str = C.option("digits", "dataset of the training comparison (images are flattened)")
    train_depth: int = C.option(100, "depth (blocks) of the training comparison")
    train_steps: int = C.option(100, "SGD steps of every training run")
    train_batch: int = C.option(128, "batch size (sampled with replacement, seeded)")
    lr: float = C.option(0.05, "SGD learning rate, momentum 0.9, no weight decay, constant; the same for all")
    cifar_model: str = C.option("", "a CIFAR ResNet preset trained per variant, reported beside the verdict "
                                    "('' skips it)")
    cifar_data: str = C.option("cifar10", "its dataset")
    cifar_epochs: int = C.option(10, "its epochs (He et al.'s recipe otherwise: SGD lr 0.1, batch 128)")


# Quick: 100 SGD steps; 200 (the first, 1-seed timing run) took 80 s per seed on the shared 2-core CPU, over the
# 3-minute budget. The thresholds were fixed before that run.
QUICK = ExplodingScale()
FULL = ExplodingScale(depths=(10, 30, 100, 300, 1000, 3000), width=256, batch=256, train_depth=300,
                      train_steps=2000, cifar_model="resnet110")


def scale_config(ctx: Context) -> ExplodingScale:
    return resolve_scale(ctx, QUICK, FULL, data_key="data", steps_key="train_steps")


@dataclass(frozen=True)
class MLPRun:
    """One training comparison run: `variant` at `depth` blocks, `steps` SGD steps on `data` (train_loss)."""

    variant: str
    depth: int
    width: int
    data: str
    data_root: str | None
    steps: int
    batch: int
    lr: float
    seed: int


def mlp_jobs(ctx: Context) -> dict[tuple[str, int], FunctionRun]:
    s = scale_config(ctx)
    return {(v, seed): FunctionRun(train_mlp, MLPRun(v, s.train_depth, s.width, s.data, ctx.data_root, s.train_steps,
                                                     s.train_batch, s.lr, seed),
                                   name=f"exploding-mlp-{v}", seed=seed, cost=s.train_depth)
            for v in VARIANTS for seed in ctx.seed_list}


def cifar_specs(ctx: Context) -> dict[tuple[str, int], RunSpec]:
    """Each variant as the CIFAR ResNet `cifar_model` (norm-free, the plain twin, or batch-normed), He et al.'s
    recipe otherwise; the family keeps its own He init. Empty when the scale has no cifar_model."""
    s = scale_config(ctx)
    if not s.cifar_model:
        return {}
    from skiplab.models import model_config
    data = DataConfig(name=ctx.data or s.cifar_data, root=ctx.data_root)
    mc = model_config(s.cifar_model)
    n_blocks = len(mc.widths) * mc.blocks_per_stage
    train = TrainConfig(epochs=s.cifar_epochs, max_steps=ctx.max_steps, eval_every=s.cifar_epochs,
                        batch_size=min(128, len(dataset(data).train_y)))  # smoke data sets can be smaller than a batch
    out = {}
    for v in VARIANTS:
        preset, args = variant_args(v, n_blocks)
        args = {k: a for k, a in args.items() if k != "depth"}
        name = s.cifar_model.replace("resnet", "plain") if preset == "plainmlp" else s.cifar_model
        for seed in ctx.seed_list:
            out[(v, seed)] = RunSpec(RunConfig(model=ModelConfig(name, args), data=data, train=train, seed=seed),
                                     probes=None)
    return out


def runs(ctx: Context) -> list[Job]:
    return [*mlp_jobs(ctx).values(), *cifar_specs(ctx).values()]


def budget(ctx: Context) -> str:
    s = scale_config(ctx)
    return (f"init probe: width {s.width}, depths {'/'.join(map(str, s.depths))}, {s.batch} Gaussian examples of "
            f"{s.features} features, float64; training: depth {s.train_depth}, {s.train_steps} SGD steps of batch "
            f"{s.train_batch} on {s.data} (lr {s.lr}, momentum 0.9, constant); {len(VARIANTS)} variants, "
            f"{ctx.seeds} seed{'s' * (ctx.seeds != 1)}")


def he_init(module: nn.Module) -> None:
    """He (fan_in, ReLU) normal init for every Linear layer of `module`, zero biases."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            nn.init.zeros_(m.bias)


def build(variant: str, depth: int, seed: int, **kwargs: Any) -> nn.Module:
    from skiplab.models import create_model
    preset, args = variant_args(variant, depth)
    torch.manual_seed(seed)
    net = create_model(preset, **args, **kwargs)
    with torch.no_grad():
        he_init(net.stem)
        if variant != "fixup":  # Fixup sets its branches and classifier itself
            he_init(net.stages)
            he_init(net.head)
    return net


def _log10(x: torch.Tensor) -> float | None:
    v = float(torch.log10(x))
    return v if math.isfinite(v) else None  # overflow (or NaN from inf - inf): recorded as exploded


def norm_ratios(net: Any, x: torch.Tensor, v_seed: int) -> tuple[float | None, float | None]:
    """log10 of ||x_L|| / ||x_0|| and of ||d<v, x_L>/dx_0|| / ||v|| through the blocks (train mode)."""
    x0 = net.stem(net.normalize(x)).detach().requires_grad_()
    h = x0
    for _, block in net.blocks():
        h = block(h)
    v = torch.randn(h.shape, generator=torch.Generator().manual_seed(v_seed), dtype=h.dtype).to(h.device)
    (h * v).sum().backward()
    return _log10(h.detach().norm() / x0.detach().norm()), _log10(x0.grad.norm() / v.norm())


def train_loss(net: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int, lr: float, seed: int,
               steps: int) -> dict[str, Any]:
    """SGD on (x, y); the loss on the whole training set before and after, and a coarse curve; None = diverged.
    The whole-set loss is taken in train mode: batch norm then uses the statistics of the whole set, which keeps
    the value at init meaningful (eval mode would use running statistics nothing has updated yet)."""
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    g = torch.Generator().manual_seed(10_000 + seed)

    def full_loss() -> float | None:
        with torch.no_grad():
            v = float(nn.functional.cross_entropy(net(x), y))
        return v if math.isfinite(v) else None

    net.train()
    loss0, curve = full_loss(), []
    for step in range(steps):
        idx = torch.randint(0, len(y), (batch,), generator=g).to(x.device)
        loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
        if not torch.isfinite(loss):
            return {"loss0": loss0, "loss": None, "diverged_step": step, "curve": curve}
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % max(1, steps // 20) == 0:
            curve.append([step, loss.item()])
    return {"loss0": loss0, "loss": full_loss(), "diverged_step": None, "curve": curve}


def train_mlp(run: MLPRun) -> dict[str, Any]:
    """The training comparison's run (a FunctionRun): the variant, He-initialised, trained by train_loss."""
    from skiplab.data import to_float
    from skiplab.train.loop import resolve_device
    dev = resolve_device("auto")
    data = dataset(run.data, run.data_root)
    x, y = to_float(data.train_x).to(dev), data.train_y.to(dev)
    net = build(run.variant, run.depth, run.seed, width=run.width, **data.model_kwargs()).to(dev)
    return train_loss(net, x, y, run.batch, run.lr, run.seed, run.steps)


def measure(ctx: Context, done: Done) -> dict[str, Any]:
    """The init probe (float64, one thread: these nets are tiny), then the finished training runs."""
    from skiplab.train.loop import resolve_device
    s, dev = scale_config(ctx), resolve_device("auto")
    out: dict[str, Any] = {"depths": list(s.depths), "seeds": ctx.seed_list, "train_depth": s.train_depth,
                           "steps": s.train_steps, "lr": s.lr,
                           "init": {}, "train": {}}
    with threads(1):
        for variant in VARIANTS:
            out["init"][variant] = []
            for seed in ctx.seed_list:
                x = torch.randn(s.batch, s.features, generator=torch.Generator().manual_seed(seed),
                                dtype=torch.float64)
                r = [norm_ratios(build(variant, d, seed, width=s.width, in_channels=s.features).double().to(dev),
                                 x.to(dev), 1_000 + seed) for d in s.depths]
                out["init"][variant].append({"fwd": [f for f, _ in r], "grad": [g for _, g in r]})
    mlps = mlp_jobs(ctx)
    out["train"] = {v: [done.value(mlps[(v, seed)]) for seed in ctx.seed_list] for v in VARIANTS}
    cifar = cifar_specs(ctx)
    if cifar:
        out["cifar"] = {"model": s.cifar_model, "epochs": s.cifar_epochs,
                        "loss": {v: [cifar_loss(done, cifar[(v, seed)]) for seed in ctx.seed_list] for v in VARIANTS}}
    return out


def cifar_loss(done: Done, spec: RunSpec) -> float | None:
    """The last epoch's training loss of a CIFAR run (None: diverged)."""
    loss = next((r["train_loss"] for r in reversed(done.metrics(spec)) if "train_loss" in r), None)
    ok = done.result(spec)["status"] != "diverged" and loss is not None and math.isfinite(loss)
    return loss if ok else None
