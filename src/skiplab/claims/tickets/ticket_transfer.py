"""ticket-transfer: a ticket mask found in a plain (VGG-like) net, moved to a residual net of the same skeleton,
trains well: better than a layer-wise shuffled mask of equal sparsity and near the residual net's own ticket.

From the shared IMP run set (run_set.py): the plain twin's mask at a compared round is put on the residual
net (every layer has its namesake of the same shape; pruning/transfer.py pairs a VGG's layers by shape where they
allow and gives a layer without a counterpart a random mask at the source's density) and trained from the
residual net's rewound weights (judged) and from its own init (reported); the shuffled control permutes the moved
mask within each layer, so it has the transferred mask's per-layer sparsity exactly."""

from __future__ import annotations

from typing import Any

from skiplab.claims.tickets.run_set import budget, measure, runs  # noqa: F401  (the shared IMP run set)
from skiplab.claims.tickets.accuracies import (MATCH, SPARSE, at_round, column, density_at, finite, rate_effect,
                                              sparse_compare)
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Claim, Verdict
from skiplab.claims.core.stats import summary

CLAIM = Claim(
    id="ticket-transfer",
    kind="empirical",
    statement="A ticket mask found in a plain (VGG-like) net, moved to a residual net of the same skeleton, trains "
              "well: better than a layer-wise shuffled mask of equal sparsity and near the residual net's own "
              "ticket.",
    source="seed text (no published cross-family study found)",
    rule=(f"Final accuracy on the held-out test split per seed, residual net, rewound weights, at the compared "
          f"rounds with <= {SPARSE:.0%} of the weights left: own ticket, the plain twin's mask moved over, and that "
          f"moved mask shuffled within each layer. Each paired per-seed difference is judged by its mean over seeds "
          f"on a 95% t-interval (widened by the test split's binomial noise) against a margin of {MATCH:.0%} (1 "
          f"point) raised to 2 binomial standard errors of the two accuracies. A round tests transfer only where "
          f"masks matter: own ticket - own shuffled mask above the margin; if no round does, inconclusive. "
          f"Supported if at one such round moved - moved shuffled is above the margin and own - moved below it "
          f"(within the margin of the own ticket, or better). Not supported if at every such round moved - moved "
          f"shuffled is below the margin or own - moved above it. Otherwise inconclusive. The VGG source (full "
          f"scale) and training from the residual net's own init are reported, not judged."),
    fair_test=("At equal sparsity on the same residual net, trained from the same rewound weights and recipe: its "
               "own ticket, the plain net's mask moved over (every layer paired with its namesake of the same "
               "shape), and that moved mask shuffled within each layer (exactly its per-layer sparsity), compared "
               "per seed on held-out test examples, at rounds where the own ticket beats its shuffled mask."),
)


def verdict(evidence: dict[str, Any]) -> Verdict:
    if not finite(evidence):
        return Verdict(INCONCLUSIVE, "precondition failed: an accuracy is missing or not finite (diverged run)")
    net = evidence["nets"]["resnet"]
    parts, tested = [], []
    for i, r in sparse_compare(evidence, net):
        own, moved = at_round(net, r), column(net, "transfer-plain", i)
        matters = rate_effect(f"{density_at(net, r):.1%} left: own - own shuffled", own, column(net, "shuffled", i),
                              evidence)
        vs = rate_effect("moved - moved shuffled", moved, column(net, "transfer-plain-shuffled", i), evidence)
        om = rate_effect("own - moved", own, moved, evidence)
        parts.append("; ".join(e.text() for e in (matters, vs, om)))
        if matters.call == "above":
            tested.append((r, vs, om))
    said = "; ".join(parts) or "no round"
    if not tested:
        return Verdict(INCONCLUSIVE, f"at no sparse round does the residual net's own ticket beat its shuffled "
                                     f"mask beyond the margin, so masks do not matter here: {said}")
    for r, vs, om in tested:
        if vs.call == "above" and om.call == "below":
            return Verdict(SUPPORTED, f"at {density_at(net, r):.1%} of the weights the moved plain mask beats its "
                                      f"shuffled control and is within the margin of the own ticket: {said}")
    if all(vs.call == "below" or om.call == "above" for _, vs, om in tested):
        return Verdict(NOT_SUPPORTED, f"where masks matter, the moved plain mask is no better than its shuffled "
                                      f"control, or clearly below the own ticket: {said}")
    return Verdict(INCONCLUSIVE, f"an interval straddles its margin, or rounds disagree: {said}")


def present(evidence: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    net = evidence["nets"]["resnet"]
    sources = evidence["families"][1:]
    kinds = [("own ticket", None), ("own shuffled", "shuffled")]
    for src in sources:
        kinds += [(f"{src} mask", f"transfer-{src}"), (f"{src} mask, own init", f"transfer-{src}-init"),
                  (f"{src} mask shuffled", f"transfer-{src}-shuffled")]
    rows = []
    for i, r in enumerate(evidence["compare_rounds"]):
        rows.append([density_at(net, r)] + [summary(at_round(net, r) if key is None else column(net, key, i))
                                            for _, key in kinds])
    cols = ["weights left"] + [k for k, _ in kinds]
    numbers = {"columns": cols, "rows": rows, "format": {c: "percent" for c in cols}}
    xs = [100 * density_at(net, r) for r in evidence["compare_rounds"]]
    series = []
    for g, (label, key) in enumerate(kinds):
        st = [summary(at_round(net, r) if key is None else column(net, key, i))
              for i, r in enumerate(evidence["compare_rounds"])]
        series.append({"label": label, "group": g, "x": xs, "y": [s["mean"] for s in st],
                       "yerr": [s["std"] for s in st], "style": "dashed" if "shuffled" in label else "solid"})
    pairs = evidence.get("transfer_pairs", {})
    note = "; ".join(f"{s}: {p['paired']}/{p['layers']} layers paired" for s, p in pairs.items())
    fig = {"id": "ticket-transfer-accuracy", "title": "Residual net with its own ticket vs masks moved from other nets",
           "caption": f"Test accuracy at the compared IMP rounds, mean over seeds, band = +-1 std ({note}; an "
                      f"unpaired layer gets a random mask at the source's density).",
           "panels": [{"title": f"residual net ({net['model']})", "kind": "line", "xlabel": "weights left (%)",
                       "ylabel": "test accuracy", "xscale": "log", "series": series}]}
    return numbers, [fig]
