"""The statistics every verdict uses: summaries over seeds, and effects judged on an interval against a margin.

An empirical verdict is decided by `effect(...)`: a 95% interval of an effect's mean over seeds, compared with a
margin. Supported / not supported only when the interval clears the margin on one side; otherwise the call is
"unclear" and the rule says inconclusive.

**The interval.** Seeds are paired by construction (seed s of every arm shares its data order and, where the
architecture allows, its init stream), so a rule passes the per-seed *differences* and the interval is that of
their mean. It is a Student-t interval with k - 1 degrees of freedom, not a percentile bootstrap: with 6 seeds (and
3 in each replication half) the bootstrap's interval is bounded by the sample range and covers about 88% (k = 6)
or 75% (k = 3) instead of 95%, while the t-interval is exact under normal seed-to-seed noise and wider exactly
where few seeds leave the spread uncertain. Where the measure is an error rate on held-out examples, the test set
is itself a sample shared by every seed, so its binomial variance (one run's, unpaired across arms, hence
conservative: two nets err on many of the same examples) is added to the interval's variance, with
Welch-Satterthwaite degrees of freedom: more seeds cannot average it away. A consequence worth knowing: a claim
that two arms *match* within a margin of 2 binomial SE cannot be shown on a test set whose own noise is that large
(the interval's half-width is at least 1.96 SE); such a claim stays inconclusive until the test set grows.

**The margin** a rule registers is raised to at least 2 standard errors of the measurement's own noise:
- a rate (error, accuracy) measured on n examples: the binomial standard error of one run's value,
  sqrt(p(1-p)/n), summed in quadrature over the two arms of a difference (digits' 450 test images: about 1 point
  at 5% error, so a difference needs a margin of about 3 points);
- any other statistic (gradient ratios, cosines, slopes, spectra): its seed-to-seed standard error, sd / sqrt(k),
  the spread a rerun with new seeds would show.
The report prints the interval, the registered margin and the margin used, and how the noise was estimated.

**Replication.** `judge` computes a verdict on all seeds and again on each of two disjoint halves (the first and
the second half of the seeds); it is *replicated* only if both halves reach the whole's verdict. A rule sees a half
through `effect` and `chosen`, which keep only the active seeds of every per-seed list they are given; so a rule
reads every per-seed list through one of them, and replication needs nothing else from it.
"""

from __future__ import annotations

import contextvars
import math
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterator, Literal, Sequence, TypeVar

from scipy import stats as _scipy

Call = Literal["above", "below", "unclear"]
Sign = Literal["positive", "negative", "null", "unclear"]
LEVEL = 0.95  # two-sided coverage of every interval
T = TypeVar("T")


@dataclass(frozen=True)
class Effect:
    """One judged effect: the mean over seeds, its interval, and the margin it is judged against."""

    name: str
    mean: float
    lo: float
    hi: float
    registered: float  # the margin the rule registered
    margin: float  # the margin used: max(registered, 2 * noise_se)
    noise_se: float
    noise: str  # how noise_se was estimated
    seeds: int
    examples: int | None  # the evaluation set's size where the measure is a rate
    unit: str  # "percent" (rates, printed in points) or "" (plain numbers)
    values: tuple[float, ...] = ()  # the per-seed values judged, in seed order: what the report shows beside the mean

    @property
    def call(self) -> Call:
        """"above" if the whole interval is above the margin, "below" if it is all below, else "unclear"."""
        if not (math.isfinite(self.lo) and math.isfinite(self.hi)):
            return "unclear"
        return "above" if self.lo > self.margin else "below" if self.hi < self.margin else "unclear"

    @property
    def sign(self) -> Sign:
        """Two-sided reading of a margin around 0: "positive" if the interval is above +margin, "negative" if below
        -margin, "null" if it lies within (-margin, +margin), else "unclear"."""
        if not (math.isfinite(self.lo) and math.isfinite(self.hi)):
            return "unclear"
        if self.lo > self.margin:
            return "positive"
        if self.hi < -self.margin:
            return "negative"
        return "null" if -self.margin < self.lo and self.hi < self.margin else "unclear"

    def text(self) -> str:
        """e.g. "plain depth effect +6.5 [+4.1, +8.9] points (margin 2.9; 6 seeds)"."""
        f = _num(self.unit)
        mar = f(self.margin) if self.margin == self.registered else f"{f(self.margin)}, 2 SE of noise"
        unit = " points" if self.unit == "percent" else ""
        return f"{self.name} {f(self.mean, True)} [{f(self.lo, True)}, {f(self.hi, True)}]{unit} (margin {mar}; " \
               f"{self.seeds} seeds)"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "call": self.call, "level": LEVEL}


def _num(unit: str) -> Callable[..., str]:
    def f(x: float, signed: bool = False) -> str:
        if not math.isfinite(x):
            return "n/a"
        v = 100 * x if unit == "percent" else x
        s = f"{v:+.2f}" if signed else f"{v:.2f}"
        return s if unit == "percent" or 0.01 <= abs(v) < 1e4 or v == 0 else f"{v:{'+' if signed else ''}.3g}"
    return f


# The seeds a rule sees (None: all) and the effects it has judged, set by `judge`.
_ACTIVE: contextvars.ContextVar[tuple[Sequence[int] | None, list[Effect]] | None] = \
    contextvars.ContextVar("skiplab_stats_active", default=None)


