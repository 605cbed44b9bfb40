"""The claim contract: what every claim declares and defines, and the context it runs in.

A claim is a module (or a package whose __init__ exports the same names) that satisfies `ClaimModule`:
- `CLAIM`: the `Claim` it checks (id, kind, statement, source, the rule in words);
- `runs(ctx)`: every training run it reads, declared up front as jobs of the run engine (engine.py), which trains
  each once (hashed, reused, resumed) before any claim measures;
- `budget(ctx)`: the data and step budget in words, printed in the report;
- `measure(ctx, done)`: the evidence, a JSON-able dict, from the finished runs (`done`) and any untrained
  computation (verifications, probes, attacks);
- `verdict(evidence)`: pure, evidence in, `Verdict` out; the claim's thresholds live beside it and nowhere else;
- `present(evidence)`: (numbers, figures) in the results.json schema (docs/results-schema.md).
The registry (claims/__init__.py) checks every claim against this contract when it is imported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Literal, Protocol, Sequence, TypeVar, get_args

from skiplab.errors import ConfigError

from .pool import default_workers, parallel

if TYPE_CHECKING:
    from .engine import Done, Job

VerdictText = Literal["supported", "not supported", "inconclusive"]
SUPPORTED: VerdictText = "supported"
NOT_SUPPORTED: VerdictText = "not supported"
INCONCLUSIVE: VerdictText = "inconclusive"
Kind = Literal["empirical", "verification", "verification + empirical"]
Scale = Literal["quick", "cifar", "full"]
SCALES: tuple[str, ...] = get_args(Scale)

Evidence = dict[str, Any]  # JSON-able: measured once, judged and drawn from the saved copy
Numbers = dict[str, Any]  # {"columns", "rows", "format"} of the report's table
Figure = dict[str, Any]  # a figure's declarative description (docs/results-schema.md)

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Claim:
    id: str  # the public name: `skiplab reproduce <id>`
    kind: Kind
    statement: str
    source: str
    rule: str  # the verdict rule in words, printed in the report beside the registration it came from
    fair_test: str = ""  # what the measurement must do to be a fair test of the statement (docs/claims.md)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", self.id):
            raise ValueError(f"claim id {self.id!r}: lower-case words joined by '-'")
        if self.kind not in get_args(Kind):
            raise ValueError(f"claim {self.id}: kind {self.kind!r} is not one of {get_args(Kind)}")
        if not (self.statement and self.source and self.rule):
            raise ValueError(f"claim {self.id}: statement, source and rule must not be empty")


@dataclass(frozen=True)
class Verdict:
    verdict: VerdictText
    reason: str

    def __post_init__(self) -> None:
        if self.verdict not in (SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE):
            raise ValueError(f"unknown verdict {self.verdict!r}")


def _quiet(line: str) -> None:
    pass


@dataclass(frozen=True)
class Context:
    """Where and how claims run: the scale, the seeds, an optional data override, `--set` overrides of the scales,
    a smoke run's step cap, how many processes work side by side, and where progress lines go.

    It checks itself: a bad value raises ConfigError naming the field, before anything trains."""

    scale: Scale = "quick"
    seeds: int = 6  # >= 6: a 95% interval over seeds, and 3 in each replication half
    data: str | None = None  # replaces the claims' datasets (e.g. imagefolder:DIR at full scale)
    data_root: str | None = None  # folder holding the dataset's files
    overrides: tuple[str, ...] = ()  # "key=value" assignments to the claims' scale configs, e.g. "train.epochs=10"
    max_steps: int | None = None  # smoke runs: cap every training run at this many steps
    workers: int = field(default_factory=default_workers)  # processes that train or measure side by side
    say: Callable[[str], None] = field(default=_quiet, compare=False, repr=False)  # progress lines

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ConfigError(f"scale: {self.scale!r} is not one of {', '.join(SCALES)}")
        for name in ("seeds", "workers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")
        if self.max_steps is not None and (isinstance(self.max_steps, bool) or not isinstance(self.max_steps, int)
                                           or self.max_steps < 1):
            raise ConfigError(f"max_steps (--steps) must be a whole number >= 1, got {self.max_steps!r}")
        for name in ("data", "data_root"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ConfigError(f"{name} must be a non-empty string, got {value!r}")
        if not isinstance(self.overrides, tuple):
            raise ConfigError(f"overrides must be a tuple of 'key=value' strings, got {self.overrides!r}")
        for a in self.overrides:
            if not isinstance(a, str) or "=" not in a or not a.partition("=")[0].strip():
                raise ConfigError(f"--set {a!r}: expected key=value, e.g. train.epochs=10")

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.seeds))

    def map(self, fn: Callable[[T], R], jobs: Sequence[T], what: str, one_thread: bool = True) -> list[R]:
        """fn over jobs in this context's worker processes (pool.parallel), in job order, with progress lines: a
        claim's parallel measurement work (attacks, probes of many runs). Training goes through the engine."""
        return list(parallel(fn, jobs, self.workers, what, self.say, one_thread=one_thread))


class ClaimModule(Protocol):
    """The contract every claim module satisfies (see the module docstring); modules are checked structurally."""

    CLAIM: Claim

    def runs(self, ctx: Context) -> Sequence[Job]: ...

    def budget(self, ctx: Context) -> str: ...

    def measure(self, ctx: Context, done: Done) -> Evidence: ...

    def verdict(self, evidence: Evidence) -> Verdict: ...

    def present(self, evidence: Evidence) -> tuple[Numbers, list[Figure]]: ...


CONTRACT = ("runs", "budget", "measure", "verdict", "present")


def check_claim_module(module: Any) -> ClaimModule:
    """`module` if it satisfies the contract, else TypeError naming what is missing (a registration bug)."""
    name = getattr(module, "__name__", repr(module))
    if not isinstance(getattr(module, "CLAIM", None), Claim):
        raise TypeError(f"{name}: CLAIM must be a skiplab.claims.core.contract.Claim")
    missing = [f for f in CONTRACT if not callable(getattr(module, f, None))]
    if missing:
        raise TypeError(f"{name} ({module.CLAIM.id}): missing {', '.join(missing)} of the claim contract")
    return module


def two_part(verification: tuple[VerdictText, str], empirical: tuple[VerdictText, str], label: str) -> Verdict:
    """The verdict of a "verification + empirical" claim from its parts' (verdict, reason): not supported if either
    part is (a failed verification is a bug, a failed empirical part a finding), supported if both are, otherwise
    inconclusive. `label` names the empirical part in the reason."""
    (v1, why1), (v2, why2) = verification, empirical
    reason = f"verification {v1}: {why1}. {label} {v2}: {why2}"
    if NOT_SUPPORTED in (v1, v2):
        return Verdict(NOT_SUPPORTED, reason)
    return Verdict(SUPPORTED if v1 == v2 == SUPPORTED else INCONCLUSIVE, reason)
