
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


def test_large_batch_scales_lr_and_adds_warmup():
    from skiplab.train.config import large_batch, scaled_lr
    assert scaled_lr(0.4, 2048, 512) == pytest.approx(1.6)  # Goyal et al.: 4x the batch, 4x the lr
    assert scaled_lr(0.4, 2048, 512, "sqrt") == pytest.approx(0.8)
    assert scaled_lr(0.4, 128, 512) == pytest.approx(0.1)
    base = TrainConfig(epochs=36, batch_size=512, lr=0.4, schedule="cosine", nesterov=True, label_smoothing=0.1)
    big = large_batch(base, 2048, 512)
    assert (big.batch_size, big.lr, big.warmup_epochs) == (2048, pytest.approx(1.6), 2.0)  # 36 / 18 epochs
    assert big.nesterov and big.label_smoothing == 0.1
    assert large_batch(base, 512, 512) == base  # same batch: unchanged
    one = large_batch(TrainConfig(epochs=10, schedule="onecycle"), 1024, 128)
    assert one.warmup_epochs == 0 and one.lr == pytest.approx(0.8)  # onecycle warms up by itself
    with pytest.raises(ConfigError, match="rule"):
        scaled_lr(0.1, 256, 128, "cubic")


def test_compile_mode_is_checked():
    assert TrainConfig(compile_mode="reduce-overhead").compile_mode == "reduce-overhead"
    with pytest.raises(ConfigError, match="compile_mode.*max-autotune"):
        TrainConfig(compile_mode="fastest")
