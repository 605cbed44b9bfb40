"""exploding-residuals: without normalization an unscaled branch (h = 1) makes signals and gradients grow with
depth; scaling the branch (h = 1/sqrt(L), h = 1/L, a zero-initialised learnable scalar as in SkipInit/ReZero,
Fixup) restores trainability.

Two measurements on the norm-free residual MLP (pre-activation blocks, so x_{l+1} = x_l + h F(x_l) exactly):
(a) at initialization, in float64 on a fixed Gaussian batch, the forward ratio ||x_L|| / ||x_0|| and the backward
    ratio ||d<v, x_L>/dx_0|| / ||v|| (v a fixed Gaussian direction: the head is left out because Fixup zeroes
    it, which would make every gradient 0) against depth; (b) the training loss after a fixed number of SGD steps
    at one depth, every variant with the same learning rate, beside a plain net and a batch-normed ResNet.

Every Linear layer is re-drawn with He init, the setting the sources analyse (Zhang et al. 2019, Sec. 2): a He
branch preserves its input's variance, so with h = 1 each block doubles it. PyTorch's default Linear init (the MLP
family's) shrinks a ReLU branch ~36x in variance, which would test a different question. Fixup inits itself."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .. import config as C
from ._overrides import resolve_scale
from .base import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Claim, Context, Verdict
from .runs import Runs
from .stats import fmt, summary

EXPLODE = 1e3  # h = 1 "blows up": both ratios at the deepest depth exceed 1e3 (or overflow float64)
BOUND = 10.0  # a scaled variant "stays bounded": both ratios within [1/10, 10] at every depth
TRAINED = 0.5  # a net "trains": its loss falls below half the chance loss ln(10) (0.5 * 2.303 = 1.15 nats)
MARGIN = 0.1  # and h = 1 must end at least 0.1 nats worse (or diverge) than every scaled variant
CHANCE = math.log(10)

SCALED = ("h=1/sqrt(L)", "h=1/L", "rezero", "fixup")
VARIANTS = ("h=1",) + SCALED + ("plain", "batchnorm")


def variant_args(variant: str, depth: int) -> tuple[str, dict[str, Any]]:
    """(preset, overrides) of a variant at `depth` blocks (the batch-normed ResNet has h = 1)."""
    base = {"depth": depth, "norm": "none"}
    return {"h=1": ("resmlp", base), "h=1/sqrt(L)": ("resmlp", {**base, "h": depth ** -0.5}),
            "h=1/L": ("resmlp", {**base, "h": 1.0 / depth}), "rezero": ("resmlp", {**base, "h": 0.0, "h_learnable": True}),
            "fixup": ("resmlp", {**base, "init": "fixup"}), "plain": ("plainmlp", base),
            "batchnorm": ("resmlp", {**base, "norm": "batch"})}[variant]


CLAIM = Claim(
    id="exploding-residuals",
    kind="empirical",
    statement="Without normalization an unscaled branch (h=1) makes signals and gradients grow with depth; scaling "
              "the branch (h ~ 1/sqrt(L), 1/L, a zero-initialised learnable scalar as in SkipInit/ReZero, Fixup) "
              "restores trainability.",
    source="Zhang et al. 2019 (Fixup); De & Smith 2020 (SkipInit); Bachlechner et al. 2020 (ReZero)",
    rule=(f"Norm-free residual MLPs, He-initialised. (i) At init, float64: r_fwd = ||x_L||/||x_0||, r_grad = "
          f"||d<v,x_L>/dx_0||/||v||. (ii) Training loss on the training set after the stated SGD steps at the "
          f"training depth (diverged = infinitely bad). Precondition: the batch-normed ResNet trains (loss < "
          f"{TRAINED:g} ln 10) on every seed, else inconclusive. Supported if on every seed: h=1 has both ratios "
          f"> {EXPLODE:g} (or overflowing) at the deepest depth; every scaled variant ({', '.join(SCALED)}) "
          f"keeps both within [1/{BOUND:g}, {BOUND:g}] at every depth; and every scaled variant trains (loss < "
          f"{TRAINED:g} ln 10) and beats h=1 by more than {MARGIN:g} nats. Not supported if on every seed h=1 "
          f"stays under {EXPLODE:g}, or some scaled variant leaves the bound on every seed, or some scaled variant "
          f"fails to train or to beat h=1 by the margin on every seed. Otherwise inconclusive."),
)


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


def runs(ctx: Context):
    scale_config(ctx)  # bad overrides fail here, before any claim trains
    return []  # everything is small enough to run inside measure


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
    from ..models import create_model
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


def train_loss(net: nn.Module, x: torch.Tensor, y: torch.Tensor, s: ExplodingScale, seed: int,
               steps: int) -> dict[str, Any]:
    """SGD on (x, y); the loss on the whole training set before and after, and a coarse curve; None = diverged.
    The whole-set loss is taken in train mode: batch norm then uses the statistics of the whole set, which keeps
    the value at init meaningful (eval mode would use running statistics nothing has updated yet)."""
    opt = torch.optim.SGD(net.parameters(), lr=s.lr, momentum=0.9)
    g = torch.Generator().manual_seed(10_000 + seed)

    def full_loss() -> float | None:
        with torch.no_grad():
            v = float(nn.functional.cross_entropy(net(x), y))
        return v if math.isfinite(v) else None

    net.train()
    loss0, curve = full_loss(), []
    for step in range(steps):
        idx = torch.randint(0, len(y), (s.train_batch,), generator=g).to(x.device)
        loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
        if not torch.isfinite(loss):
            return {"loss0": loss0, "loss": None, "diverged_step": step, "curve": curve}
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % max(1, steps // 20) == 0:
            curve.append([step, loss.item()])
    return {"loss0": loss0, "loss": full_loss(), "diverged_step": None, "curve": curve}


def measure(ctx: Context, done: Runs) -> dict[str, Any]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # these nets are tiny: a second thread costs more in synchronisation than it saves
    try:
        return _measure(ctx)
    finally:
        torch.set_num_threads(threads)


def _measure(ctx: Context) -> dict[str, Any]:
    from ..data import load_dataset, to_float
    from ..train.loop import resolve_device
    s, dev = scale_config(ctx), resolve_device("auto")
    out: dict[str, Any] = {"depths": list(s.depths), "seeds": ctx.seed_list, "train_depth": s.train_depth,
                           "steps": s.train_steps, "lr": s.lr,
                           "init": {}, "train": {}}
    for variant in VARIANTS:
        out["init"][variant] = []
        for seed in ctx.seed_list:
            x = torch.randn(s.batch, s.features, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
            r = [norm_ratios(build(variant, d, seed, width=s.width, in_channels=s.features).double().to(dev),
                             x.to(dev), 1_000 + seed) for d in s.depths]
            out["init"][variant].append({"fwd": [f for f, _ in r], "grad": [g for _, g in r]})
    data = load_dataset(s.data, root=ctx.data_root)
    x, y = to_float(data.train_x).to(dev), data.train_y.to(dev)
    for variant in VARIANTS:
        out["train"][variant] = []
        for seed in ctx.seed_list:
            net = build(variant, s.train_depth, seed, width=s.width, **data.model_kwargs()).to(dev)
            out["train"][variant].append(train_loss(net, x, y, s, seed, out["steps"]))
    if s.cifar_model:
        from ._exploding_cifar import cifar_losses
        out["cifar"] = cifar_losses(ctx, s)
    return out


def _inf(v: float | None) -> float:
    return math.inf if v is None or not math.isfinite(v) else v


def _bounded(seed_init: dict[str, Any]) -> bool:
    return all(abs(_inf(v)) < math.log10(BOUND) for v in seed_init["fwd"] + seed_init["grad"])


def verdict(evidence: dict[str, Any]) -> Verdict:
    n = len(evidence["seeds"])
    bn = [_inf(t["loss"]) for t in evidence["train"]["batchnorm"]]
    if not all(v < TRAINED * CHANCE for v in bn):
        return Verdict(INCONCLUSIVE, f"precondition failed: the batch-normed ResNet did not train on every seed "
                                     f"(losses {', '.join(f'{v:.3g}' for v in bn)})")
    h1 = [min(_inf(i["fwd"][-1]), _inf(i["grad"][-1])) for i in evidence["init"]["h=1"]]
    blows = [v > math.log10(EXPLODE) for v in h1]
    bounded = {v: [_bounded(i) for i in evidence["init"][v]] for v in SCALED}
    h1_loss = [_inf(t["loss"]) for t in evidence["train"]["h=1"]]
    trains = {v: [_inf(t["loss"]) < TRAINED * CHANCE and h1_loss[i] - _inf(t["loss"]) > MARGIN
                  for i, t in enumerate(evidence["train"][v])] for v in SCALED}
    said = (f"h=1 at depth {evidence['depths'][-1]}: log10 min(r_fwd, r_grad) per seed "
            f"{', '.join('overflow' if math.isinf(v) else f'{v:.3g}' for v in h1)}; scaled variants bounded on "
            f"{sum(map(sum, bounded.values()))}/{n * len(SCALED)} (variant, seed) pairs and train better than h=1 "
            f"on {sum(map(sum, trains.values()))}/{n * len(SCALED)}; loss at depth {evidence['train_depth']}: "
            + ", ".join(f"{v} {fmt(summary([_inf(t['loss']) for t in evidence['train'][v]]))}"
                        for v in ("h=1",) + SCALED))
    if all(blows) and all(all(b) for b in bounded.values()) and all(all(t) for t in trains.values()):
        return Verdict(SUPPORTED, f"h=1 explodes, every scaled variant stays bounded and trains better: {said}")
    if not any(blows):
        return Verdict(NOT_SUPPORTED, f"h=1 does not blow up: {said}")
    bad = [v for v in SCALED if not any(bounded[v]) or not any(trains[v])]
    if bad:
        return Verdict(NOT_SUPPORTED, f"{', '.join(bad)} did not stay bounded or train better on any seed: {said}")
    return Verdict(INCONCLUSIVE, f"seeds or variants disagree: {said}")


def present(evidence: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    deep, td = evidence["depths"][-1], evidence["train_depth"]

    def col(v: str, key: str, i: int) -> dict:
        return summary([_inf(s[key][i]) for s in evidence["init"][v]])
    rows = [[v, col(v, "fwd", -1), col(v, "grad", -1),
             summary([_inf(t["loss0"]) for t in evidence["train"][v]]),
             summary([_inf(t["loss"]) for t in evidence["train"][v]]),
             sum(t["loss"] is None for t in evidence["train"][v])] for v in VARIANTS]
    numbers = {"columns": ["variant", f"log10 r_fwd (L={deep})", f"log10 r_grad (L={deep})",
                           f"loss at init (L={td})", f"loss after {evidence['steps']} steps", "diverged seeds"],
               "rows": rows, "format": {f"log10 r_fwd (L={deep})": "float", f"log10 r_grad (L={deep})": "float",
                                        f"loss at init (L={td})": "float",
                                        f"loss after {evidence['steps']} steps": "float", "diverged seeds": "int"}}
    panels = []
    for key, label in (("fwd", "log10 ||x_L|| / ||x_0||"), ("grad", "log10 ||dL/dx_0|| / ||dL/dx_L||")):
        series = []
        for g, v in enumerate(VARIANTS):
            st = [col(v, key, i) for i in range(len(evidence["depths"]))]
            series.append({"label": v, "group": g, "x": evidence["depths"], "y": [c["mean"] for c in st],
                           "yerr": [c["std"] for c in st], "style": "dashed" if v in ("plain", "batchnorm") else "solid"})
        panels.append({"title": "forward" if key == "fwd" else "backward", "kind": "line", "xlabel": "blocks L",
                       "ylabel": label, "xscale": "log", "series": series,
                       "hlines": [{"y": math.log10(EXPLODE), "label": f"{EXPLODE:g}x"},
                                  {"y": math.log10(BOUND), "label": f"{BOUND:g}x"}]})
    losses = [summary([_inf(t["loss"]) for t in evidence["train"][v]]) for v in VARIANTS]
    figs = [
        {"id": "exploding-norms", "title": "Signal and gradient growth through the blocks at initialization",
         "caption": "Norm-free residual MLPs (He init), float64, mean +- std over seeds; a missing point overflowed "
                    "float64 (exploded). Dashed: the plain twin and the batch-normed ResNet, for reference.",
         "panels": panels},
        {"id": "exploding-training", "title": f"Training loss after {evidence['steps']} SGD steps at depth {td}",
         "caption": f"Same lr {evidence['lr']} for every variant; a missing bar diverged on some seed.",
         "panels": [{"title": "loss", "kind": "bar", "xlabel": "variant", "ylabel": "cross-entropy (train set)",
                     "series": [{"label": "after training", "x": list(VARIANTS), "y": [c["mean"] for c in losses],
                                 "yerr": [c["std"] for c in losses]}],
                     "hlines": [{"y": CHANCE, "label": "chance (ln 10)"},
                                {"y": TRAINED * CHANCE, "label": "trained"}]}]},
    ]
    if "cifar" in evidence:
        c = evidence["cifar"]
        st = [summary([_inf(v) for v in c["loss"][k]]) for k in VARIANTS]
        figs.append({"id": "exploding-cifar", "title": f"{c['model']} on CIFAR: training loss after {c['epochs']} "
                     "epochs", "caption": "Reported beside the verdict; a missing bar diverged on some seed.",
                     "panels": [{"title": c["model"], "kind": "bar", "xlabel": "variant", "ylabel": "train loss",
                                 "series": [{"label": "last epoch", "x": list(VARIANTS), "y": [v["mean"] for v in st],
                                             "yerr": [v["std"] for v in st]}]}]})
    return numbers, figs
