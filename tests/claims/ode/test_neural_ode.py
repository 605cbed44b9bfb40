"""neural-ode: the verdict on synthetic evidence of 6 seeds (all three outcomes, and replication on seed halves),
the parameter matching, the report's shape, and the full-scale configuration for a few steps on fixture data."""

import json
import math

import pytest

from skiplab import config as C
from skiplab.claims import CLAIMS
from skiplab.claims.ode import neural_ode
from skiplab.claims.ode.neural_ode import measurement as node_measure, rule as node_rule
from skiplab.claims.core.engine import Done, execute
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Context
from skiplab.claims.core.stats import judge
from skiplab.data import load_dataset

from ..conftest import image_folder

SEEDS = 6
TEST_EXAMPLES = {"digits": 450, "mnist1d": 1000}  # the quick datasets' test splits
# On 450 test examples the margin used is ~2.9 points (2 binomial SEs of two ~95% arms) and the interval is widened
# by the same held-out noise, so "matches" is only reachable when the ODE-Net is ahead: here by ~4 points.
AHEAD = (0.97, 0.98, 0.97, 0.975, 0.98, 0.97)
RES = (0.93, 0.935, 0.93, 0.94, 0.93, 0.935)
GROWS = ((30, 40),) * SEEDS
FLAT = (2.0, 1.0, 0.6, 0.4, 0.35, 0.31, 0.3, 0.3)  # 8 epochs: the last 2 (a quarter) fall by 0.01 < 10% of 0.31
FALLING = (2.0, 1.8, 1.6, 1.4, 1.2, 1.0, 0.8, 0.6)  # still falling by 0.4 = 40% of 1.0 over the last 2 epochs


def run(acc, params, nfe=(30.0, 40.0), loss=FLAT):
    return {"seed": 0, "status": "finished", "seconds": 1.0, "acc": acc, "params": params, "train_loss": list(loss),
            "nfe": [{"epoch": i + 1, "forward": f, "backward": 2 * f} for i, f in enumerate(nfe)]}


def evidence(ode=AHEAD, res=RES, nfe=GROWS, adj=(100, 100), bp=(100, 3200), params=(1000, 5000, 1050),
             data=("digits", "mnist1d"), ode_loss=(FLAT,) * SEEDS, res_loss=(FLAT,) * SEEDS):
    ds = {}
    for name in data:
        nets = {"odenet": [run(a, params[0], n, c) for a, n, c in zip(ode, nfe, ode_loss)],
                "rknet": [run(a, params[0], (16, 16)) for a in ode],
                "resnet": [run(a, params[1], (), c) for a, c in zip(res, res_loss)],
                "matched": [run(a, params[2], ()) for a in res]}
        ds[name] = {"nets": {k: {"model": k, "args": {}, "runs": v} for k, v in nets.items()},
                    "test_examples": TEST_EXAMPLES[name], "memory": {"adjoint": list(adj), "backprop": list(bp)}}
    return {"scale": "quick", "seeds": list(range(SEEDS)), "data": list(data), "margin": 0.02, "mem_steps": [1, 32],
            "datasets": ds}


