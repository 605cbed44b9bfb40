"""dense-shortcuts: the verdict on synthetic evidence (all three outcomes) and the graph distances it reports."""

import math

from skiplab.claims.shortcuts import dense_shortcuts as ds
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Context
from skiplab.models import create_model


def evidence(dense_init, dense_trained, res_init=(0.0, 0.0, 0.0), res_trained=(0.0, 0.0, 0.0)):
    def net(model, ri, rt):
        return {"model": model, "args": {}, "params": 175_000, "blocks": [], "kinds": [], "distance": [3, 2],
                "seeds": [{"init": [2.0, 1.0], "trained": [2.0, 1.0], "r_init": a, "r_trained": b, "train_err": 0.0}
                          for a, b in zip(ri, rt)]}
    return {"seeds": [0, 1, 2], "nets": {"densenet": net("densenet-bc40", dense_init, dense_trained),
                                         "resnet": net("resnet20", res_init, res_trained)}}


def test_all_outcomes():
    assert ds.verdict(evidence([0.5, 0.3, 0.2], [1.0, 0.4, 0.1])).verdict == SUPPORTED
    assert ds.verdict(evidence([-0.5, -0.3, -0.2], [-1.0, -0.4, -0.1])).verdict == NOT_SUPPORTED
    assert ds.verdict(evidence([0.5, -0.3, 0.2], [1.0, 0.4, 0.1])).verdict == INCONCLUSIVE  # seeds disagree
    assert ds.verdict(evidence([0.5, 0.3, 0.2], [-1.0, -0.4, -0.1])).verdict == INCONCLUSIVE  # init vs trained
    v = ds.verdict(evidence([0.5, math.nan, 0.2], [1.0, 0.4, 0.1]))
    assert v.verdict == INCONCLUSIVE and "precondition" in v.reason
    numbers, figs = ds.present(evidence([0.5, 0.3, 0.2], [1.0, 0.4, 0.1]))
    assert len(numbers["rows"]) == 2 and {f["id"] for f in figs} == {"dense-shortcuts-gradient",
                                                                      "dense-shortcuts-distance"}


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
    assert ds.runs(ctx)[-1].key == spec(ctx, "resnet", 56, 2).key
