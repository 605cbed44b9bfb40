"""lottery-ticket: iterative magnitude pruning finds sparse subnetworks (<= 20% of the weights) that, reset to
their initial or early-rewound weights, train to dense accuracy; the same masks re-initialized do worse (Frankle
& Carbin 2019; Frankle et al. 2020). Judged on the residual net of the shared IMP run set (run_set.py);
the plain twin's (and at full scale VGG-16's) curves are shown beside it."""

from __future__ import annotations

from typing import Any

from skiplab.claims.tickets.run_set import budget, measure, runs  # noqa: F401  (the shared IMP run set)
from skiplab.claims.tickets.accuracies import (MATCH, SPARSE, accuracy_panel, at_round, column, dense, density_at,
                                              finite, rate_effect, sparse_compare)
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Claim, Verdict
from skiplab.claims.core.stats import chosen, fmt_pct, summary

CLAIM = Claim(
    id="lottery-ticket",
    kind="empirical",
    statement="Iterative magnitude pruning finds sparse subnetworks (<= 20% of weights) that, reset to initial or "
              "early-rewound weights, train to dense accuracy; the same masks re-initialized do worse.",
    source="Frankle & Carbin 2019; Frankle et al. 2020",
    rule=(f"Residual net, IMP (20% of the remaining weights per round, global magnitude, classifier dense, rewound "
          f"to an early step), final accuracy on the held-out test split per seed. At each compared round with <= "
          f"{SPARSE:.0%} of the weights left, three paired per-seed differences are judged, each mean over seeds on "
          f"its 95% t-interval (widened by the test split's binomial noise) against a margin of {MATCH:.0%} (1 "
          f"point) raised to 2 binomial standard errors of the two accuracies on the test split: dense - ticket "
          f"(the ticket matches when the interval lies below the margin, misses when above), ticket - random "
          f"re-init (same mask, fresh init) and ticket - layer-wise shuffled mask (same per-layer sparsity, rewound "
          f"weights) (beats when above, does not when below). Supported if at one such round the ticket matches "
          f"and beats both baselines. Not supported if at every such round it misses, or if at every such round "
          f"where it matches the re-init is as good (ticket - re-init below the margin). "
          f"Otherwise inconclusive."),
    fair_test=("Accuracy against the weights left for the IMP ticket (rewound to an early step), the same mask "
               "re-initialized at random, and a layer-wise shuffled random mask with the same per-layer sparsity, "
               "all trained with the dense net's recipe and compared per seed at the same round, on held-out test "
               "examples; the claim's sparsity is <= 20% of the prunable weights."),
)


def verdict(evidence: dict[str, Any]) -> Verdict:
    if not finite(evidence):
        return Verdict(INCONCLUSIVE, "precondition failed: an accuracy is missing or not finite (diverged run)")
    net = evidence["nets"]["resnet"]
    rounds = sparse_compare(evidence, net)
    if not rounds:
        return Verdict(INCONCLUSIVE, f"no compared round has <= {SPARSE:.0%} of the weights left")
    d = dense(net)
    judged = []
    for i, r in rounds:
        t = at_round(net, r)
        judged.append((r, rate_effect(f"{density_at(net, r):.1%} left: dense - ticket", d, t, evidence),
                       rate_effect("ticket - re-init", t, column(net, "reinit", i), evidence),
                       rate_effect("ticket - shuffled", t, column(net, "shuffled", i), evidence)))
    said = f"dense {fmt_pct(summary(chosen(d)))}; " + "; ".join(e.text() for _, *es in judged for e in es)
    for r, gap, re, sh in judged:
        if gap.call == "below" and re.call == "above" and sh.call == "above":
            return Verdict(SUPPORTED, f"at {density_at(net, r):.1%} of the weights the ticket matches dense and "
                                      f"beats both baselines beyond the margin: {said}")
    if all(gap.call == "above" for _, gap, _, _ in judged):
        return Verdict(NOT_SUPPORTED, f"at <= {SPARSE:.0%} of the weights the ticket misses dense accuracy beyond "
                                      f"the margin: {said}")
    matching = [re for _, gap, re, _ in judged if gap.call == "below"]
    if matching and all(re.call == "below" for re in matching):
        return Verdict(NOT_SUPPORTED, f"where the sparse ticket matches dense, the re-initialized mask does as "
                                      f"well (ticket - re-init below the margin): {said}")
    return Verdict(INCONCLUSIVE, f"an interval straddles its margin, or rounds disagree: {said}")


def present(evidence: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rows = []
    for fam in evidence["families"]:
        net = evidence["nets"][fam]
        rows.append([fam, net["model"], 1.0, summary(dense(net)), None, None])
        for i, r in enumerate(evidence["compare_rounds"]):
            rows.append([fam, net["model"], density_at(net, r), summary(at_round(net, r)),
                         summary(column(net, "reinit", i)), summary(column(net, "shuffled", i))])
    numbers = {"columns": ["net", "model", "weights left", "ticket", "random re-init", "layer-wise shuffled"],
               "rows": rows, "format": {"weights left": "percent", "ticket": "percent", "random re-init": "percent",
                                        "layer-wise shuffled": "percent"}}
    panels = [accuracy_panel(evidence, fam, f"{fam} ({evidence['nets'][fam]['model']})")
              for fam in evidence["families"]]
    fig = {"id": "lottery-ticket-curves", "title": "Test accuracy against weights left: ticket vs baselines",
           "caption": "Mean over seeds, band = +-1 std. The ticket is trained at every IMP round, the baselines at "
                      "the compared rounds. Weights left: share of the prunable (conv and non-head linear) weights.",
           "panels": panels}
    return numbers, [fig]
