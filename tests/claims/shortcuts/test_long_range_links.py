"""long-range-links: the verdict on synthetic evidence of 6 seeds (all three outcomes, and replication on seed
halves), the link geometry it reports, and a known answer of the conditioning |log rho| it judges."""

import math

import pytest
import torch

from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Context
from skiplab.claims.core.stats import judge
from skiplab.claims.depth.ladder import spec
from skiplab.claims.shortcuts import long_range_links as ll
from skiplab.models import create_model
from skiplab.probes import gradient_signal

SEEDS = 6
BARE_ERR = (0.6, 0.65, 0.7, 0.62, 0.68, 0.66)
MOST_ERR = (0.01, 0.0, 0.02, 0.01, 0.005, 0.015)
# |log rho| at init: the bare chain's signal explodes toward the input (rho ~ e^8.7), the links bring it to ~e^6.5
BARE_C = (8.8, 8.9, 8.4, 9.1, 8.8, 8.5)
MOST_C = (6.6, 6.7, 6.3, 6.8, 6.5, 6.4)


def evidence(bare_err=BARE_ERR, most_err=MOST_ERR, bare_c=BARE_C, most_c=MOST_C, trained=None):
    """`trained`: (bare, most) |log rho| during training; the same as at init when omitted."""
    bare_t, most_t = trained or (bare_c, most_c)

    def cfg(n, s, err, c, t):
        return {"count": n, "span": s, "links": [], "blocks": 27, "shortest": 27,
                "seeds": [{"train_err": e, "r_init": v, "r_trained": w, "cond_init": abs(v), "cond_trained": abs(w)}
                          for e, v, w in zip(err, c, t)]}
    flat = (0.3,) * SEEDS, (7.0,) * SEEDS, (7.0,) * SEEDS
    configs = [cfg(0, 0, bare_err, bare_c, bare_t), cfg(2, 6, *flat), cfg(4, 6, most_err, most_c, most_t),
               cfg(2, 13, *flat)]
    return {"depth": 56, "span": 6, "counts": [0, 2, 4], "span_count": 2, "spans": [6, 13],
            "seeds": list(range(SEEDS)), "train_examples": 1347, "configs": configs}


def test_all_outcomes():
    v = ll.verdict(evidence())
    assert v.verdict == SUPPORTED and "points" in v.reason and "log 2" in v.reason
    # no lower error
    assert ll.verdict(evidence(most_err=(0.6, 0.66, 0.7, 0.61, 0.68, 0.67))).verdict == NOT_SUPPORTED
    # lower error, but the links push the early-layer signal further from balance (a larger rho is not better)
    v = ll.verdict(evidence(most_c=(10.0, 10.1, 9.9, 10.0, 10.2, 9.8)))
    assert v.verdict == NOT_SUPPORTED and "closer to balance" in v.reason
    # lower error, conditioning clearly better but by less than a factor of 2 (log 2 = 0.69)
    v = ll.verdict(evidence(most_c=tuple(c - 0.3 for c in BARE_C)))
    assert v.verdict == NOT_SUPPORTED and "closer to balance" in v.reason
    # a vanishing signal (negative log rho) judged by its size too: rho e^-8 -> e^-1 is an improvement
    neg = evidence(bare_c=tuple(-c for c in BARE_C), most_c=(-1.0, -1.1, -0.9, -1.0, -1.2, -0.8))
    assert ll.verdict(neg).verdict == SUPPORTED
    # seeds disagree: the links help on half of them
    assert ll.verdict(evidence(most_err=(0.01, 0.65, 0.02, 0.66, 0.01, 0.6))).verdict == INCONCLUSIVE
    # the conditioning gain straddles log 2
    v = ll.verdict(evidence(most_c=tuple(c - d for c, d in zip(BARE_C, (0.2, 1.4, 0.3, 1.2, 0.4, 1.3)))))
    assert v.verdict == INCONCLUSIVE and "straddles" in v.reason
    # balanced better at init, but during training the links gain less than a factor of 2: the gradient of the
    # trained net is not restored
    v = ll.verdict(evidence(trained=((2.5,) * 3 + (2.4,) * 3, (2.2,) * 3 + (2.3,) * 3)))
    assert v.verdict == NOT_SUPPORTED and "during training" in v.reason
    # during training the gain straddles log 2
    v = ll.verdict(evidence(trained=((2.5,) * SEEDS, (2.4, 1.0, 2.3, 1.1, 2.2, 0.9))))
    assert v.verdict == INCONCLUSIVE and "straddles" in v.reason
    assert ll.verdict(evidence(trained=((2.5,) * SEEDS, (1.0, math.nan, 1, 1, 1, 1)))).verdict == INCONCLUSIVE
    v = ll.verdict(evidence(bare_err=(0.001, 0.0, 0.002, 0.001, 0.0, 0.002), most_err=(0.0,) * SEEDS))
    assert v.verdict == INCONCLUSIVE and "precondition" in v.reason
    assert ll.verdict(evidence(most_c=(6.5, math.nan, 6.6, 6.5, 6.5, 6.5))).verdict == INCONCLUSIVE
    numbers, figs = ll.present(evidence())
    assert len(numbers["rows"]) == 4 and len(figs) == 2
    assert numbers["rows"][0][6]["mean"] == pytest.approx(sum(BARE_C) / SEEDS)


