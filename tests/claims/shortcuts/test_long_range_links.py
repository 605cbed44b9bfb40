"""long-range-links: the verdict on synthetic evidence (all three outcomes) and the link geometry it reports."""

import math

from skiplab.claims.shortcuts import long_range_links as ll
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Context
from skiplab.claims.depth.ladder import spec
from skiplab.models import create_model


def evidence(bare_err=(0.6, 0.65, 0.7), most_err=(0.01, 0.0, 0.02), bare_r=(-1.0, -1.2, -0.8),
             most_r=(0.5, 0.4, 0.6)):
    def cfg(n, s, err, r):
        return {"count": n, "span": s, "links": [], "blocks": 27, "shortest": 27,
                "seeds": [{"train_err": e, "r_init": 0.0, "r_trained": v} for e, v in zip(err, r)]}
    configs = [cfg(0, 0, bare_err, bare_r), cfg(2, 6, (0.3,) * 3, (0.0,) * 3), cfg(4, 6, most_err, most_r),
               cfg(2, 2, (0.5,) * 3, (0.0,) * 3), cfg(2, 13, (0.1,) * 3, (0.0,) * 3)]
    return {"depth": 56, "span": 6, "counts": [0, 2, 4], "span_count": 2, "spans": [2, 6, 13], "seeds": [0, 1, 2],
            "configs": configs}


def test_all_outcomes():
    assert ll.verdict(evidence()).verdict == SUPPORTED
    assert ll.verdict(evidence(most_err=(0.6, 0.66, 0.7))).verdict == NOT_SUPPORTED  # no lower error
    assert ll.verdict(evidence(most_r=(-2.0, -2.0, -2.0))).verdict == NOT_SUPPORTED  # gradient smaller
    assert ll.verdict(evidence(most_err=(0.01, 0.65, 0.02))).verdict == INCONCLUSIVE  # seeds disagree
    v = ll.verdict(evidence(bare_err=(0.001, 0.0, 0.002), most_err=(0.0, 0.0, 0.0)))
    assert v.verdict == INCONCLUSIVE and "precondition" in v.reason
    assert ll.verdict(evidence(most_r=(0.5, math.nan, 0.6))).verdict == INCONCLUSIVE
    numbers, figs = ll.present(evidence())
    assert len(numbers["rows"]) == 5 and len(figs) == 2


def test_zero_links_is_the_ladders_plain_run():
    for scale, depth in (("quick", 56), ("full", 110)):
        ctx = Context(scale=scale)
        keys = [s.key for s in ll.runs(ctx)]
        assert len(set(keys)) == len(keys) == 5 * 3
        assert ll.link_spec(ctx, 0, 6, 1).key == spec(ctx, "plain", depth, 1).key
        assert spec(ctx, "plain", depth, 0).key in keys


def test_shortest_path_known_answer():
    """4 links of span 6 chain stem -> 6 -> 13 -> 20 -> head in plain56's 27 blocks: 27 - 4 * 6 = 3 blocks are
    left on the shortest path; with no links it crosses all 27."""
    kw = dict(num_classes=10, in_channels=1, input_size=(8, 8))
    assert ll.blocks_on_shortest_path(create_model("plain56", **kw)) == 27
    assert ll.blocks_on_shortest_path(create_model("plain56-links", count=0, **kw)) == 27
    assert ll.blocks_on_shortest_path(create_model("plain56-links", count=4, span=6, **kw)) == 3
    assert ll.blocks_on_shortest_path(create_model("plain56-links", count=2, span=13, **kw)) == 1
