"""Robust accuracy: an example counts as robust at epsilon only if it is classified right under *every* attack
run (the per-example worst case over attacks), and, along an epsilon curve, at every smaller epsilon too: an
adversarial found inside a smaller ball lies inside every larger one, so the curve is monotone by construction
and never credits an attack's bad luck at a larger epsilon.

The strong evaluation (`strong_attacks`, `strong_curve`) runs the cheap attacks on every example first and then, as
AutoAttack does, the expensive ones (PGD-50 from x and from random starts, APGD-CE, APGD-T) only on the examples that
survived: its robust set is a subset of the cheap attacks' by construction, so it never reports a higher robust
accuracy than they do on the same examples and seed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..guards import attack_mode, logit_margin, prepare
from ._common import NORMS, Norm
from .apgd import TARGETS, apgd, apgd_targeted
from .gradient import Loss, StepRule, fgsm, pgd

KINDS = ("fgsm", "pgd", "apgd", "apgd-t")


@dataclass(frozen=True)
class Attack:
    """One attack of a worst-of set: FGSM, PGD with its steps, restarts, step rule and start, APGD (loss "ce" or
    "dlr") or APGD-T (targeted DLR towards `targets` classes)."""

    kind: str = "pgd"  # one of KINDS
    norm: Norm = "linf"
    steps: int = 10
    restarts: int = 1
    step_size: float | None = None  # relative to eps; None: 2.5 / steps
    step_rule: StepRule = "fixed"
    random_init: bool = True
    loss: Loss | str = "ce"  # pgd: ce or margin; apgd: ce or dlr; apgd-t: always the targeted DLR
    targets: int = TARGETS  # apgd-t only

    def __post_init__(self) -> None:
        if self.kind not in KINDS or self.norm not in NORMS:
            raise ValueError(f"attack kind must be one of {', '.join(KINDS)} and norm linf or l2, "
                             f"got {self.kind}, {self.norm}")

    @property
    def label(self) -> str:
        if self.kind == "fgsm":
            return f"fgsm-{self.norm}-{self.loss}"
        if self.kind == "apgd":
            return f"apgd{self.steps}x{self.restarts}-{self.norm}-{self.loss}"
        if self.kind == "apgd-t":
            return f"apgdt{self.steps}x{self.restarts}x{self.targets}-{self.norm}-dlr"
        return (f"pgd{self.steps}x{self.restarts}-{self.norm}-{self.loss}-{self.step_rule}"
                f"{'' if self.random_init else '-noinit'}")

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
                 bounds: tuple[float, float] = (0.0, 1.0), seed: int = 0) -> torch.Tensor:
        if self.kind == "fgsm":
            return fgsm(model, x, y, eps, self.norm, self.loss, bounds)
        if self.kind == "apgd":
            return apgd(model, x, y, eps, self.norm, self.steps, self.restarts, self.loss, bounds, seed)
        if self.kind == "apgd-t":
            return apgd_targeted(model, x, y, eps, self.norm, self.steps, self.restarts, self.targets, bounds, seed)
        return pgd(model, x, y, eps, self.norm, self.steps, self.step_size, self.step_rule, self.random_init,
                   self.restarts, self.loss, bounds, seed)


def standard_attacks(norm: Norm, steps: int = 10, restarts: int = 1) -> tuple[Attack, ...]:
    """FGSM, PGD on the cross-entropy (fixed steps) and PGD on the margin (cosine steps): different losses and
    step rules fail on different examples, so their worst case is stronger than any one of them."""
    return (Attack("fgsm", norm), Attack("pgd", norm, steps, restarts),
            Attack("pgd", norm, steps, restarts, step_rule="cosine", loss="margin"))


def strong_attacks(norm: Norm, steps: int = 50, restarts: int = 3, apgd_steps: int = 100, apgd_restarts: int = 1,
                   targets: int = TARGETS) -> tuple[Attack, ...]:
    """The expensive half of the strong evaluation: PGD-`steps` on the cross-entropy from x (no random start) and
    from `restarts` random starts, APGD-CE and APGD-T (`targets` classes), AutoAttack's gradient attacks at their
    standard budget (100 steps, 1 run each; Croce & Hein 2020). APGD-T needs 4 classes."""
    return (Attack("pgd", norm, steps, 1, random_init=False), Attack("pgd", norm, steps, restarts),
            Attack("apgd", norm, apgd_steps, apgd_restarts),
            Attack("apgd-t", norm, apgd_steps, apgd_restarts, targets=targets))


def _correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with attack_mode(model), torch.no_grad():
        return model(x).argmax(1) == y


def _fooled_by(model: nn.Module, a: Attack, x: torch.Tensor, y: torch.Tensor, eps: float,
               bounds: tuple[float, float], seed: int, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(right under attack a, its margin) per example."""
    ok = torch.empty(len(y), dtype=torch.bool, device=x.device)
    margin = torch.empty(len(y), dtype=x.dtype, device=x.device)
    for s in range(0, len(y), batch_size):
        xa = a(model, x[s:s + batch_size], y[s:s + batch_size], eps, bounds, seed)
        with attack_mode(model), torch.no_grad():
            logits = model(xa)
        ok[s:s + batch_size] = logits.argmax(1) == y[s:s + batch_size]
        margin[s:s + batch_size] = logit_margin(logits, y[s:s + batch_size])
    return ok, margin