def chosen(values: Sequence[T]) -> list[T]:
    """The per-seed `values` of the seeds the rule is judged on now (all of them outside a replication half)."""
    state = _ACTIVE.get()
    idx = state[0] if state else None
    vals = list(values)
    if idx is None:
        return vals
    if max(idx) >= len(vals):
        raise ValueError(f"a per-seed list has {len(vals)} values but seed index {max(idx)} is being judged")
    return [vals[i] for i in idx]


def effect(name: str, values: Sequence[float], margin: float, *, examples: int | None = None,
           rates: Sequence[Sequence[float]] = (), held_out: bool = False) -> Effect:
    """Judge the mean over seeds of the per-seed `values` (paired differences, or one arm's values) against
    `margin`.

    examples: the measure is a rate on this many examples; `rates` then lists each arm's per-seed rates (one list
    for a single rate, two for a difference), giving the binomial noise. held_out: those examples are a held-out
    sample, so their noise also widens the interval (see the module docstring)."""
    vals = [float(v) for v in chosen(values)]
    arms = [[float(p) for p in chosen(r)] for r in rates]
    k = len(vals)
    finite = k > 0 and all(math.isfinite(v) for v in vals)
    mean = sum(vals) / k if finite else float("nan")
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (k - 1)) if finite and k > 1 else float("nan")
    if examples:
        if not arms:
            raise ValueError(f"effect {name!r}: a rate on {examples} examples needs its arms' per-seed rates")
        var = sum(sum(p * (1 - p) for p in arm) / max(len(arm), 1) for arm in arms) / examples
        noise_se = math.sqrt(max(var, 0.0))
        noise = f"binomial SE of one run on {examples} examples"
    else:
        noise_se = sd / math.sqrt(k) if k > 1 else float("nan")
        noise = "seed-to-seed SE (sd / sqrt(k))"
    seed_var = sd ** 2 / k
    var_mean = seed_var + (noise_se ** 2 if examples and held_out else 0.0)
    if k > 1 and math.isfinite(var_mean):
        # Welch-Satterthwaite: only the seed part is estimated (k - 1 df); the binomial part is known from p and n,
        # so the more of the variance it carries, the closer the quantile comes to the normal one.
        df = var_mean ** 2 / (seed_var ** 2 / (k - 1)) if seed_var > 0 else math.inf
        half = _scipy.t.ppf(0.5 + LEVEL / 2, df) * math.sqrt(var_mean)
        lo, hi = mean - half, mean + half
    else:
        lo = hi = float("nan")
    used = max(margin, 2 * noise_se) if math.isfinite(noise_se) else margin
    e = Effect(name, mean, lo, hi, float(margin), float(used), noise_se, noise, k, examples,
               "percent" if examples else "", tuple(vals))
    state = _ACTIVE.get()
    if state is not None:
        state[1].append(e)
    return e


@contextmanager
def _judging(idx: Sequence[int] | None) -> Iterator[list[Effect]]:
    effects: list[Effect] = []
    token = _ACTIVE.set((idx, effects))
    try:
        yield effects
    finally:
        _ACTIVE.reset(token)


def halves(k: int) -> list[list[int]]:
    """Two disjoint halves of k seed indices: the first and the second half (the middle one left out if k is
    odd)."""
    return [list(range(k // 2)), list(range(k - k // 2, k))]


def judge(rule: Callable[[dict[str, Any]], Any], evidence: dict[str, Any], seeds: int) -> dict[str, Any]:
    """The verdict of `rule` on all seeds, the effects it judged, and its replication on each half of the seeds.

    replicated: True/False where the rule judged an effect and there are >= 2 seeds; None where it judged none
    (a pure verification, or a precondition that stopped it) or one seed cannot be split."""
    with _judging(None) as effects:
        whole = rule(evidence)
    out: dict[str, Any] = {"verdict": whole, "intervals": [e.as_dict() for e in effects], "replication": None}
    if not effects or seeds < 2:
        return out
    parts = []
    for idx in halves(seeds):
        with _judging(idx):
            v = rule(evidence)
        parts.append({"seeds": idx, "verdict": v.verdict, "reason": v.reason})
    out["replication"] = {"halves": parts, "replicated": all(p["verdict"] == whole.verdict for p in parts)}
    return out


def summary(values: Sequence[float]) -> dict[str, Any]:
    """{"mean", "std" (sample std, 0 for one value), "n", "values" (each seed's, for the report to show beside the
    mean)}; non-finite values make mean/std None."""
    vals = [float(v) for v in values]
    n = len(vals)
    if n == 0 or not all(math.isfinite(v) for v in vals):
        return {"mean": None, "std": None, "n": n, "values": vals}
    mean = sum(vals) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else 0.0
    return {"mean": mean, "std": std, "n": n, "values": vals}


def band(per_seed: Sequence[Sequence[float]]) -> tuple[list[float | None], list[float | None]]:
    """Mean and std over seeds at each index of per-seed curves (cut to the shortest curve)."""
    n = min((len(c) for c in per_seed), default=0)
    stats = [summary([c[i] for c in per_seed]) for i in range(n)]
    return [s["mean"] for s in stats], [s["std"] for s in stats]


def slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of y against x."""
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxx = sum((a - mx) ** 2 for a in x)
    return sum((a - mx) * (b - my) for a, b in zip(x, y)) / sxx if sxx else float("nan")


def fmt_pct(s: dict) -> str:
    return "n/a" if s["mean"] is None else f"{s['mean']:.2%} +- {s['std']:.2%}"


def fmt(s: dict, digits: int = 3) -> str:
    return "n/a" if s["mean"] is None else f"{s['mean']:#.{digits}g} +- {s['std']:#.{digits}g}"