def test_verdict_all_outcomes():
    v = neural_ode.verdict(evidence())
    assert v.verdict == SUPPORTED and "points" in v.reason and "2 SE of noise" in v.reason
    # trails by ~8 points on every seed
    v = neural_ode.verdict(evidence(ode=(0.85, 0.86, 0.85, 0.855, 0.86, 0.85)))
    assert v.verdict == NOT_SUPPORTED and "trails" in v.reason
    # the adjoint's memory grows with the steps
    assert neural_ode.verdict(evidence(adj=(100, 200))).verdict == NOT_SUPPORTED
    # NFE falls on every seed
    v = neural_ode.verdict(evidence(nfe=((40, 30),) * SEEDS))
    assert v.verdict == NOT_SUPPORTED and "NFE" in v.reason
    # more parameters than the usual ResNet
    assert neural_ode.verdict(evidence(params=(6000, 5000, 6100))).verdict == NOT_SUPPORTED
    # equal accuracy: the interval of the difference (+-3.7 points of held-out noise) straddles the 2.9-point margin
    assert neural_ode.verdict(evidence(ode=(0.93, 0.90, 0.95, 0.89, 0.94, 0.91))).verdict == INCONCLUSIVE
    # NFE grows on half the seeds and falls on the others
    assert neural_ode.verdict(evidence(nfe=((30, 40), (40, 30)) * 3)).verdict == INCONCLUSIVE
    # backprop's bytes barely grow: the memory measurement cannot tell the two apart
    assert neural_ode.verdict(evidence(bp=(100, 300))).verdict == INCONCLUSIVE
    v = neural_ode.verdict(evidence(params=(1000, 5000, 2000)))
    assert v.verdict == INCONCLUSIVE and "precondition" in v.reason
    # the ODE-Net's loss is still falling on every seed: whatever the accuracies say, it was not trained enough
    v = neural_ode.verdict(evidence(ode_loss=(FALLING,) * SEEDS))
    assert v.verdict == INCONCLUSIVE and "not trained to a plateau" in v.reason and "odenet" in v.reason
    # ... even where it already trails beyond the margin; and the same for the usual ResNet
    v = neural_ode.verdict(evidence(ode=(0.85, 0.86, 0.85, 0.855, 0.86, 0.85), ode_loss=(FALLING,) * SEEDS))
    assert v.verdict == INCONCLUSIVE and "not trained to a plateau" in v.reason
    v = neural_ode.verdict(evidence(res_loss=(FALLING,) * SEEDS))
    short = v.reason.split("Otherwise")[0]
    assert v.verdict == INCONCLUSIVE and "resnet training-loss" in short and "odenet" not in short
    # one seed of six still falling: the interval of the mean fall reaches above 1, so not shown to plateau
    assert neural_ode.verdict(evidence(ode_loss=(FALLING,) + (FLAT,) * 5)).verdict == INCONCLUSIVE
    # a diverged run (non-finite loss) has no plateau either
    nan = (2.0, float("nan"), float("nan"))
    assert neural_ode.verdict(evidence(ode_loss=(nan,) + (FLAT,) * 5)).verdict == INCONCLUSIVE


def test_loss_drop_known_answers():
    drop = node_rule.loss_drop
    assert drop([0.3] * 8) == 0.0  # flat: no fall at all
    # the last quarter of 8 epochs is 2 epochs: from 1.0 (epoch 6) to 0.6 (epoch 8), 0.4 over 10% of 1.0
    assert drop(FALLING) == pytest.approx(4.0)
    assert drop(FLAT) == pytest.approx(0.01 / 0.031)  # 0.31 -> 0.30
    # a quarter of 10 epochs rounds up to 3: from epoch 7 to 10, (1.0 - 0.97) / 0.1
    assert drop([5, 4, 3, 2, 1.5, 1.2, 1.0, 0.99, 0.98, 0.97]) == pytest.approx(0.3)
    # a fitted net: 0.010 -> 0.004 is a 60% fall, but 0.006 nats is under the 0.02-nat floor
    assert drop([0.05, 0.02, 0.01, 0.004]) == pytest.approx(0.006 / 0.02)
    assert drop([1.0, 2.0]) < 0  # a rising loss has not fallen
    assert math.isnan(drop([0.5])) and math.isnan(drop([1.0, float("nan")])) and math.isnan(drop([]))


def test_verdict_replication_halves_disagree():
    # NFE grows by 10 on every seed but one of the second half, where it grows by 2: that half's 3-seed interval
    # reaches below its margin while all six together stay above theirs
    j = judge(neural_ode.verdict, evidence(nfe=((30, 40),) * 4 + ((30, 32),) + ((30, 40),)), SEEDS)
    assert j["verdict"].verdict == SUPPORTED
    assert [h["verdict"] for h in j["replication"]["halves"]] == [SUPPORTED, INCONCLUSIVE]
    assert j["replication"]["replicated"] is False
    assert judge(neural_ode.verdict, evidence(), SEEDS)["replication"]["replicated"] is True


def test_present_follows_the_schema():
    numbers, figs = neural_ode.present(evidence())
    assert len(numbers["rows"]) == 8 and all(len(r) == len(numbers["columns"]) for r in numbers["rows"])
    assert [f["id"] for f in figs] == ["neural-ode-accuracy", "neural-ode-loss", "neural-ode-nfe",
                                       "neural-ode-memory"]
    loss = figs[1]["panels"][0]["series"][0]
    assert loss["x"] == list(range(1, 9)) and loss["y"] == pytest.approx(FLAT)
    fall = numbers["columns"].index("loss fall, last 25% / allowed")
    assert numbers["rows"][0][fall]["mean"] == pytest.approx(0.01 / 0.031)
    mem = figs[3]["panels"][0]
    assert mem["xscale"] == mem["yscale"] == "log" and [s["label"] for s in mem["series"]][0] == "adjoint"
    json.dumps([numbers, figs])


