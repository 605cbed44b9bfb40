"""APGD, auto-PGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks", Algorithm 1): PGD with momentum whose step size starts at 2 eps and is halved, per example, at
checkpoints where the loss stopped rising, the iterate then restarting from the best point so far. APGD-CE ascends the
cross-entropy (or the DLR loss); APGD-T ascends the targeted DLR loss once per target class (the runner-up classes of
the clean logits). These two are the gradient half of AutoAttack.

Written here from the paper (the maintained packages hard-require torchvision, see gradient.py); the constants are the
paper's, the start and the oscillation test follow the authors' code (autoattack, also torchattacks' port), against
which benchmarks/attack_reference.py checks these. Pure functions of (model, batch) like `pgd`: eval mode, frozen
parameters; they return, per example, the iterate with the lowest logit margin found over every run."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as Fn

from ..guards import attack_mode, logit_margin, prepare
from ._common import Norm, boundary_start, check, direction, project
from .gradient import _clip

ApgdLoss = Literal["ce", "dlr"]
APGD_LOSSES = ("ce", "dlr")
MOMENTUM = 0.75  # alpha: weight of the new gradient step against the last move
RHO = 0.75  # halve the step when at most this share of the steps since the last checkpoint raised the loss
P1, P_DECAY, P_MIN = 0.22, 0.03, 0.06  # checkpoint schedule: first at 22% of the budget, periods shrinking to 6%
TARGETS = 9  # target classes of APGD-T in AutoAttack's standard version (all but the true one on 10 classes)
DLR_EPS = 1e-12

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (logits of a subset, its indices) -> loss per example


def checkpoints(steps: int) -> list[int]:
    """Iterations w_j = ceil(p_j * steps) at which the step size is reconsidered: p_0 = 0, p_1 = 0.22,
    p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06); those before the last step."""
    p = [0.0, P1]
    while p[-1] < 1:
        p.append(p[-1] + max(p[-1] - p[-2] - P_DECAY, P_MIN))
    marks = {math.ceil(round(q * steps, 9)) for q in p[1:]}
    return sorted(w for w in marks if 0 < w < steps)


def dlr(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Difference of logits ratio, -(z_y - max_{j != y} z_j) / (z_pi1 - z_pi3) (pi: the logits sorted descending):
    the negated margin made invariant to shifting and scaling the logits. Needs 3 classes."""
    s = logits.sort(1, descending=True).values
    return -logit_margin(logits, y) / (s[:, 0] - s[:, 2] + DLR_EPS)


