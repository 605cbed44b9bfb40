"""skips-help-tickets: skip connections make winning tickets easier to find (a richer web of paths). From the
shared IMP run set (run_set.py): the residual net and its plain twin (the same layers without shortcuts)
are pruned by the same procedure; how far each ticket keeps matching its own dense accuracy is compared."""

from __future__ import annotations

from typing import Any

from skiplab.claims.tickets import run_set as _tickets
from skiplab.claims.tickets.run_set import budget, runs  # noqa: F401  (the shared IMP run set)
from skiplab.claims.tickets.accuracies import MATCH, dense, diff, finite, frontier
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Claim, Context, Verdict
from skiplab.claims.core.engine import Done
from skiplab.claims.core.stats import chosen, effect, fmt_pct, summary

DENSE_GAP = 0.02  # precondition: the twins' dense accuracies within 2 points (mean), so "matching" means alike
# The registered effect: the residual frontier later by 2 rounds on average (0.8^2: 36% fewer weights still
# matching); before issue 19 it was also required to be >= 1 round later on every seed.
MARGIN_ROUNDS = 2.0

CLAIM = Claim(
    id="skips-help-tickets",
    kind="empirical",
    statement="Skip connections make winning tickets easier to find (a richer web of paths).",
    source="seed text",
    rule=(f"Residual net and plain twin, the same IMP procedure (20% of the remaining weights per round), final "
          f"accuracy on the held-out test split per seed. A net's frontier is the last round r such that its ticket "
          f"matches its own dense accuracy within {MATCH:.0%} (1 point) at every round 1..r (weights left 0.8^r). "
          f"Preconditions (else inconclusive): every accuracy finite; mean dense accuracies within "
          f"{DENSE_GAP:.0%}; at least one net's ticket stops matching within the sweep on some seed. The per-seed "
          f"difference residual frontier - plain frontier (rounds) is judged, its mean over seeds on a 95% "
          f"t-interval against a margin of {MARGIN_ROUNDS:g} rounds (raised to 2 seed-to-seed standard errors): "
          f"supported if the interval lies above the margin, not supported if it lies below it, otherwise "
          f"inconclusive."),
    fair_test=("The residual net and its plain twin (the same layers without shortcuts) are pruned by the same IMP "
               "procedure and trained with the same recipe; the sparsity at which each net's ticket stops matching "
               "its own dense accuracy is compared per seed, with the twins' dense accuracies alike."),
)


def measure(ctx: Context, done: Done) -> dict[str, Any]:
    ev = _tickets.measure(ctx, done)
    return {**ev, "frontier": {f: [frontier(row) for row in ev["nets"][f]["ticket"]] for f in ("resnet", "plain")}}


def verdict(evidence: dict[str, Any]) -> Verdict:
    if not finite(evidence):
        return Verdict(INCONCLUSIVE, "precondition failed: an accuracy is missing or not finite (diverged run)")
    res, pl = evidence["nets"]["resnet"], evidence["nets"]["plain"]
    fr, fp = chosen(evidence["frontier"]["resnet"]), chosen(evidence["frontier"]["plain"])
    last = len(evidence["rounds"]) - 1
    dens = res["density"][0]
    dr, dp = chosen(dense(res)), chosen(dense(pl))
    said = (f"frontier (rounds) residual {fr} vs plain {fp} (weights left at the mean frontier: residual "
            f"{dens[round(sum(fr) / len(fr))]:.1%}, plain {dens[round(sum(fp) / len(fp))]:.1%}); dense accuracy "
            f"residual {fmt_pct(summary(dr))}, plain {fmt_pct(summary(dp))}")
    gap = summary(diff(dr, dp))["mean"]
    if gap is None or abs(gap) > DENSE_GAP:
        return Verdict(INCONCLUSIVE, f"precondition failed: the twins' dense accuracies differ by more than "
                                     f"{DENSE_GAP:.0%}: {said}")
    if all(v == last for v in fr + fp):
        return Verdict(INCONCLUSIVE, f"neither ticket stopped matching within the {last} rounds swept: {said}")
    e = effect("residual - plain frontier (rounds)",
               diff(evidence["frontier"]["resnet"], evidence["frontier"]["plain"]), MARGIN_ROUNDS)
    said = f"{e.text()}; {said}"
    if e.call == "above":
        return Verdict(SUPPORTED, f"the residual ticket keeps matching dense for more rounds, beyond the margin: "
                                  f"{said}")
    if e.call == "below":
        return Verdict(NOT_SUPPORTED, f"the residual ticket does not keep matching dense for "
                                      f"{MARGIN_ROUNDS:g} more rounds: {said}")
    return Verdict(INCONCLUSIVE, f"the interval straddles the margin: {said}")


def present(evidence: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    dens = evidence["nets"]["resnet"]["density"][0]
    rows = []
    for fam in ("resnet", "plain"):
        net, fr = evidence["nets"][fam], evidence["frontier"][fam]
        rows.append([fam, net["model"], summary(dense(net)), summary(fr), summary([dens[r] for r in fr])])
    numbers = {"columns": ["net", "model", "dense accuracy", "frontier (rounds)", "weights left at frontier"],
               "rows": rows, "format": {"dense accuracy": "percent", "frontier (rounds)": "float",
                                        "weights left at frontier": "percent"}}
    series = []
    for g, fam in enumerate(("resnet", "plain")):
        net = evidence["nets"][fam]
        gaps = [[row[r] - row[0] for r in range(len(row))] for row in net["ticket"]]
        st = [summary([gp[r] for gp in gaps]) for r in range(len(gaps[0]))]
        series.append({"label": fam, "group": g, "x": [100 * x for x in net["density"][0]],
                       "y": [s["mean"] for s in st], "yerr": [s["std"] for s in st]})
    fig = {"id": "skips-help-tickets-gap", "title": "Ticket accuracy minus dense accuracy: residual vs plain twin",
           "caption": "Per seed, ticket test accuracy at each IMP round minus the same seed's dense accuracy; mean "
                      "over seeds, band = +-1 std. The dashed line is the 1-point matching threshold.",
           "panels": [{"title": "same IMP procedure", "kind": "line", "xlabel": "weights left (%)",
                       "ylabel": "accuracy - dense", "xscale": "log", "series": series,
                       "hlines": [{"y": -MATCH, "label": "-1 point"}]}]}
    return numbers, [fig]
