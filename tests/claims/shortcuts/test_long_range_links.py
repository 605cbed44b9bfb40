"""long-range-links: the verdict on synthetic evidence of 6 seeds (all three outcomes, and replication on seed
halves) and the link geometry it reports."""

import math

from skiplab.claims.shortcuts import long_range_links as ll
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Context
from skiplab.claims.core.stats import judge
from skiplab.claims.depth.ladder import spec
from skiplab.models import create_model

SEEDS = 6
BARE_ERR = (0.6, 0.65, 0.7, 0.62, 0.68, 0.66)
MOST_ERR = (0.01, 0.0, 0.02, 0.01, 0.005, 0.015)
BARE_R = (-1.0, -1.2, -0.8, -1.1, -0.9, -1.0)
MOST_R = (0.5, 0.4, 0.6, 0.5, 0.45, 0.55)


def evidence(bare_err=BARE_ERR, most_err=MOST_ERR, bare_r=BARE_R, most_r=MOST_R):
    def cfg(n, s, err, r):
        return {"count": n, "span": s, "links": [], "blocks": 27, "shortest": 27,
                "seeds": [{"train_err": e, "r_init": 0.0, "r_trained": v} for e, v in zip(err, r)]}
    flat = (0.3,) * SEEDS, (0.0,) * SEEDS
    configs = [cfg(0, 0, bare_err, bare_r), cfg(2, 6, *flat), cfg(4, 6, most_err, most_r), cfg(2, 13, *flat)]
    return {"depth": 56, "span": 6, "counts": [0, 2, 4], "span_count": 2, "spans": [6, 13],
            "seeds": list(range(SEEDS)), "train_examples": 1347, "configs": configs}


def test_all_outcomes():
    v = ll.verdict(evidence())
    assert v.verdict == SUPPORTED and "points" in v.reason
    # no lower error
    assert ll.verdict(evidence(most_err=(0.6, 0.66, 0.7, 0.61, 0.68, 0.67))).verdict == NOT_SUPPORTED
    # lower error, but a smaller gradient signal
    v = ll.verdict(evidence(most_r=(-2.0, -2.1, -1.9, -2.0, -2.2, -1.8)))
    assert v.verdict == NOT_SUPPORTED and "smaller" in v.reason
    # seeds disagree: the links help on half of them
    assert ll.verdict(evidence(most_err=(0.01, 0.65, 0.02, 0.66, 0.01, 0.6))).verdict == INCONCLUSIVE
    v = ll.verdict(evidence(bare_err=(0.001, 0.0, 0.002, 0.001, 0.0, 0.002), most_err=(0.0,) * SEEDS))
    assert v.verdict == INCONCLUSIVE and "precondition" in v.reason
    assert ll.verdict(evidence(most_r=(0.5, math.nan, 0.6, 0.5, 0.5, 0.5))).verdict == INCONCLUSIVE
    numbers, figs = ll.present(evidence())
    assert len(numbers["rows"]) == 4 and len(figs) == 2


def test_replication_halves_disagree():
    # the links leave one seed of the second half at 40% error: the six together clear the margin, that half not
    j = judge(ll.verdict, evidence(most_err=(0.01, 0.0, 0.02, 0.01, 0.4, 0.015)), SEEDS)
    assert j["verdict"].verdict == SUPPORTED
    assert [h["verdict"] for h in j["replication"]["halves"]] == [SUPPORTED, INCONCLUSIVE]
    assert j["replication"]["replicated"] is False
    assert judge(ll.verdict, evidence(), SEEDS)["replication"]["replicated"] is True


def test_zero_links_is_the_ladders_plain_run():
    for scale, depth, n in (("quick", 56, 4), ("full", 110, 5)):
        ctx = Context(scale=scale)
        keys = [s.key for s in ll.runs(ctx)]
        assert len(set(keys)) == len(keys) == n * ctx.seeds  # quick: the short span 2 is cut for the budget
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
