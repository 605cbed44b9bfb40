"""exploding-residuals: a known answer for the linear residual chain, and the verdict driven to all outcomes."""

import json
import math

import pytest
import torch

from skiplab.claims.depth import exploding_residuals as er
from skiplab.claims.depth.exploding_residuals import measurement as erm, rule as err
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from skiplab.claims.core.stats import judge
from skiplab.models import create_model


def linear_chain(depth, h):
    torch.manual_seed(0)
    return create_model("resmlp", depth=depth, h=h, norm="none", activation="identity", branch_layers=1,
                        width=32, in_channels=8).double()


def ratio(net, x):
    with torch.no_grad():
        x0 = net.stem(net.normalize(x))
        return (net.forward_features(x).norm(dim=1) / x0.norm(dim=1)).max().item()


@pytest.mark.parametrize("depth", [10, 100, 1000])
def test_h_one_over_L_keeps_a_linear_chain_bounded(depth):
    # x_{l+1} = (I + h W_l) x_l, so ||x_L|| <= prod_l (1 + h ||W_l||_2) ||x_0|| <= exp(h L c) ||x_0|| with
    # c = max_l ||W_l||_2 (1 + a <= e^a); with h = 1/L the bound is e^c whatever the depth.
    net = linear_chain(depth, 1.0 / depth)
    c = max(torch.linalg.matrix_norm(b.branch[-1].weight, ord=2).item() for _, b in net.blocks())
    x = torch.randn(16, 8, dtype=torch.float64)
    assert ratio(net, x) <= math.exp(c) * (1 + 1e-12)
    assert math.exp(c) < 10  # and the bound itself is small: c ~ 2 / sqrt(3) for PyTorch's default init


def test_h_one_grows_a_linear_chain_geometrically():
    # E||(I + W) x||^2 = (1 + w Var(W_ij)) ||x||^2 = 4/3 ||x||^2 for U(-1/sqrt(w), 1/sqrt(w)) entries
    x = torch.randn(16, 8, dtype=torch.float64)
    r = [ratio(linear_chain(d, 1.0), x) for d in (10, 30, 100)]
    assert r[0] < r[1] < r[2] and r[2] > 1e3


def test_zero_branch_variants_have_unit_ratios():
    x = torch.randn(8, 16, dtype=torch.float64)
    for v in ("rezero", "fixup"):
        net = erm.build(v, 12, 0, width=16, in_channels=16).double()
        assert erm.norm_ratios(net, x, 1) == (0.0, 0.0)


SEEDS = 6


def evidence(h1_last=(140.0, None, 150.0, 145.0, None, 135.0), scaled=0.2, h1_loss=(None,) * SEEDS,
             scaled_loss=0.02, bn=0.01, bad_variant=None, bad_loss=None):
    """log10 ratios and losses per seed; None = overflowed (a ratio) or diverged (a loss)."""
    depths = [10, 100, 1000]
    init = {v: [{"fwd": [scaled] * 3, "grad": [scaled] * 3} for _ in range(SEEDS)] for v in err.VARIANTS}
    init["h=1"] = [{"fwd": [1.0, 10.0, last], "grad": [1.0, 10.0, last]} for last in h1_last]

    def runs(losses):
        return [{"loss0": 2.3, "loss": v, "diverged_step": None if v is not None else 1, "curve": []} for v in losses]

    train = {v: runs([scaled_loss + 0.001 * i for i in range(SEEDS)]) for v in err.VARIANTS}
    train["h=1"], train["batchnorm"] = runs(h1_loss), runs([bn] * SEEDS)
    if bad_variant:
        train[bad_variant] = runs(bad_loss)
    return {"depths": depths, "seeds": list(range(SEEDS)), "train_depth": 100, "steps": 100, "lr": 0.05,
            "init": init, "train": train}


