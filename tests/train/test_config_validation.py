"""TrainConfig, RunConfig and the run's sections refuse numbers that make no sense with one ConfigError naming the
field and the value, and every config the defaults and valid edge values make is still accepted unchanged."""

import math

import pytest
from _train_data import blobs

from skiplab import config as C
from skiplab.errors import ConfigError
from skiplab.train.config import TrainConfig
from skiplab.train.experiment import RunConfig, check_batch_fits, resolve_run_config, run_training

NAN, INF = math.nan, math.inf


@pytest.mark.parametrize("field,value,words", [
    ("lr", NAN, "train.lr must be a finite number > 0, got nan"),
    ("lr", INF, "train.lr must be a finite number > 0, got inf"),
    ("lr", 0.0, "train.lr must be a finite number > 0, got 0.0"),
    ("gamma", NAN, "train.gamma must be a finite number > 0"),
    ("gamma", 0.0, "train.gamma"),
    ("momentum", -1.0, "train.momentum must be in [0, 1), got -1.0"),
    ("momentum", 1.0, "train.momentum must be in [0, 1)"),
    ("weight_decay", -1.0, "train.weight_decay must be a finite number >= 0, got -1.0"),
    ("weight_decay", INF, "train.weight_decay"),
    ("grad_clip", -1.0, "train.grad_clip must be a finite number > 0"),
    ("grad_clip", 0.0, "train.grad_clip"),
    ("grad_clip", NAN, "train.grad_clip"),
    ("warmup_epochs", NAN, "train.warmup_epochs must be in [0, epochs=30], got nan"),
    ("warmup_epochs", -0.5, "train.warmup_epochs"),
    ("warmup_epochs", 31.0, "train.warmup_epochs"),
    ("label_smoothing", 1.0, "train.label_smoothing must be in [0, 1)"),
    ("label_smoothing", NAN, "train.label_smoothing"),
    ("epochs", 0, "train.epochs must be a whole number >= 1, got 0"),
    ("batch_size", 0, "train.batch_size must be a whole number >= 1"),
    ("max_steps", 0, "train.max_steps must be a whole number >= 1, got 0"),
    ("log_every", -1, "train.log_every must be a whole number >= 0, got -1"),
    ("eval_every", 0, "train.eval_every"),
    ("max_eval_examples", 0, "train.max_eval_examples must be a whole number >= 1"),
    ("eval_batch_size", -3, "train.eval_batch_size"),
    ("milestones", (0.5, 1.0), "train.milestones are fractions of training in (0, 1)"),
    ("milestones", (NAN,), "train.milestones"),
])
def test_nonsense_values_are_refused_naming_field_and_value(field, value, words):
    with pytest.raises(ConfigError) as e:
        TrainConfig(**{field: value})
    assert words in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("overrides", [
    {}, {"momentum": 0.0}, {"weight_decay": 0.0}, {"grad_clip": 1.0}, {"max_steps": 1}, {"log_every": 0},
    {"warmup_epochs": 30.0}, {"label_smoothing": 0.1}, {"max_eval_examples": 1}, {"milestones": ()},
    {"optimizer": "adamw", "momentum": 0.9, "lr": 1e-3},
])
def test_valid_edges_are_accepted_and_defaults_keep_their_hash(overrides):
    cfg = TrainConfig(**overrides)
    assert all(getattr(cfg, k) == v for k, v in overrides.items())
    # the defaults are unchanged, so every existing run folder keeps its hash
    assert C.stable_hash(TrainConfig()) == C.stable_hash(C.from_dict(TrainConfig, {}, "train"))
    assert (TrainConfig().lr, TrainConfig().batch_size, TrainConfig().milestones) == (0.1, 128, (0.5, 0.75))


@pytest.mark.parametrize("seed", [-1, 2**63, 99999999999999999999])
def test_seed_out_of_torch_range_is_refused(seed):
    with pytest.raises(ConfigError, match=r"seed must be a whole number in \[0, 9223372036854775807\]"):
        resolve_run_config({"seed": seed})


def test_seed_range_ends_are_accepted():
    assert RunConfig(seed=0).seed == 0 and RunConfig(seed=2**63 - 1).seed == 2**63 - 1


@pytest.mark.parametrize("file_data,assignments,words", [
    ({}, ["train=5"], "train: expected a section (a mapping of keys), got 5"),
    ({}, ["data=[1, 2]"], "data: expected a section"),
    ({"model": ["resnet8"]}, [], "model: expected a model name or a mapping"),
    ({"model": []}, [], "model: expected a model name or a mapping"),
    ({"train": "fast"}, [], "train: expected a section"),
])
def test_a_value_where_a_section_belongs_is_one_line(file_data, assignments, words):
    with pytest.raises(ConfigError) as e:
        resolve_run_config(file_data, {}, assignments)
    assert words in str(e.value)


def test_a_batch_larger_than_the_training_set_is_refused_before_the_folder_exists(tmp_path):
    data = blobs(n_train=18, n_test=8)
    cfg = resolve_run_config({"model": {"name": "resmlp", "depth": 2}}, {}, ["train.epochs=1"])  # batch 128
    with pytest.raises(ConfigError, match="train.batch_size 128 is larger than the 18 training examples of blobs"):
        run_training(cfg, tmp_path / "run", data, verbose=False)
    assert not (tmp_path / "run").exists()
    check_batch_fits(TrainConfig(batch_size=18), data)  # exactly the training set: one full step per epoch
