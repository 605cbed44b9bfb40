"""The ticket run set's scales: quick trains the 1D twins on mnist1d-10k, whose test split is large enough for the
claims' 1-point margin; full is Frankle et al. 2020's CIFAR-10 recipe on all 10k test images."""

import torch
from torch import nn

from skiplab.claims.core.stats import effect
from skiplab.claims.tickets.accuracies import MATCH
from skiplab.claims.tickets.run_set import FULL, QUICK, families, run_config
from skiplab.pruning import prunable
from skiplab.train.experiment import build_model
from skiplab.claims.core.datasets import dataset


def test_quick_twins_are_1d_and_share_every_prunable_layer():
    data = dataset(run_config(None, QUICK, "resnet", 0).data)
    assert len(data.test_y) == 10000 and families(QUICK) == ("resnet", "plain")
    nets = {}
    for fam in families(QUICK):
        cfg = run_config(None, QUICK, fam, 0)
        assert cfg.model.overrides == {"depth": 14, "width_mult": 0.5}
        nets[fam] = build_model(cfg, data)
    res, plain = (prunable(nets[f], QUICK.prune.exclude) for f in ("resnet", "plain"))
    assert all(isinstance(m, nn.Conv1d) for m in res.values() if not isinstance(m, nn.Linear))
    # the plain twin is the same layers without shortcuts: every prunable layer has its namesake, same shape
    assert {n: tuple(m.weight.shape) for n, m in res.items()} == {n: tuple(m.weight.shape) for n, m in plain.items()}
    x = data.test_x[:3]
    assert nets["resnet"](x).shape == (3, 10)
    assert not torch.equal(nets["resnet"](x), nets["plain"](x))


def test_quick_test_split_carries_the_1_point_margin():
    """Known answer: 2 binomial SE of two 97% accuracies is 2 sqrt(2 * 0.97 * 0.03 / n): 0.48 points at n = 10000
    (the margin stays 1 point) and 2.27 at digits' 450 (the margin was raised to the noise)."""
    rates = [[0.97] * 6, [0.97] * 6]
    quick = effect("q", [0.0] * 6, MATCH, examples=10000, rates=rates, held_out=True)
    digits = effect("d", [0.0] * 6, MATCH, examples=450, rates=rates, held_out=True)
    assert quick.margin == MATCH and abs(quick.noise_se * 2 - 0.0048) < 1e-4
    assert abs(digits.margin - 0.0227) < 1e-4


def test_full_is_frankle_2020s_cifar_recipe():
    t, p = FULL.train, FULL.prune
    assert (FULL.data, FULL.depth, FULL.vgg_depth, FULL.width_mult) == ("cifar10", 20, 16, 1.0)
    assert (t.epochs, t.batch_size, t.lr, t.momentum, t.weight_decay, t.warmup_epochs) == (160, 128, 0.1, 0.9, 1e-4, 0)
    assert (t.schedule, t.milestones, t.gamma, t.max_eval_examples) == ("multistep", (0.5, 0.75), 0.1, None)
    assert (p.fraction, p.scope, p.exclude, p.rewind_step) == (0.2, "global", ("head",), 2000)
    assert run_config(None, FULL, "vgg", 0).model.overrides == {"depth": 16, "width_mult": 1.0}
