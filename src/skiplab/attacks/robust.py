"""Robust accuracy: an example counts as robust at epsilon only if it is classified right under *every* attack
run (the per-example worst case over attacks), and, along an epsilon curve, at every smaller epsilon too: an
adversarial found inside a smaller ball lies inside every larger one, so the curve is monotone by construction
and never credits an attack's bad luck at a larger epsilon."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import nn

from ..guards import attack_mode, logit_margin, prepare
from ._common import NORMS, Norm
from .gradient import Loss, StepRule, fgsm, pgd


@dataclass(frozen=True)
class Attack:
    """One attack of a worst-of set: FGSM, or PGD with its steps, restarts, step rule and start."""

    kind: str = "pgd"  # "fgsm" or "pgd"
    norm: Norm = "linf"
    steps: int = 10
    restarts: int = 1
    step_size: float | None = None  # relative to eps; None: 2.5 / steps
    step_rule: StepRule = "fixed"
    random_init: bool = True
    loss: Loss = "ce"

    def __post_init__(self) -> None:
        if self.kind not in ("fgsm", "pgd") or self.norm not in NORMS:
            raise ValueError(f"attack kind must be fgsm or pgd and norm linf or l2, got {self.kind}, {self.norm}")

    @property
    def label(self) -> str:
        if self.kind == "fgsm":
            return f"fgsm-{self.norm}-{self.loss}"
        return (f"pgd{self.steps}x{self.restarts}-{self.norm}-{self.loss}-{self.step_rule}"
                f"{'' if self.random_init else '-noinit'}")

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
                 bounds: tuple[float, float] = (0.0, 1.0), seed: int = 0) -> torch.Tensor:
        if self.kind == "fgsm":
            return fgsm(model, x, y, eps, self.norm, self.loss, bounds)
        return pgd(model, x, y, eps, self.norm, self.steps, self.step_size, self.step_rule, self.random_init,
                   self.restarts, self.loss, bounds, seed)


def standard_attacks(norm: Norm, steps: int = 10, restarts: int = 1) -> tuple[Attack, ...]:
    """FGSM, PGD on the cross-entropy (fixed steps) and PGD on the margin (cosine steps): different losses and
    step rules fail on different examples, so their worst case is stronger than any one of them."""
    return (Attack("fgsm", norm), Attack("pgd", norm, steps, restarts),
            Attack("pgd", norm, steps, restarts, step_rule="cosine", loss="margin"))


def _correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with attack_mode(model), torch.no_grad():
        return model(x).argmax(1) == y


def worst_of(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, attacks: Sequence[Attack],
             bounds: tuple[float, float] = (0.0, 1.0), seed: int = 0, batch_size: int = 512) -> dict[str, Any]:
    """Per example: right under every attack at `eps` (and clean)? Returns {"robust": bool tensor (N,),
    "accuracy", "per_attack": {label: accuracy}, "min_margin": tensor (N,) of the lowest margin found}."""
    if not attacks:
        raise ValueError("worst_of needs at least one attack")
    x = prepare(model, x)
    y = y.to(x.device)
    robust = torch.ones(len(y), dtype=torch.bool, device=x.device)
    low = torch.full((len(y),), float("inf"), dtype=x.dtype, device=x.device)
    per: dict[str, float] = {}
    for a in attacks:
        ok = torch.empty_like(robust)
        for s in range(0, len(y), batch_size):
            xa = a(model, x[s:s + batch_size], y[s:s + batch_size], eps, bounds, seed)
            with attack_mode(model), torch.no_grad():
                logits = model(xa)
            ok[s:s + batch_size] = logits.argmax(1) == y[s:s + batch_size]
            low[s:s + batch_size] = torch.minimum(low[s:s + batch_size], logit_margin(logits, y[s:s + batch_size]))
        per[a.label] = float(ok.float().mean())
        robust &= ok
    robust &= _correct(model, x, y)
    return {"robust": robust, "accuracy": float(robust.float().mean()), "per_attack": per, "min_margin": low}


def robust_curve(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: Sequence[float],
                 attacks: Sequence[Attack], bounds: tuple[float, float] = (0.0, 1.0), seed: int = 0,
                 batch_size: int = 512) -> dict[str, Any]:
    """Robust accuracy at each epsilon (ascending; all attacks of one norm), carried over smaller epsilons (see the
    module docstring). Returns {"norm", "eps", "accuracy", "per_attack": {label: [accuracy per eps]}, "clean"}."""
    eps = [float(e) for e in eps]
    if eps != sorted(eps) or not eps:
        raise ValueError(f"epsilons must be given in ascending order, got {eps}")
    norms = {a.norm for a in attacks}
    if len(norms) != 1:
        raise ValueError(f"one curve, one norm: the attacks mix {sorted(norms)}")
    x = prepare(model, x)
    y = y.to(x.device)
    carry = _correct(model, x, y)
    out: dict[str, Any] = {"norm": norms.pop(), "eps": eps, "accuracy": [], "examples": len(y),
                           "clean": float(carry.float().mean()), "per_attack": {a.label: [] for a in attacks}}
    for e in eps:
        r = worst_of(model, x, y, e, attacks, bounds, seed, batch_size)
        carry = carry & r["robust"]
        out["accuracy"].append(float(carry.float().mean()))
        for k, v in r["per_attack"].items():
            out["per_attack"][k].append(v)
    return out
