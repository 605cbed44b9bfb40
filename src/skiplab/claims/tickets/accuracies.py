"""What the three ticket claims compute from the shared evidence (run_set.py), and their common figures.

Accuracies are final test accuracies on the held-out test split (`examples` of them, recorded in the evidence);
the dense accuracy of a seed is its round 0. A ticket *matches* when its accuracy is at least the dense accuracy of
the same seed and net minus MATCH (1 point, the issue's definition). The verdicts judge each paired per-seed
difference of two accuracies on its 95% interval (`rate_effect`), whose margin is MATCH raised to 2 binomial
standard errors of the two accuracies on those held-out examples."""

from __future__ import annotations

import math
from typing import Any, Sequence

from skiplab.claims.core.stats import Effect, chosen, effect, summary

MATCH = 0.01  # a ticket matches dense accuracy within 1 point; a difference counts when it exceeds 1 point
SPARSE = 0.20  # the claim's "sparse": at most 20% of the prunable weights left


def finite(ev: dict[str, Any]) -> bool:
    """Every accuracy of the seeds judged now is a finite number (a diverged run's is NaN)."""
    vals = [v for net in ev["nets"].values() for key, rows in net.items() if key not in ("model", "density")
            for row in chosen(rows) for v in row]
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in vals)


def dense(net: dict[str, Any]) -> list[float]:
    return [row[0] for row in net["ticket"]]


def at_round(net: dict[str, Any], r: int) -> list[float]:
    return [row[r] for row in net["ticket"]]


def density_at(net: dict[str, Any], r: int) -> float:
    return net["density"][0][r]


def sparse_compare(ev: dict[str, Any], net: dict[str, Any]) -> list[tuple[int, int]]:
    """(index into compare_rounds, round) of the compared rounds with at most SPARSE of the weights left."""
    return [(i, r) for i, r in enumerate(ev["compare_rounds"]) if density_at(net, r) <= SPARSE + 1e-9]


def column(net: dict[str, Any], key: str, i: int) -> list[float]:
    return [row[i] for row in net[key]]


def frontier(ticket_row: Sequence[float]) -> int:
    """The last round r such that the ticket matches dense accuracy (within MATCH) at every round 1..r; 0 if it
    misses already at round 1."""
    d, last = ticket_row[0], 0
    for r in range(1, len(ticket_row)):
        if ticket_row[r] < d - MATCH:
            break
        last = r
    return last


def diff(a: Sequence[float], b: Sequence[float]) -> list[float]:
    return [x - y for x, y in zip(a, b)]


def rate_effect(name: str, a: Sequence[float], b: Sequence[float], ev: dict[str, Any]) -> Effect:
    """The per-seed difference a - b of two final test accuracies, judged against MATCH (raised to 2 binomial SE
    of the two accuracies): held-out examples, so their sampling noise also widens the interval."""
    return effect(name, diff(a, b), MATCH, examples=ev["examples"], rates=[a, b], held_out=True)


def accuracy_panel(ev: dict[str, Any], fam: str, title: str) -> dict[str, Any]:
    """Accuracy against remaining weights: the ticket at every round, the baselines at the compared rounds."""
    net = ev["nets"][fam]
    dens = net["density"][0]
    series = []
    for g, (label, rows, xs) in enumerate((("ticket", net["ticket"], dens),
                                           ("random re-init", net["reinit"], [dens[r] for r in ev["compare_rounds"]]),
                                           ("layer-wise shuffled", net["shuffled"],
                                            [dens[r] for r in ev["compare_rounds"]]))):
        st = [summary([row[i] for row in rows]) for i in range(len(xs))]
        series.append({"label": label, "group": g, "x": [100 * x for x in xs], "y": [s["mean"] for s in st],
                       "yerr": [s["std"] for s in st], "style": "solid" if g == 0 else "dashed"})
    d = summary(dense(net))
    hl = [] if d["mean"] is None else [{"y": d["mean"] - MATCH, "label": "dense - 1 point"}]
    return {"title": title, "kind": "line", "xlabel": "weights left (%)", "ylabel": "test accuracy",
            "xscale": "log", "series": series, "hlines": hl}
