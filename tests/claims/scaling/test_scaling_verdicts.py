"""width-vs-depth and efficient-blocks (compound-scaling: test_compound_scaling.py): each verdict driven to all
three outcomes (and its preconditions) with synthetic evidence of 6 seeds, no training, and an effect whose seed
halves disagree is not replicated.

Accuracies are rates on 1,000 held-out test images, so every margin is at least 2 binomial standard errors of the
accuracies an effect combines (about 4 points for a difference of two near 70%, 6 for the interaction of four) and
that noise also widens each interval (by ~2.6 SE with 6 seeds, ~4.3 with 3): the values below are chosen with those
widths in mind."""

import pytest

from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from skiplab.claims.core.stats import judge
from skiplab.claims.scaling import efficient_blocks, width_vs_depth

SEEDS, TEST = 6, 1000


def per_seed(v):
    """A number (the same on every seed) or a (first half, second half) pair, as 6 per-seed values."""
    return [v[0]] * 3 + [v[1]] * 3 if isinstance(v, tuple) else [v] * SEEDS


def wvd(inc_obj, res_obj, inc_seq, res_seq, flops=(1000, 1000)):
    cells = {}
    for arch, task, acc in (("inception", "objects", inc_obj), ("deep-resnet", "objects", res_obj),
                            ("inception", "stages", inc_seq), ("deep-resnet", "stages", res_seq)):
        cells[f"{arch}/{task}"] = {"model": arch, "args": {}, "blocks": 3, "acc": per_seed(acc),
                                   "flops": flops[0] if arch == "inception" else flops[1]}
    return {"tasks": {"objects": "multiscale", "stages": "pathfinder"}, "cells": cells,
            "chance": {"objects": 1 / 6, "stages": 0.5}, "examples": {"objects": TEST, "stages": TEST},
            "seeds": list(range(SEEDS))}


def test_width_vs_depth_all_outcomes():
    v = width_vs_depth.verdict
    # Inception 15 points ahead on objects, the deep stack 15 ahead on stages: S_objects +15 [+11.0, +19.1] against
    # 4.1 (2 binomial SE of two rates), S_stages +15 [+11.4, +18.6] against 3.7, I = 30 points [+24.6, +35.4] against
    # 5.5
    good = v(wvd(.75, .6, .7, .85))
    assert good.verdict == SUPPORTED and "interaction I" in good.reason and "S_stages" in good.reason
    width_vs_depth.present(wvd(.75, .6, .7, .85))
    # Inception further ahead on stages than on objects: S_stages = -10 points, wrong direction
    r = v(wvd(.75, .6, .8, .7))
    assert r.verdict == NOT_SUPPORTED and "S_stages" in r.reason
    # the case the interaction alone got wrong: Inception behind on BOTH tasks (-10 on objects, -25 on stages) gives
    # I = +15 points [+9.8, +20.2], above its 5.3-point margin, but S_objects lies below its margin
    r = v(wvd(.6, .7, .7, .95))
    assert r.verdict == NOT_SUPPORTED and "S_objects" in r.reason and "S_stages" not in r.reason.split(":")[0]
    # S_stages = +4 points [+0.2, +7.8] straddles its 3.9-point margin; S_objects and I clear theirs
    r = v(wvd(.75, .6, .72, .76))
    assert r.verdict == INCONCLUSIVE and "straddles" in r.reason
    r = v(wvd(.7, .65, .55, .52))  # stages learned by neither net
    assert r.verdict == INCONCLUSIVE and "precondition" in r.reason and "stages" in r.reason
    # stages learned by the deep stack only (Inception 2 points above chance): the deep stack's win there compares
    # nothing, however large, so the claim is not judged
    r = v(wvd(.75, .6, .52, .93))
    assert r.verdict == INCONCLUSIVE and "inception on stages" in r.reason and "deep-resnet on" not in r.reason
    r = v(wvd(.75, .6, .7, .85, flops=(1100, 1000)))
    assert r.verdict == INCONCLUSIVE and "FLOPs" in r.reason


def test_width_vs_depth_effects_known_answer():
    # every seed equal: each effect's mean is the exact difference (and its interval the binomial noise alone)
    j = judge(width_vs_depth.verdict, wvd(.75, .6, .7, .85), SEEDS)
    means = {e["name"].split(" (")[0]: e["mean"] for e in j["intervals"]}
    assert means["inception on objects minus chance"] == pytest.approx(.75 - 1 / 6)
    assert means["deep-resnet on stages minus chance"] == pytest.approx(.85 - .5)
    assert means["S_objects"] == pytest.approx(.15) and means["S_stages"] == pytest.approx(.15)
    assert means["interaction I"] == pytest.approx(.30)
    assert len(j["intervals"]) == 4 + 3


def test_width_vs_depth_halves_disagree():
    # seeds 0-2: each net wins its task by 15 points; seeds 3-5: each loses its task by 5 (all nets learn both)
    j = judge(width_vs_depth.verdict, wvd((.75, .6), (.6, .65), (.7, .85), (.85, .8)), SEEDS)
    assert [h["verdict"] for h in j["replication"]["halves"]] == [SUPPORTED, NOT_SUPPORTED]
    assert j["replication"]["replicated"] is False


def eb_evidence(mb, basic, basic_flops=1000):
    pairs = [{"mbconv": {"model": "effnet", "args": {}, "flops": f, "params": 1, "acc": per_seed(m)},
              "basic": {"model": "effnet-basic", "args": {"width_mult": 0.7}, "flops": f if f != 1000 else basic_flops,
                        "params": 1, "acc": per_seed(b)}}
             for f, m, b in ((1000, mb[0], basic[0]), (2000, mb[1], basic[1]))]
    return {"pairs": pairs, "chance": 1 / 6, "examples": TEST, "seeds": list(range(SEEDS))}


def test_efficient_blocks_all_outcomes():
    v = efficient_blocks.verdict
    # MBConv 15 points ahead at both budgets: [+9.4, +20.6] against a 4.4-point margin
    good = v(eb_evidence((.6, .7), (.45, .55)))
    assert good.verdict == SUPPORTED and "MBConv - basic" in good.reason
    efficient_blocks.present(eb_evidence((.6, .7), (.45, .55)))
    assert v(eb_evidence((.6, .7), (.62, .72))).verdict == NOT_SUPPORTED  # 2 points behind: [-7.4, +3.4] vs 4.2
    assert v(eb_evidence((.6, .7), (.55, .65))).verdict == INCONCLUSIVE  # 5 points ahead: [-0.6, +10.6] vs 4.3
    r = v(eb_evidence((.6, .7), (.45, .55), basic_flops=1200))
    assert r.verdict == INCONCLUSIVE and "FLOPs" in r.reason
    r = v(eb_evidence((.2, .2), (.2, .2)))
    assert r.verdict == INCONCLUSIVE and "chance" in r.reason


def test_efficient_blocks_halves_disagree():
    # seeds 0-2: MBConv 15 points ahead; seeds 3-5: 10 points behind
    j = judge(efficient_blocks.verdict, eb_evidence((.6, .7), ((.45, .7), (.55, .8))), SEEDS)
    assert [h["verdict"] for h in j["replication"]["halves"]] == [SUPPORTED, NOT_SUPPORTED]
    assert j["replication"]["replicated"] is False
