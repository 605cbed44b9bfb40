"""dense-shortcuts: the verdict on synthetic evidence of 6 seeds (all three outcomes, and replication on seed
halves) and the graph distances it reports."""

import math

from skiplab.claims.shortcuts import dense_shortcuts as ds
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Context
from skiplab.claims.core.stats import judge
from skiplab.models import create_model

SEEDS = 6
ZERO = (0.0,) * SEEDS
INIT = [0.5, 0.45, 0.5, 0.48, 0.52, 0.5]
TRAINED = [1.0, 0.9, 0.95, 1.05, 1.0, 0.9]


def evidence(dense_init, dense_trained, res_init=ZERO, res_trained=ZERO):
    def net(model, ri, rt):
        return {"model": model, "args": {}, "params": 175_000, "blocks": [], "kinds": [], "distance": [3, 2],
                "seeds": [{"init": [2.0, 1.0], "trained": [2.0, 1.0], "r_init": a, "r_trained": b, "train_err": 0.0}
                          for a, b in zip(ri, rt)]}
    return {"seeds": list(range(SEEDS)), "nets": {"densenet": net("densenet-bc40", dense_init, dense_trained),
                                                  "resnet": net("resnet20", res_init, res_trained)}}


def test_all_outcomes():
    v = ds.verdict(evidence(INIT, TRAINED))
    assert v.verdict == SUPPORTED and "6 seeds" in v.reason
    assert ds.verdict(evidence([-v for v in INIT], [-v for v in TRAINED])).verdict == NOT_SUPPORTED
    # seeds disagree: the init interval straddles 0
    assert ds.verdict(evidence([0.5, -0.3, 0.2, -0.4, 0.35, -0.3], TRAINED)).verdict == INCONCLUSIVE
    # init and trained disagree
    assert ds.verdict(evidence(INIT, [-v for v in TRAINED])).verdict == INCONCLUSIVE
    v = ds.verdict(evidence([0.5, math.nan, 0.2, 0.4, 0.35, 0.3], TRAINED))
    assert v.verdict == INCONCLUSIVE and "precondition" in v.reason
    numbers, figs = ds.present(evidence(INIT, TRAINED))
    assert len(numbers["rows"]) == 2 and {f["id"] for f in figs} == {"dense-shortcuts-gradient",
                                                                      "dense-shortcuts-distance"}


def test_replication_halves_disagree():
    # one seed of the second half has a trained d of 0: that half's interval straddles 0, all six clear it
    j = judge(ds.verdict, evidence(INIT, [1.0, 0.9, 1.1, 1.0, 0.0, 1.0]), SEEDS)
    assert j["verdict"].verdict == SUPPORTED
    assert [h["verdict"] for h in j["replication"]["halves"]] == [SUPPORTED, INCONCLUSIVE]
    assert j["replication"]["replicated"] is False
    assert judge(ds.verdict, evidence(INIT, TRAINED), SEEDS)["replication"]["replicated"] is True


def test_graph_distances_known_answer():
    """Every dense layer's own features reach the end of their dense block in one hop, so a layer's distance to
    the output depends only on its dense block: 3 hops in the last (features -> block output -> head -> output),
    2 more per transition (block output -> transition -> next block's output). A ResNet block's output passes
    every later addition: block l of B is B - l + 1 hops away."""
    dense = create_model("densenet-bc40", num_classes=10, in_channels=1, input_size=(8, 8))
    kinds = [b.kind for _, b in dense.blocks()]
    stage = [int(n.split(".")[1]) for n, _ in dense.blocks()]
    got = ds.layer_distances(dense)
    assert [d for d, k in zip(got, kinds) if k == "concat"] == [3 + 2 * (2 - s) for s, k in zip(stage, kinds)
                                                                if k == "concat"]
    res = create_model("resnet20", num_classes=10, in_channels=1, input_size=(8, 8), width_mult=0.8)
    assert ds.layer_distances(res) == [9 - l + 1 for l in range(9)]
    assert max(got) < max(ds.layer_distances(res))


def test_parameter_match_and_shared_full_run():
    """Quick: the pair is matched within 2%; full: the ResNet is the ladder's resnet56 run (no extra training)."""
    from skiplab.claims.depth.ladder import spec
    (_, dm, da), (_, rm, ra) = ds.PAIRS["quick"]
    p = [create_model(m, num_classes=10, in_channels=1, input_size=(8, 8), **a).num_parameters()
         for m, a in ((dm, da), (rm, ra))]
    assert abs(p[0] - p[1]) / p[0] < 0.02
    ctx = Context(scale="full")
    assert ds.runs(ctx)[-1].key == spec(ctx, "resnet", 56, ctx.seed_list[-1]).key
