"""jacobian-near-identity: the verdict driven to all three outcomes with synthetic evidence of 6 seeds, a replication
check, the presentation against the results.json schema's shape, and the measurement's known answers on nets whose
blocks are the identity (J - I = 0: every eigenvalue within any radius) or dead plain layers (J - I = -I)."""

import math
from types import SimpleNamespace

import pytest
import torch

from skiplab.claims import CLAIMS
from skiplab.claims.blocks import jacobian_near_identity as j
from skiplab.claims.blocks.jacobian_near_identity import measurement
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from skiplab.claims.core.stats import judge
from skiplab.models import create_model

SEEDS = 6
BLOCKS = ("stages.0.blocks.0", "stages.0.blocks.1")


def state(near, far):
    return {"near": near, "far": far, "sigma_tail": 2.0, "sigma_median": 0.1,
            "per_block": {b: near for b in BLOCKS}, "real": [1.0, 0.5], "imag": [0.0, 0.1],
            "singular_values": [3.0, 1.0], "eig_methods": ["exact"]}


def evidence(res, plain):
    """res: per seed the residual nets' share within ~0.5; plain: per seed the plain twins' share within ~1.0."""
    def seeds(near, far):
        return [{"init": state(0.5, 0.8), "trained": state(n, f)} for n, f in zip(near, far)]
    return {"depth": 20, "seeds": list(range(len(res))),
            "nets": {"residual": seeds(res, [1.0] * len(res)), "plain": seeds([0.02] * len(plain), plain)}}


CLUSTERED = [0.95, 0.96, 0.97, 0.95, 0.96, 0.97]
SPREAD = [0.5, 0.48, 0.52, 0.5, 0.49, 0.51]


def test_all_outcomes():
    v = j.verdict(evidence(CLUSTERED, SPREAD))
    assert v.verdict == SUPPORTED and v.reason.count("6 seeds") == 2
    # fewer than 90% of the residual eigenvalues near 1
    v = j.verdict(evidence([0.85, 0.86, 0.84, 0.85, 0.87, 0.86], SPREAD))
    assert v.verdict == NOT_SUPPORTED and "fewer than 90%" in v.reason
    # one seed far from clustered: the residual interval straddles 0.9
    assert j.verdict(evidence([0.95, 0.8, 0.97, 0.9, 0.96, 0.85], SPREAD)).verdict == INCONCLUSIVE
    # the plain twin clusters within 1.0 as well: 2x tighter is not shown
    v = j.verdict(evidence(CLUSTERED, [0.95] * SEEDS))
    assert v.verdict == INCONCLUSIVE and "plain twin" in v.reason
    v = j.verdict(evidence([0.95, math.nan, 0.97, 0.95, 0.96, 0.97], SPREAD))
    assert v.verdict == INCONCLUSIVE and "precondition" in v.reason


def test_replication_halves_disagree():
    # one seed of the second half sits at 0.88: that half's 3-seed interval reaches below 0.9
    r = judge(j.verdict, evidence(CLUSTERED[:4] + [0.88, 0.97], SPREAD), SEEDS)
    assert r["verdict"].verdict == SUPPORTED and r["replication"]["replicated"] is False


def test_presentation_follows_the_schema():
    numbers, figures = j.present(evidence(CLUSTERED, SPREAD))
    assert all(len(row) == len(numbers["columns"]) for row in numbers["rows"]) and len(numbers["rows"]) == 4
    assert set(numbers["format"]) == set(numbers["columns"][2:])
    for fig in figures:
        assert fig["id"] and fig["panels"]
        for panel in fig["panels"]:
            assert panel["kind"] in ("line", "complex")
            assert all(len(s["x"]) == len(s["y"]) and None not in s["y"] for s in panel["series"])
    assert "jacobian-near-identity" in CLAIMS and j.CLAIM.id == "jacobian-near-identity"


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("name, near, far", [("preresnet20", 1.0, 1.0), ("plain-preresnet20", 0.0, 0.5)])
def test_measurement_known_answers(name, near, far):
    # zero-init blocks: a residual block is the identity (J - I = 0, Phi(r) = log r: every eigenvalue within every
    # radius); a plain block outputs 0 (J - I = -I: every |mu - 1| = 1, so none lies within ~0.5, and the
    # log-average over r in [0.71, 1.41] of the share within r is exactly the half above 1)
    torch.manual_seed(0)
    net = create_model(name, depth=8, widths=(2, 4, 8), input_size=(8, 8), in_channels=1, zero_init=True)
    pixels = torch.randint(0, 256, (64, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    data = SimpleNamespace(train_x=pixels, train_y=torch.zeros(64, dtype=torch.long))
    # 16 examples, so 16 angles: the midpoint rule's error on a circle of radius r around eigenvalues at 1 is ~r^32
    out = measurement._probe(net, data, pixels[:16].float() / 255, first=True)
    assert out["near"] == pytest.approx(near, abs=1e-4) and out["far"] == pytest.approx(far, abs=1e-4)
    assert out["per_block"] == {"stages.0.blocks.0": pytest.approx(near, abs=1e-4)}
    assert out["skipped"] == ["stages.1.blocks.0", "stages.2.blocks.0"] and out["examples"] == 16
    assert out["sigma_tail"] == pytest.approx(1.0 - near, abs=1e-5) and "calibrated on 64" in out["mode"]
    assert len(out["real"]) == 128 and out["eig_methods"] == ["exact"] and out["singular_values"]
