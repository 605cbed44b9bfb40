"""width-vs-depth, compound-scaling and efficient-blocks: each verdict driven to all three outcomes (and its
preconditions) with synthetic evidence, no training."""

from skiplab.claims.scaling import compound_scaling
from skiplab.claims.scaling import efficient_blocks
from skiplab.claims.scaling import width_vs_depth
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED


def wvd(inc_obj, res_obj, inc_seq, res_seq, flops=(1000, 1000)):
    cells = {}
    for arch, task, acc in (("inception", "objects", inc_obj), ("deep-resnet", "objects", res_obj),
                            ("inception", "stages", inc_seq), ("deep-resnet", "stages", res_seq)):
        cells[f"{arch}/{task}"] = {"model": arch, "args": {}, "blocks": 3, "acc": list(acc),
                                   "flops": flops[0] if arch == "inception" else flops[1]}
    return {"tasks": {"objects": "multiscale", "stages": "pathfinder"}, "cells": cells,
            "chance": {"objects": 1 / 6, "stages": 0.5}, "seeds": [0, 1, 2]}


def test_width_vs_depth_all_outcomes():
    # Inception ahead on objects, the deep stack ahead on stages: interaction 10 points on every seed
    assert width_vs_depth.verdict(wvd([.7] * 3, [.65] * 3, [.7] * 3, [.75] * 3)).verdict == SUPPORTED
    # the same advantage on both tasks: no interaction, whatever the main effect
    assert width_vs_depth.verdict(wvd([.7] * 3, [.6] * 3, [.8] * 3, [.7] * 3)).verdict == NOT_SUPPORTED
    assert width_vs_depth.verdict(wvd([.7, .6, .7], [.6] * 3, [.7] * 3, [.7] * 3)).verdict == INCONCLUSIVE
    v = width_vs_depth.verdict(wvd([.7] * 3, [.65] * 3, [.55] * 3, [.52] * 3))  # stages never learned
    assert v.verdict == INCONCLUSIVE and "precondition" in v.reason and "stages" in v.reason
    v = width_vs_depth.verdict(wvd([.7] * 3, [.65] * 3, [.7] * 3, [.75] * 3, flops=(1100, 1000)))
    assert v.verdict == INCONCLUSIVE and "FLOPs" in v.reason


def cs_evidence(comp, depth, width, res, base=(.5, .5, .5), flops=None, resolution=20):
    flops = flops or {}
    pts = []
    for label, acc in (("base", base), ("compound", comp), ("depth only", depth), ("width only", width),
                       ("resolution only", res)):
        pts.append({"label": label, "args": {}, "flops": flops.get(label, 500 if label == "base" else 1000),
                    "resolution": resolution, "blocks": 8, "acc": list(acc)})
    return {"budget": 1000.0, "base_flops": 500, "search": [], "chosen": [1.2, 1.1, 1.15], "points": pts,
            "data_size": 32, "chance": 1 / 6, "seeds": [0, 1, 2]}


def test_compound_scaling_all_outcomes():
    v = compound_scaling.verdict
    assert v(cs_evidence([.7] * 3, [.6] * 3, [.65] * 3, [.68] * 3)).verdict == SUPPORTED
    # one single-dimension rule (width) does as well on every seed
    assert v(cs_evidence([.7] * 3, [.6] * 3, [.7] * 3, [.68] * 3)).verdict == NOT_SUPPORTED
    assert v(cs_evidence([.7] * 3, [.6] * 3, [.65, .72, .65], [.68] * 3)).verdict == INCONCLUSIVE
    r = v(cs_evidence([.7] * 3, [.6] * 3, [.65] * 3, [.68] * 3, flops={"depth only": 1100}))
    assert r.verdict == INCONCLUSIVE and "depth only" in r.reason
    r = v(cs_evidence([.7] * 3, [.6] * 3, [.65] * 3, [.68] * 3, resolution=40))
    assert r.verdict == INCONCLUSIVE and "resolution above" in r.reason
    r = v(cs_evidence([.7] * 3, [.6] * 3, [.65] * 3, [.68] * 3, base=(.2, .2, .2)))
    assert r.verdict == INCONCLUSIVE and "not learned" in r.reason


def eb_evidence(mb, basic, basic_flops=1000):
    pairs = [{"mbconv": {"model": "effnet", "args": {}, "flops": f, "params": 1, "acc": list(m)},
              "basic": {"model": "effnet-basic", "args": {"width_mult": 0.7}, "flops": f if f != 1000 else basic_flops,
                        "params": 1, "acc": list(b)}}
             for f, m, b in ((1000, mb[0], basic[0]), (2000, mb[1], basic[1]))]
    return {"pairs": pairs, "chance": 1 / 6, "seeds": [0, 1, 2]}


def test_efficient_blocks_all_outcomes():
    v = efficient_blocks.verdict
    assert v(eb_evidence(([.6] * 3, [.7] * 3), ([.55] * 3, [.65] * 3))).verdict == SUPPORTED
    assert v(eb_evidence(([.6] * 3, [.7] * 3), ([.6] * 3, [.72] * 3))).verdict == NOT_SUPPORTED
    assert v(eb_evidence(([.6] * 3, [.7] * 3), ([.55, .62, .55], [.65, .7, .65]))).verdict == INCONCLUSIVE
    r = v(eb_evidence(([.6] * 3, [.7] * 3), ([.55] * 3, [.65] * 3), basic_flops=1200))
    assert r.verdict == INCONCLUSIVE and "FLOPs" in r.reason
    r = v(eb_evidence(([.2] * 3, [.2] * 3), ([.2] * 3, [.2] * 3)))
    assert r.verdict == INCONCLUSIVE and "chance" in r.reason
