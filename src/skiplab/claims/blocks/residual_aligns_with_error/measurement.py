"""What residual-aligns-with-error measures: per additive block, F_l(x_l) and -dL/dx_{l+1} on held-out examples
of the Jacobian claim's pre-activation runs, in each batch-norm mode on the same weights, against the shuffled-pairing
null (null.py); and the literal cos(F_l(x_l), y - x_l) on an identity-regression toy."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from skiplab.claims.core.contract import Context
from skiplab.claims.core.datasets import calibration_batch, heldout_batch
from skiplab.claims.core.engine import ALIGNMENT, Done, FunctionRun, Job
from skiplab.claims.depth.ladder import jacobian_runs, scale_config, spec
from skiplab.guards import buffers_kept, frozen, prepare
from skiplab.models import calibrate_batchnorm
from skiplab.models.blocks import ResidualBlock
from skiplab.models.net import Net
from skiplab.models.parts.layers import ResidualScale
from skiplab.probes.recorder import Loss

from .null import derangements, null_test, pairwise_cosines, unit_rows
from .rule import (
    CALIBRATION,
    DERANGEMENTS,
    HELD_OUT,
    MODES,
    TOY_DEPTH,
    TOY_DIM,
    TOY_HIDDEN,
    TOY_N,
    TOY_SMALL,
    TOY_STEPS,
)

NULL_SEED = 0  # the derangements are a fixed draw: every net and mode is judged against the same re-pairings


@contextmanager
def fixed_batch_statistics(net: nn.Module) -> Iterator[None]:
    """Train-mode batch norm whose batch mean and variance are constants for autograd: the forward is exactly train
    mode's, the backward drops the terms through the statistics (the only way one example's gradient depends on the
    others). Separates the two things that differ between the modes: the statistics used, and that coupling."""
    layers = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]

    def forward(m: nn.modules.batchnorm._BatchNorm) -> Callable[[torch.Tensor], torch.Tensor]:
        def f(x: torch.Tensor) -> torch.Tensor:
            dims = [0, *range(2, x.dim())]
            mean, var = x.mean(dims).detach(), x.var(dims, unbiased=False).detach()
            return F.batch_norm(x, mean, var, m.weight, m.bias, False, 0.0, m.eps)
        return f
    try:
        for m in layers:
            m.forward = forward(m)  # type: ignore[method-assign]
        yield
    finally:
        for m in layers:
            m.__dict__.pop("forward", None)


def block_pairs(net: Net, x: torch.Tensor, y: torch.Tensor, loss_fn: Loss = F.cross_entropy
                ) -> tuple[list[tuple[torch.Tensor, ...]], float, float]:
    """Per additive block (F_l(x_l), -dL/dx_{l+1}, x_{l+1}), each (N, *shape), in the mode the net is in (L =
    loss_fn(logits, y), by default cross-entropy averaged over the batch), with L and the error on (x, y) (argmax
    of the output against class labels; meaningless for another loss). The net is left as found: parameters'
    flags, no .grad, batch-norm buffers put back."""
    x = prepare(net, x)
    y = y.to(x.device)
    with frozen(net), buffers_kept(net), torch.enable_grad():
        acts = list(net.block_outputs(x.detach().requires_grad_(True)).values())
        logits = net.forward_head(acts[-1])
        loss = loss_fn(logits, y)
        grads = torch.autograd.grad(loss, acts[1:], allow_unused=True)
        out = []
        for (_, block), x_l, x_out, g in zip(net.blocks(), acts[:-1], acts[1:], grads):
            if block.kind != "additive":
                continue
            with torch.no_grad():  # in train mode the branch sees the batch statistics the forward saw
                inc = block.increment(x_l)
            minus_g = torch.zeros_like(inc) if g is None else -g
            out.append((inc.detach(), minus_g.detach(), x_out.detach()))
    error = float((logits.detach().argmax(1) != y).double().mean()) if y.dim() == 1 else float("nan")
    return out, float(loss.detach()), error


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((unit_rows(a) * unit_rows(b)).sum(1).mean())


def probe_mode(net: Net, x: torch.Tensor, y: torch.Tensor, mode: str, perms: torch.Tensor,
               loss_fn: Loss = F.cross_entropy) -> dict[str, Any]:
    """null_test of cos(F_l, -dL/dx_{l+1}) in one batch-norm mode, plus, per block, batch means of two cosines
    that show what the alignment is made of: growth = cos(x_{l+1}, -dL/dx_{l+1}) (does the loss fall when the
    stream itself grows?) and with_stream = cos(F_l(x_l), x_{l+1} - F_l(x_l)) (does the block grow the stream it
    adds to?). Eval mode uses the running statistics as they are (calibrate first). The net is returned in eval
    mode."""
    if mode not in MODES:
        raise ValueError(f"batch-norm mode {mode!r} is not one of {MODES}")
    net.train(mode != "eval")
    try:
        if mode == "train, fixed statistics":
            with fixed_batch_statistics(net):
                pairs, loss, error = block_pairs(net, x, y, loss_fn)
        else:
            pairs, loss, error = block_pairs(net, x, y, loss_fn)
    finally:
        net.eval()
    r = null_test([pairwise_cosines(f, g) for f, g, _ in pairs], perms)
    r["growth"] = [_cos(xo, g) for _, g, xo in pairs]
    r["with_stream"] = [_cos(f, xo - f) for f, _, xo in pairs]
    return {**r, "mode": mode, "loss": loss, "error": error}


def probe(net: Net, data: Any) -> dict[str, dict[str, Any]]:
    """Every mode on the same weights and held-out batch; eval after calibrating batch norm on training data."""
    x, y = heldout_batch(data, HELD_OUT)
    perms = derangements(x.shape[0], DERANGEMENTS, NULL_SEED)
    calibrate_batchnorm(net, calibration_batch(data, CALIBRATION)[0])
    return {mode: probe_mode(net, x, y, mode, perms) for mode in MODES}


@dataclass(frozen=True)
class ToyRun:
    seed: int
    steps: int


def toy_jobs(ctx: Context) -> list[FunctionRun]:
    steps = TOY_STEPS if ctx.max_steps is None else min(TOY_STEPS, ctx.max_steps)
    return [FunctionRun(toy, ToyRun(s, steps), name="alignment-toy", seed=s, version=2) for s in ctx.seed_list]


def runs(ctx: Context) -> list[Job]:
    return [*jacobian_runs(ctx), *toy_jobs(ctx)]


def budget(ctx: Context) -> str:
    scale = scale_config(ctx)
    return (f"preresnet{scale.jacobian_depth} (the Jacobian claim's runs, reused): {scale.describe(ctx.seeds)}; "
            f"toy: {TOY_STEPS} full-batch Adam steps on {TOY_N} examples per seed")


def toy_net(seed: int) -> Net:
    """x -> x + sum of TOY_DEPTH branches Linear-tanh-Linear, no stem or head. x: (N, TOY_DIM) -> (N, TOY_DIM)."""
    torch.manual_seed(seed)
    blocks = [ResidualBlock(nn.Sequential(nn.Linear(TOY_DIM, TOY_HIDDEN), nn.Tanh(), nn.Linear(TOY_HIDDEN, TOY_DIM)),
                            nn.Identity(), ResidualScale(1.0, False)) for _ in range(TOY_DEPTH)]
    return Net(None, nn.Identity(), nn.Identity(), [blocks], nn.Identity(), name="identity-toy")


def identity_test(net: Net, x: torch.Tensor, y: torch.Tensor, perms: torch.Tensor) -> dict[str, Any]:
    """null_test of the literal cos(F_l(x_l), y - x_l) over the additive blocks whose x_l has y's shape."""
    with torch.no_grad():
        inter = list(net.block_outputs(x).values())
        mats = [pairwise_cosines(block.increment(x_l), y - x_l) for (_, block), x_l in zip(net.blocks(), inter[:-1])
                if block.kind == "additive" and x_l.shape == y.shape]
    return null_test(mats, perms)


