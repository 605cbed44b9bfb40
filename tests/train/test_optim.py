import math

import pytest
import torch

from skiplab.errors import ConfigError
from skiplab.train import TrainConfig
from skiplab.train.optim import build_optimizer, lr_factor, param_groups


def test_multistep_is_he_et_al():
    cfg = TrainConfig()  # lr / 10 at 50% and 75% (32k and 48k of 64k iterations)
    f = [lr_factor(cfg, s, 64_000, 0) for s in (0, 31_999, 32_000, 47_999, 48_000, 63_999)]
    assert f == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])


def test_warmup_then_cosine_and_onecycle_shapes():
    cos = TrainConfig(schedule="cosine")
    assert lr_factor(cos, 0, 100, 10) == pytest.approx(0.1)
    assert lr_factor(cos, 10, 100, 10) == pytest.approx(1.0)
    assert lr_factor(cos, 55, 100, 10) == pytest.approx(0.5)
    one = TrainConfig(schedule="onecycle")
    assert lr_factor(one, 0, 100, 0) == pytest.approx(1 / 25)
    assert lr_factor(one, 30, 100, 0) == pytest.approx(1.0)
    assert lr_factor(one, 100, 100, 0) == pytest.approx(0.0, abs=1e-12)


def test_no_weight_decay_on_norms_biases_and_scales():
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4))
    decay, no_decay = param_groups(net, 1e-4)
    assert [p.shape for p in decay["params"]] == [(4, 3)] and no_decay["weight_decay"] == 0
    opt = build_optimizer(net, TrainConfig(optimizer="adamw", lr=1e-3))
    assert isinstance(opt, torch.optim.AdamW)


def test_bad_train_values_are_refused():
    with pytest.raises(ConfigError, match="milestones"):
        TrainConfig(milestones=(0.5, 1.5))
    with pytest.raises(ConfigError, match="lr"):
        TrainConfig(lr=0)
