"""lottery-ticket: iterative magnitude pruning finds sparse subnetworks (<= 20% of the weights) that, reset to
their initial or early-rewound weights, train to dense accuracy; the same masks re-initialized do worse (Frankle
& Carbin 2019; Frankle et al. 2020). Judged on the residual net of the shared IMP run set (run_set.py);
the plain twin's (and at full scale VGG-19's) curves are shown beside it."""

from __future__ import annotations

from typing import Any

from skiplab.claims.tickets.run_set import budget, measure, runs  # noqa: F401  (the shared IMP run set)
from skiplab.claims.tickets.accuracies import (MATCH, SPARSE, accuracy_panel, at_round, column, dense, density_at, diff, finite,
                            sparse_compare)
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Claim, Verdict
from skiplab.claims.core.stats import agreement, fmt_pct, summary

CLAIM = Claim(
    id="lottery-ticket",
    kind="empirical",
    statement="Iterative magnitude pruning finds sparse subnetworks (<= 20% of weights) that, reset to initial or "
              "early-rewound weights, train to dense accuracy; the same masks re-initialized do worse.",
    source="Frankle & Carbin 2019; Frankle et al. 2020",
    rule=(f"Residual net, IMP (20% of the remaining weights per round, global magnitude, classifier dense, rewound "
          f"to an early step), final test accuracy per seed. At the compared rounds with <= {SPARSE:.0%} of the "
          f"weights left: the ticket matches when its accuracy >= the seed's dense accuracy - {MATCH:.0%} (1 point)."
          f" Supported if at one such round the ticket matches on every seed and beats both the random re-init "
          f"(same mask, fresh init) and the layer-wise shuffled mask (same per-layer sparsity, rewound weights) by "
          f"more than 1 point on every seed. Not supported if at every such round the ticket misses dense by more "
          f"than 1 point on every seed, or if at every such round where it matches on every seed the re-init is "
          f"within 1 point of it (or better) on every seed. Otherwise inconclusive."),
)


def verdict(evidence: dict[str, Any]) -> Verdict:
    if not finite(evidence):
        return Verdict(INCONCLUSIVE, "precondition failed: an accuracy is missing or not finite (diverged run)")
    net = evidence["nets"]["resnet"]
    rounds = sparse_compare(evidence, net)
    if not rounds:
        return Verdict(INCONCLUSIVE, f"no compared round has <= {SPARSE:.0%} of the weights left")
    d = dense(net)
    parts, matching, reinit_close = [], [], []
    for i, r in rounds:
        t = at_round(net, r)
        gap, adv_re, adv_sh = diff(d, t), diff(t, column(net, "reinit", i)), diff(t, column(net, "shuffled", i))
        parts.append(f"{density_at(net, r):.1%} left: dense - ticket {fmt_pct(summary(gap))}, ticket - re-init "
                     f"{fmt_pct(summary(adv_re))}, ticket - shuffled {fmt_pct(summary(adv_sh))}")
        if all(g <= MATCH for g in gap):
            matching.append((r, adv_re, adv_sh))
            reinit_close.append(agreement(adv_re, MATCH) == "below")
    said = f"dense {fmt_pct(summary(d))}; " + "; ".join(parts)
    for r, adv_re, adv_sh in matching:
        if agreement(adv_re, MATCH) == "above" and agreement(adv_sh, MATCH) == "above":
            return Verdict(SUPPORTED, f"at {density_at(net, r):.1%} of the weights the ticket matches dense and "
                                      f"beats both baselines by > 1 point on every seed: {said}")
    if all(agreement(diff(d, at_round(net, r)), MATCH) == "above" for _, r in rounds):
        return Verdict(NOT_SUPPORTED, f"at <= {SPARSE:.0%} of the weights the ticket misses dense accuracy by "
                                      f"more than 1 point on every seed: {said}")
    if matching and all(reinit_close):
        return Verdict(NOT_SUPPORTED, f"where the sparse ticket matches dense, the re-initialized mask does as "
                                      f"well (within 1 point on every seed): {said}")
    return Verdict(INCONCLUSIVE, f"seeds or rounds disagree: {said}")


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