def toy(run: ToyRun) -> dict[str, Any]:
    """Train the toy on y = x + small(x) and return identity_test at init and trained, on held-out x (a
    FunctionRun of the run engine)."""
    seed, steps = run.seed, run.steps
    g = torch.Generator().manual_seed(1000 + seed)
    a = torch.randn(TOY_DIM, TOY_DIM, generator=g) / math.sqrt(TOY_DIM)

    def target(x: torch.Tensor) -> torch.Tensor:
        return x + TOY_SMALL * torch.tanh(x @ a)
    xtr, xte = torch.randn(TOY_N, TOY_DIM, generator=g), torch.randn(TOY_N // 2, TOY_DIM, generator=g)
    ytr, yte = target(xtr), target(xte)
    perms = derangements(xte.shape[0], DERANGEMENTS, NULL_SEED)
    net = toy_net(seed)
    out: dict[str, Any] = {"init": identity_test(net, xte, yte, perms)}
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((net(xtr) - ytr) ** 2).sum(1).mean()
        loss.backward()
        opt.step()
    out["trained"] = identity_test(net, xte, yte, perms)
    with torch.no_grad():
        out["mse_over_small"] = float(((net(xte) - yte) ** 2).sum(1).mean() / ((yte - xte) ** 2).sum(1).mean())
    return out


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def measure(ctx: Context, done: Done) -> dict[str, Any]:
    depth = scale_config(ctx).jacobian_depth
    toys = toy_jobs(ctx)
    out: dict[str, Any] = {"depth": depth, "seeds": ctx.seed_list, "modes": list(MODES), "derangements": DERANGEMENTS,
                           "residual": [], "through_training": [], "toy": [], "toy_steps": toys[0].config.steps}
    for s, toy_job in zip(ctx.seed_list, toys):
        sp = spec(ctx, "preresnet", depth, s)
        data = done.dataset(sp)
        out["residual"].append({state: probe(done.model(sp, trained=state == "trained"), data)
                                for state in ("init", "trained")})
        out["through_training"].append(
            [{"epoch": r["epoch"], "mean_cos": _mean(r["alignment"]["cos"]), "mean_null": _mean(r["alignment"]["null"])}
             for r in done.records(sp, ALIGNMENT)])
        out["toy"].append(done.value(toy_job))
    return out