def worst_of(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, attacks: Sequence[Attack],
             bounds: tuple[float, float] = (0.0, 1.0), seed: int = 0, batch_size: int = 512,
             then: Sequence[Attack] = (), active: torch.Tensor | None = None) -> dict[str, Any]:
    """Per example: right under every attack at `eps` (and clean)? Returns {"robust": bool tensor (N,),
    "accuracy", "per_attack": {label: accuracy}, "min_margin": tensor (N,) of the lowest margin found}.

    `attacks` run on every example. The attacks of `then` run after them, each only on the examples still robust
    (and in `active` if given: a mask of examples worth attacking) and not fooled by an earlier one; "cascade"
    then maps each of their labels to the robust accuracy after it and every attack before it (a running worst
    case), and their margins enter min_margin only where they ran."""
    if not attacks:
        raise ValueError("worst_of needs at least one attack")
    x = prepare(model, x)
    y = y.to(x.device)
    robust = torch.ones(len(y), dtype=torch.bool, device=x.device)
    low = torch.full((len(y),), float("inf"), dtype=x.dtype, device=x.device)
    per: dict[str, float] = {}
    for a in attacks:
        ok, margin = _fooled_by(model, a, x, y, eps, bounds, seed, batch_size)
        low = torch.minimum(low, margin)
        per[a.label] = float(ok.float().mean())
        robust &= ok
    robust &= _correct(model, x, y)
    out: dict[str, Any] = {"per_attack": per}
    if then:
        out["cascade"] = {}
        for a in then:
            idx = (robust if active is None else robust & active.to(robust.device)).nonzero().squeeze(1)
            if len(idx):
                ok, margin = _fooled_by(model, a, x[idx], y[idx], eps, bounds, seed, batch_size)
                robust[idx] &= ok
                low[idx] = torch.minimum(low[idx], margin)
            out["cascade"][a.label] = float(robust.float().mean())
    return {"robust": robust, "accuracy": float(robust.float().mean()), "min_margin": low, **out}


def robust_curve(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: Sequence[float],
                 attacks: Sequence[Attack], bounds: tuple[float, float] = (0.0, 1.0), seed: int = 0,
                 batch_size: int = 512, then: Sequence[Attack] = ()) -> dict[str, Any]:
    """Robust accuracy at each epsilon (ascending; all attacks of one norm), carried over smaller epsilons (see the
    module docstring). Returns {"norm", "eps", "accuracy", "per_attack": {label: [accuracy per eps]}, "clean"},
    and with `then` (see `worst_of`; run only on examples robust at every smaller epsilon) "cascade":
    {label: [running robust accuracy per eps]}."""
    eps = [float(e) for e in eps]
    if eps != sorted(eps) or not eps:
        raise ValueError(f"epsilons must be given in ascending order, got {eps}")
    norms = {a.norm for a in (*attacks, *then)}
    if len(norms) != 1:
        raise ValueError(f"one curve, one norm: the attacks mix {sorted(norms)}")
    x = prepare(model, x)
    y = y.to(x.device)
    carry = _correct(model, x, y)
    out: dict[str, Any] = {"norm": norms.pop(), "eps": eps, "accuracy": [], "examples": len(y),
                           "clean": float(carry.float().mean()), "per_attack": {a.label: [] for a in attacks}}
    if then:
        out["cascade"] = {a.label: [] for a in then}
    for e in eps:
        r = worst_of(model, x, y, e, attacks, bounds, seed, batch_size, then=then, active=carry)
        carry = carry & r["robust"]
        out["accuracy"].append(float(carry.float().mean()))
        for k, v in r["per_attack"].items():
            out["per_attack"][k].append(v)
        for k, v in r.get("cascade", {}).items():
            out["cascade"][k].append(v)
    return out


def strong_curve(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: Sequence[float], norm: Norm,
                 weak: Sequence[Attack] | None = None, bounds: tuple[float, float] = (0.0, 1.0), seed: int = 0,
                 batch_size: int = 512, **strong: Any) -> dict[str, Any]:
    """The strong evaluation: `robust_curve` of the cheap attacks `weak` (default `standard_attacks(norm)`) on every
    example, then `strong_attacks(norm, **strong)` on the survivors. Its accuracy is never above the curve of `weak`
    alone with the same seed (the survivors are a subset); "per_attack" still holds the cheap attacks' own rates."""
    weak = standard_attacks(norm) if weak is None else weak
    return robust_curve(model, x, y, eps, weak, bounds, seed, batch_size, then=strong_attacks(norm, **strong))