def test_replication_halves_disagree():
    # the links leave one seed of the second half at 40% error: the six together clear the margin, that half not
    j = judge(ll.verdict, evidence(most_err=(0.01, 0.0, 0.02, 0.01, 0.4, 0.015)), SEEDS)
    assert j["verdict"].verdict == SUPPORTED
    assert [h["verdict"] for h in j["replication"]["halves"]] == [SUPPORTED, INCONCLUSIVE]
    assert j["replication"]["replicated"] is False
    assert judge(ll.verdict, evidence(), SEEDS)["replication"]["replicated"] is True


def _diagonal_chain(a, b, depth):
    """A linear plain MLP of width 2 whose every block is x -> diag(a, b) x (stem and head the identity)."""
    net = create_model("plainmlp", depth=depth, width=2, branch_layers=1, activation="identity", norm="none",
                       in_channels=2, num_classes=2).double()
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for i, lin in enumerate(linears):
            is_block = 0 < i < len(linears) - 1
            lin.weight.copy_(torch.diag(torch.tensor([a, b] if is_block else [1.0, 1.0], dtype=torch.float64)))
            lin.bias.zero_()
    return net


@pytest.mark.parametrize("a, b, depth", [(1.5, 1.5, 5), (0.5, 0.5, 7), (1.0, 2.0, 4), (2.0, 0.5, 3), (1.3, 1.0, 6)])
def test_conditioning_known_answer(a, b, depth):
    """Inputs along e1 and a loss whose gradient is e2 at the logits: with every block diag(a, b), x_l = a^l x_0 and
    dL/dx_l = b^(L-l) e2, so g_l = a^l b^(L-l) g and rho = g_0 / g_L = (b / a)^L exactly; a uniform scaling (a = b,
    block Jacobians c * I) leaves the scale-invariant signal balanced, |log rho| = 0 for any c."""
    net = _diagonal_chain(a, b, depth)
    x = torch.zeros(5, 2, dtype=torch.float64)
    x[:, 0] = torch.arange(1.0, 6.0, dtype=torch.float64)
    record = {"epoch": 0, "signal": gradient_signal(net, x, torch.zeros(5, dtype=torch.long),
                                                    loss=lambda logits, y: logits[:, 1].sum())}
    assert len(record["signal"]["signal"]) == depth + 1
    assert ll.conditioning(record) == pytest.approx(abs(depth * math.log(b / a)), abs=1e-12)


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
    kw = {"num_classes": 10, "in_channels": 1, "input_size": (8, 8)}
    assert ll.blocks_on_shortest_path(create_model("plain56", **kw)) == 27
    assert ll.blocks_on_shortest_path(create_model("plain56-links", count=0, **kw)) == 27
    assert ll.blocks_on_shortest_path(create_model("plain56-links", count=4, span=6, **kw)) == 3
    assert ll.blocks_on_shortest_path(create_model("plain56-links", count=2, span=13, **kw)) == 1
