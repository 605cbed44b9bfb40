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
from skiplab.claims.tickets.accuracies import MATCH, SPARSE, at_round, column, density_at, diff, finite, sparse_compare
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Claim, Verdict
from skiplab.claims.core.stats import agreement, fmt_pct, summary

CLAIM = Claim(
    id="ticket-transfer",
    kind="empirical",
    statement="A ticket mask found in a plain (VGG-like) net, moved to a residual net of the same skeleton, trains "
              "well: better than a layer-wise shuffled mask of equal sparsity and near the residual net's own "
              "ticket.",
    source="seed text (no published cross-family study found)",
    rule=(f"Final test accuracy per seed, residual net, rewound weights, at the compared rounds with <= "
          f"{SPARSE:.0%} of the weights left: own ticket, the plain twin's mask moved over, and that moved mask "
          f"shuffled within each layer. A round tests transfer only where masks matter: the residual net's own "
          f"ticket beats its own shuffled mask by more than {MATCH:.0%} (1 point) on every seed; if no round does, "
          f"inconclusive. Supported if at one such round the moved mask beats its shuffled control by more than 1 "
          f"point on every seed and is within 1 point of the own ticket (or better) on every seed. Not supported if "
          f"at every such round it fails one of the two on every seed (no better than shuffled + 1 point on every "
          f"seed, or more than 1 point below the own ticket on every seed). Otherwise inconclusive. The VGG source "
          f"(full scale) and training from the residual net's own init are reported, not judged."),
)


def verdict(evidence: dict[str, Any]) -> Verdict:
    if not finite(evidence):
        return Verdict(INCONCLUSIVE, "precondition failed: an accuracy is missing or not finite (diverged run)")
    net = evidence["nets"]["resnet"]
    parts, tested = [], []
    for i, r in sparse_compare(evidence, net):
        own, moved = at_round(net, r), column(net, "transfer-plain", i)
        mask_matters = diff(own, column(net, "shuffled", i))
        vs_shuffled, own_minus = diff(moved, column(net, "transfer-plain-shuffled", i)), diff(own, moved)
        parts.append(f"{density_at(net, r):.1%} left: own - own shuffled {fmt_pct(summary(mask_matters))}, moved - "
                     f"moved shuffled {fmt_pct(summary(vs_shuffled))}, own - moved {fmt_pct(summary(own_minus))}")
        if agreement(mask_matters, MATCH) == "above":
            tested.append((r, vs_shuffled, own_minus))
    said = "; ".join(parts) or "no round"
    if not tested:
        return Verdict(INCONCLUSIVE, f"at no sparse round does the residual net's own ticket beat its shuffled "
                                     f"mask by > 1 point on every seed, so masks do not matter here: {said}")
    for r, vs, om in tested:
        if agreement(vs, MATCH) == "above" and all(v <= MATCH for v in om):
            return Verdict(SUPPORTED, f"at {density_at(net, r):.1%} of the weights the moved plain mask beats its "
                                      f"shuffled control by > 1 point and is within 1 point of the own ticket on "
                                      f"every seed: {said}")
    if all(agreement(vs, MATCH) == "below" or agreement(om, MATCH) == "above" for _, vs, om in tested):
        return Verdict(NOT_SUPPORTED, f"where masks matter, the moved plain mask is no better than its shuffled "
                                      f"control, or clearly below the own ticket, on every seed: {said}")
    return Verdict(INCONCLUSIVE, f"seeds or rounds disagree: {said}")


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
