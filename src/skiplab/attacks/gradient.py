"""FGSM and PGD in pixel space (the input normalization lives inside the model), for the L-inf and L2 balls.

Written here, not imported: the maintained attack libraries (torchattacks, foolbox, advertorch) hard-require
torchvision, which skiplab does not install (DESIGN.md). Both are pure functions of (model, batch): eval mode,
frozen parameters, everything restored afterwards. Inputs x: (N, *example_shape) in the valid pixel range
`bounds`; labels y: (N,). They return adversarial inputs of x's shape, inside the eps-ball and the pixel range.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as Fn

from ..guards import attack_mode, logit_margin, prepare
from ._common import Norm, check, direction, project, random_start

Loss = Literal["ce", "margin"]
StepRule = Literal["fixed", "cosine"]
STEP_RULES = ("fixed", "cosine")
MADRY_STEP = 2.5  # default step: 2.5 * eps / steps, so a straight walk can cross the ball (Madry et al. 2018)


def _objective(logits: torch.Tensor, y: torch.Tensor, loss: Loss) -> torch.Tensor:
    """What the attacker ascends, summed over examples (their gradients do not mix in eval mode): the
    cross-entropy, or the negated margin max_{j != y} z_j - z_y (Carlini & Wagner's f6, without the clamp)."""
    if loss == "ce":
        return Fn.cross_entropy(logits, y, reduction="sum")
    if loss == "margin":
        return -logit_margin(logits, y).sum()
    raise ValueError(f"loss must be ce or margin, got {loss!r}")


def _clip(x_adv: torch.Tensor, bounds: tuple[float, float]) -> torch.Tensor:
    # Clipping moves each pixel toward the clean one (which lies in the range), so it never leaves the ball.
    return x_adv.clamp(bounds[0], bounds[1])


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, norm: Norm = "linf", loss: Loss = "ce",
         bounds: tuple[float, float] = (0.0, 1.0)) -> torch.Tensor:
    """One step of size eps along the gradient's steepest-ascent direction (Goodfellow et al. 2015; L2: the
    normalized gradient, "fast gradient method"). For a linear model this is the exact worst case."""
    check(eps, norm)
    with attack_mode(model):
        x = prepare(model, x)
        y = y.to(x.device)
        if eps == 0:
            return x.clone()
        xr = x.clone().requires_grad_(True)
        grad, = torch.autograd.grad(_objective(model(xr), y, loss), xr)
        return _clip(x + project(eps * direction(grad, norm), eps, norm), bounds).detach()


def step_sizes(eps: float, steps: int, step_size: float | None, rule: StepRule) -> list[float]:
    """Per-step sizes: `step_size` * eps (default MADRY_STEP / steps) every step ("fixed"), or annealed from twice
    that to 0 along half a cosine ("cosine"; same total length, bolder first steps, finer last ones)."""
    if rule not in STEP_RULES:
        raise ValueError(f"step_rule must be one of {', '.join(STEP_RULES)}, got {rule!r}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    a = (MADRY_STEP / steps if step_size is None else step_size) * eps
    if rule == "fixed":
        return [a] * steps
    return [a * (1 + math.cos(math.pi * t / steps)) for t in range(steps)]


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, norm: Norm = "linf", steps: int = 10,
        step_size: float | None = None, step_rule: StepRule = "fixed", random_init: bool = True, restarts: int = 1,
        loss: Loss = "ce", bounds: tuple[float, float] = (0.0, 1.0), seed: int = 0) -> torch.Tensor:
    """Projected gradient ascent (Madry et al. 2018): `restarts` runs of `steps` steps (sizes from `step_sizes`),
    each from a random point of the ball (`random_init`, see `random_start`) or from x (the zero start). Per example,
    the iterate with the lowest logit margin over every step of every restart is returned: the worst case found."""
    check(eps, norm)
    if restarts < 1:
        raise ValueError(f"restarts must be >= 1, got {restarts}")
    sizes = step_sizes(eps, steps, step_size, step_rule)
    g = torch.Generator().manual_seed(seed)
    with attack_mode(model):
        x = prepare(model, x)
        y = y.to(x.device)
        with torch.no_grad():
            best, best_m = x.clone(), logit_margin(model(x), y)
        if eps == 0:
            return best
        shape = (-1,) + (1,) * (x.dim() - 1)
        for _ in range(restarts):
            delta = random_start(x, eps, norm, g) if random_init else torch.zeros_like(x)
            x_adv = _clip(x + delta, bounds)
            for t in range(steps + 1):
                xr = x_adv.clone().requires_grad_(True)
                logits = model(xr)
                with torch.no_grad():  # keep the worst iterate seen so far, the last one included
                    m = logit_margin(logits, y)
                    better = m < best_m
                    best = torch.where(better.view(shape), x_adv, best)
                    best_m = torch.minimum(m, best_m)
                if t == steps:
                    break
                grad, = torch.autograd.grad(_objective(logits, y, loss), xr)
                with torch.no_grad():
                    stepped = x_adv + sizes[t] * direction(grad, norm)
                    x_adv = _clip(x + project(stepped - x, eps, norm), bounds)
        return best.detach()