def test_verdict_all_outcomes():
    v = er.verdict(evidence())
    assert v.verdict == SUPPORTED and v.reason.count("6 seeds") == 1 + 3 * len(err.SCALED)
    # h = 1 stays under 1e3 on every seed
    assert er.verdict(evidence(h1_last=(2.0, 2.5, 1.0, 1.5, 2.2, 1.8))).verdict == NOT_SUPPORTED
    # a scaled variant leaves the bound on every seed (|log10 r| = 1.5 > 1)
    assert er.verdict(evidence(scaled=1.5)).verdict == NOT_SUPPORTED
    # h = 1 trains as well as 1/L (within the margin) on every seed
    v = er.verdict(evidence(h1_loss=(0.03,) * SEEDS, bad_variant="h=1/L",
                            bad_loss=(0.02, 0.025, 0.02, 0.03, 0.025, 0.02)))
    assert v.verdict == NOT_SUPPORTED and "h=1/L" in v.reason
    # seeds disagree: h = 1 blows up on some seeds only
    assert er.verdict(evidence(h1_last=(140.0, 2.0, None, 2.5, 150.0, 1.0))).verdict == INCONCLUSIVE
    # a scaled variant fails to train on one seed only
    assert er.verdict(evidence(bad_variant="rezero", bad_loss=(0.02, 2.3, 0.02, 0.03, 0.02, 0.025))).verdict \
        == INCONCLUSIVE
    v = er.verdict(evidence(bn=2.0))
    assert v.verdict == INCONCLUSIVE and "precondition" in v.reason


def test_diverged_and_overflowed_values_count_as_finite_worst_cases():
    # h = 1 diverging on every seed is a clear, finite loss difference; an overflowed ratio saturates at 1e6
    assert err._loss(None) == err.WORST and err._loss(1e9) == err.WORST and err._loss(0.3) == 0.3
    assert err._ratio(None) == err._ratio(150.0) == err.SATURATE == 6 and err._ratio(-40.0) == -6
    assert err._spread({"fwd": [0.1, -1.5], "grad": [0.0, 0.2]}) == 1.5


def test_replication_halves_disagree():
    # every half-1 seed diverges at h = 1; in half 2 one h = 1 run trains as well as the scaled variants, so
    # that half's loss differences straddle the margin while the whole's 5-of-6 divergence clears it
    j = judge(er.verdict, evidence(h1_loss=(None, None, None, None, 0.02, None)), SEEDS)
    assert j["verdict"].verdict == SUPPORTED
    assert [h["verdict"] for h in j["replication"]["halves"]] == [SUPPORTED, INCONCLUSIVE]
    assert j["replication"]["replicated"] is False


def test_present_is_json():
    numbers, figures = er.present(evidence())
    json.dumps([numbers, figures])  # NaN/inf are replaced later; the structure must be plain data
    assert {f["id"] for f in figures} == {"exploding-norms", "exploding-training"}
    assert len(numbers["rows"]) == len(err.VARIANTS)


def test_full_scale_cifar_part_runs_a_few_steps(tmp_path, monkeypatch):
    # the CIFAR ResNet part only runs at full scale (on a GPU): check every variant builds and trains 2 steps
    import numpy as np
    from PIL import Image

    from skiplab.claims.core.contract import Context
    from skiplab.claims.core.engine import Done, execute

    monkeypatch.setenv("SKIPLAB_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    for split, n in (("train", 4), ("test", 1)):
        for c in range(3):
            (tmp_path / "imgs" / split / f"c{c}").mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(tmp_path / "imgs" / split
                                                                                      / f"c{c}" / f"{i}.png")
    ctx = Context(scale="full", seeds=1, data=f"imagefolder:{tmp_path / 'imgs'}", max_steps=2)
    s = erm.scale_config(ctx)
    assert s.cifar_model == "resnet110" and s.train_steps == 2  # smoke runs cap the MLP training too
    assert len(erm.runs(ctx)) == 2 * len(err.VARIANTS)  # an MLP FunctionRun and a CIFAR RunSpec per variant
    small = Context(scale="full", seeds=1, data=ctx.data, max_steps=2,
                    overrides=("cifar_model=resnet20", "cifar_epochs=1"))
    specs = erm.cifar_specs(small)
    assert set(specs) == {(v, 0) for v in err.VARIANTS}
    done = execute(list(specs.values()), Done(tmp_path / "runs"), say=lambda s: None)
    for (v, _), sp in specs.items():
        assert done.result(sp)["status"] == "finished" and done.metrics(sp)[-1]["step"] == 1, v  # 12 images, 1 step
        loss = erm.cifar_loss(done, sp)
        assert loss is not None and math.isfinite(loss), v