def dlr_targeted(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Targeted DLR, -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2): positive once class t beats y. Needs 4 classes."""
    s = logits.sort(1, descending=True).values
    gap = (logits.gather(1, y[:, None]) - logits.gather(1, target[:, None])).squeeze(1)
    return -gap / (s[:, 0] - 0.5 * (s[:, 2] + s[:, 3]) + DLR_EPS)


def _run(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, norm: Norm, steps: int, loss: Callable,
         start: torch.Tensor, bounds: tuple[float, float]) -> tuple[torch.Tensor, torch.Tensor]:
    """One APGD run from x + start; returns the lowest-margin iterate per example and its margin."""
    shape = (-1,) + (1,) * (x.dim() - 1)

    def proj(z: torch.Tensor) -> torch.Tensor:
        return _clip(x + project(z - x, eps, norm), bounds)

    def evaluate(xa: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        xr = xa.clone().requires_grad_(True)
        logits = model(xr)
        f = loss(logits)
        grad, = torch.autograd.grad(f.sum(), xr)
        return f.detach(), grad, logit_margin(logits.detach(), y)

    x_k = proj(x + start)
    f, grad, m = evaluate(x_k)
    worst, worst_m = x_k.clone(), m
    x_max, f_max, g_max = x_k.clone(), f.clone(), grad.clone()
    eta = torch.full((len(x),), 2.0 * eps, dtype=x.dtype, device=x.device)
    x_prev, marks, last = x_k, set(checkpoints(steps)), 0
    ups = torch.zeros_like(eta)  # steps since the last checkpoint that raised the loss
    f_max_last = f_max.clone()
    halved_last = torch.ones(len(x), dtype=torch.bool, device=x.device)  # condition 2 cannot fire at the first mark
    for k in range(steps):
        with torch.no_grad():
            z = proj(x_k + eta.view(shape) * direction(grad, norm))
            a = MOMENTUM if k > 0 else 1.0
            x_new = proj(x_k + a * (z - x_k) + (1 - a) * (x_k - x_prev))
        f_new, grad, m = evaluate(x_new)
        with torch.no_grad():
            ups += (f_new > f).to(ups.dtype)
            better = m < worst_m
            worst = torch.where(better.view(shape), x_new, worst)
            worst_m = torch.minimum(m, worst_m)
            up = f_new > f_max
            x_max = torch.where(up.view(shape), x_new, x_max)
            g_max = torch.where(up.view(shape), grad, g_max)
            f_max = torch.where(up, f_new, f_max)
            x_prev, x_k, f = x_k, x_new, f_new
            if k + 1 in marks:
                # Condition 1: the loss rose on too few steps (oscillation; "<=" as in the authors' code).
                # Condition 2: the step was not halved at the last mark and the best loss has not moved since.
                halve = (ups <= RHO * (k + 1 - last)) | (~halved_last & (f_max <= f_max_last))
                eta = torch.where(halve, eta / 2, eta)
                x_k = torch.where(halve.view(shape), x_max, x_k)
                grad = torch.where(halve.view(shape), g_max, grad)
                f = torch.where(halve, f_max, f)
                halved_last, f_max_last, last = halve, f_max.clone(), k + 1
                ups.zero_()
    return worst, worst_m


def _drive(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, norm: Norm, steps: int, restarts: int,
           losses: Callable[[torch.Tensor, torch.Tensor], Sequence[LossFn]], need: int,
           bounds: tuple[float, float], seed: int) -> torch.Tensor:
    """Every loss of losses(x, clean logits), `restarts` runs each, each run only on the examples no earlier run has
    fooled (a fooled example keeps its adversarial); the lowest-margin point per example."""
    check(eps, norm)
    if steps < 1 or restarts < 1:
        raise ValueError(f"steps and restarts must be >= 1, got {steps}, {restarts}")
    g = torch.Generator().manual_seed(seed)
    with attack_mode(model):
        x = prepare(model, x)
        y = y.to(x.device)
        with torch.no_grad():
            logits = model(x)
        if logits.shape[1] < need:
            raise ValueError(f"this APGD loss needs at least {need} classes, the model has {logits.shape[1]}")
        best, best_m = x.clone(), logit_margin(logits, y)
        if eps == 0:
            return best
        shape = (-1,) + (1,) * (x.dim() - 1)
        for loss in losses(logits, y):
            for _ in range(restarts):
                idx = (best_m > 0).nonzero().squeeze(1)
                if len(idx) == 0:
                    return best.detach()
                xs = x[idx]
                adv, m = _run(model, xs, y[idx], eps, norm, steps, lambda z, i=idx, fn=loss: fn(z, i),
                              boundary_start(xs, eps, norm, g), bounds)
                better = m < best_m[idx]
                best[idx] = torch.where(better.view(shape), adv, best[idx])
                best_m[idx] = torch.minimum(m, best_m[idx])
        return best.detach()


def apgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, norm: Norm = "linf", steps: int = 100,
         restarts: int = 1, loss: ApgdLoss = "ce", bounds: tuple[float, float] = (0.0, 1.0),
         seed: int = 0) -> torch.Tensor:
    """APGD-CE (loss "ce") or APGD-DLR (loss "dlr"): `restarts` runs of `steps` steps from random points on the
    ball's boundary. Returns adversarial inputs inside the eps-ball and `bounds`."""
    if loss not in APGD_LOSSES:
        raise ValueError(f"APGD loss must be one of {', '.join(APGD_LOSSES)}, got {loss!r}")

    def losses(logits: torch.Tensor, y: torch.Tensor) -> list[LossFn]:
        if loss == "ce":
            return [lambda z, i: Fn.cross_entropy(z, y[i], reduction="none")]
        return [lambda z, i: dlr(z, y[i])]

    return _drive(model, x, y, eps, norm, steps, restarts, losses, 3 if loss == "dlr" else 2, bounds, seed)


def apgd_targeted(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, norm: Norm = "linf",
                  steps: int = 100, restarts: int = 1, targets: int = TARGETS,
                  bounds: tuple[float, float] = (0.0, 1.0), seed: int = 0) -> torch.Tensor:
    """APGD-T: the targeted DLR loss towards each of the `targets` classes with the highest clean logits after the
    top one (at most classes - 1), `restarts` runs each."""
    if targets < 1:
        raise ValueError(f"targets must be >= 1, got {targets}")

    def losses(logits: torch.Tensor, y: torch.Tensor) -> list[LossFn]:
        order = logits.argsort(1, descending=True)
        return [lambda z, i, t=order[:, r]: dlr_targeted(z, y[i], t[i])
                for r in range(1, min(targets, logits.shape[1] - 1) + 1)]

    return _drive(model, x, y, eps, norm, steps, restarts, losses, 4, bounds, seed)
