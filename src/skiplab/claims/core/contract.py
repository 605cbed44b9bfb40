"""What a claim module declares: the claim, its verdict type, and the context it runs in.

A claim module defines `CLAIM` (a `Claim`), `runs(ctx) -> list[RunSpec]`, `measure(ctx, done) -> evidence`
(a JSON-able dict), a pure `verdict(evidence) -> Verdict`, and `present(evidence) -> (numbers, figures)` in the
results.json schema (docs/results-schema.md). Its thresholds live in the module and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

VerdictText = Literal["supported", "not supported", "inconclusive"]
SUPPORTED: VerdictText = "supported"
NOT_SUPPORTED: VerdictText = "not supported"
INCONCLUSIVE: VerdictText = "inconclusive"


@dataclass(frozen=True)
class Claim:
    id: str
    kind: Literal["empirical", "verification", "verification + empirical"]
    statement: str
    source: str
    rule: str  # the verdict rule in words, printed in the report beside the commit it came from


@dataclass(frozen=True)
class Verdict:
    verdict: VerdictText
    reason: str

    def __post_init__(self) -> None:
        if self.verdict not in (SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE):
            raise ValueError(f"unknown verdict {self.verdict!r}")


@dataclass(frozen=True)
class Context:
    """Where and how claims run: the scale, the seeds, an optional data override and training overrides."""

    scale: Literal["quick", "full"] = "quick"
    seeds: int = 3
    data: str | None = None
    data_root: str | None = None
    overrides: tuple[str, ...] = ()  # "key=value" assignments to the scale config, e.g. "train.epochs=10"
    max_steps: int | None = None  # smoke runs: cap every training run

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.seeds))


def two_part(verification: tuple[VerdictText, str], empirical: tuple[VerdictText, str], label: str) -> Verdict:
    """The verdict of a "verification + empirical" claim from its parts' (verdict, reason): not supported if either
    part is (a failed verification is a bug, a failed empirical part a finding), supported if both are, otherwise
    inconclusive. `label` names the empirical part in the reason."""
    (v1, why1), (v2, why2) = verification, empirical
    reason = f"verification {v1}: {why1}. {label} {v2}: {why2}"
    if NOT_SUPPORTED in (v1, v2):
        return Verdict(NOT_SUPPORTED, reason)
    return Verdict(SUPPORTED if v1 == v2 == SUPPORTED else INCONCLUSIVE, reason)