@pytest.mark.parametrize("data", ["digits", "mnist1d"])
def test_matched_resnet_is_within_ten_percent(data, tmp_path, monkeypatch):
    from skiplab.models import create_model
    monkeypatch.setenv("SKIPLAB_CACHE", str(tmp_path))
    d = load_dataset(data)
    assert "rknet" not in node_measure.nets_for(node_measure.QUICK, tuple(d.info.shape), d.model_kwargs())
    scale = C.replace(node_measure.QUICK, rknet=True)
    nets = node_measure.nets_for(scale, tuple(d.info.shape), d.model_kwargs())
    count = {k: create_model(m, **a, **d.model_kwargs()).num_parameters() for k, (m, a) in nets.items()}
    assert abs(count["matched"] - count["odenet"]) <= node_rule.MATCH * count["odenet"]
    assert count["odenet"] == count["rknet"] <= node_rule.FEWER * count["resnet"]


def test_memory_curve_known_answer():
    # backprop through n RK4 steps keeps n steps' tensors: exactly affine in n; the adjoint keeps none of them
    import torch
    x, y = torch.rand(4, 1, 40), torch.tensor([0, 1, 2, 3])
    steps = (1, 2, 4, 8)
    mem = node_measure.memory_curve("odenet1d", {"width": 8, "groups": 2, "input_size": (40,)}, x, y, steps)
    bp, adj = mem["backprop"], mem["adjoint"]
    per_step = bp[1] - bp[0]
    assert per_step > 0 and all(b - bp[0] == (n - 1) * per_step for n, b in zip(steps, bp))
    assert len(set(adj)) == 1 and adj[0] < bp[0]
    assert node_rule.growth(adj) == 1.0


def test_full_scale_has_chen_et_al_sizes_on_mnist():
    # Chen et al. (MNIST): ODE-Net and RK-Net 0.22M parameters, ResNet 0.60M
    from skiplab.models import create_model
    kw = {"in_channels": 1, "num_classes": 10, "input_size": (28, 28)}
    nets = node_measure.nets_for(node_measure.FULL, (1, 28, 28), kw)
    count = {k: create_model(m, **a, **kw).num_parameters() for k, (m, a) in nets.items()}
    assert abs(count["odenet"] - 0.22e6) <= 0.1 * 0.22e6 and count["rknet"] == count["odenet"]
    assert abs(count["resnet"] - 0.60e6) <= 0.1 * 0.60e6
    assert abs(count["matched"] - count["odenet"]) <= node_rule.MATCH * count["odenet"]
    assert nets["odenet"][1]["downsample"] == 2  # 28x28 -> 7x7, as theirs


def test_registered_and_overridable():
    assert "neural-ode" in CLAIMS
    s = node_measure.scale_config(Context(overrides=("width=16", "train.epochs=2")))
    assert (s.width, s.train.epochs) == (16, 2)


def test_full_scale_runs_a_few_steps(tmp_path, monkeypatch):
    monkeypatch.setenv("SKIPLAB_CACHE", str(tmp_path / "cache"))
    data = image_folder(tmp_path / "imgs", n_train=3)
    ctx = Context(scale="full", seeds=1, data=f"imagefolder:{data}", max_steps=2)
    s = node_measure.scale_config(ctx)
    assert (s.width, s.resnet_depth, s.matched_depth, s.train.epochs) == (64, 44, 44, 160)
    assert node_measure.FULL.data == ("mnist",)
    jobs = neural_ode.runs(ctx)
    assert len(jobs) == 4 and all(j.nfe and j.probes is None for j in jobs)  # the four nets record NFE, no probe
    done = execute(jobs, Done(tmp_path / "runs"), say=lambda s: None, workers=1)
    ev = neural_ode.measure(ctx, done)
    (d,) = ev["datasets"].values()
    assert {k: n["model"] for k, n in d["nets"].items()} == {"odenet": "odenet", "rknet": "rknet",
                                                               "resnet": "resnet44", "matched": "resnet44"}
    for n in d["nets"].values():
        assert n["runs"][0]["status"] == "stopped" and n["runs"][0]["acc"] is not None
        assert len(n["runs"][0]["train_loss"]) == 2 and all(math.isfinite(v) for v in n["runs"][0]["train_loss"])
    assert len(d["nets"]["odenet"]["runs"][0]["nfe"]) == 2  # 30 images at batch 16: one step per epoch
    assert d["memory"]["adjoint"][0] == d["memory"]["adjoint"][1] < d["memory"]["backprop"][1]
    neural_ode.verdict(ev)
    neural_ode.present(ev)
