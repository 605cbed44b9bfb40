"""load_run: a trained run comes back with its config, its data and exactly its trained weights; a missing or
broken run folder is one CheckpointError naming the path."""

import json
import shutil

import pytest
import torch

from skiplab.errors import CheckpointError
from skiplab.train import Callback, TrainConfig
from skiplab.train.checkpoint import CKPT, load_model_weights
from skiplab.train.experiment import (DataConfig, ModelConfig, RunConfig, RunHooks, build_model, load_data,
                                     run_training)
from skiplab.train.load import load_run


class KeepWeights(Callback):
    def on_fit_end(self, state, history):
        self.weights = {k: v.detach().cpu().clone() for k, v in state.model.state_dict().items()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    cfg = RunConfig(model=ModelConfig("resmlp", {"depth": 2}), data=DataConfig(name="digits"),
                    train=TrainConfig(epochs=1, lr=0.05, device="cpu"), seed=1)
    keep = KeepWeights()
    outcome = run_training(cfg, tmp_path_factory.mktemp("run"), load_data(cfg.data),
                           hooks=RunHooks(callbacks=lambda d: [keep]), verbose=False)
    return outcome.run_dir, cfg, keep.weights


def test_load_run_gives_back_the_trained_weights(trained):
    run_dir, cfg, weights = trained
    model, data, loaded = load_run(run_dir)
    assert loaded == cfg
    assert data.info.name == "digits" and model.name == "resmlp" and len(model.block_names()) == 2
    state = model.state_dict()
    assert state.keys() == weights.keys()
    assert all(torch.equal(state[k], v) for k, v in weights.items())
    fresh = build_model(cfg, data).state_dict()  # what the weights were before training: they were loaded
    assert not torch.equal(state["stem.1.weight"], fresh["stem.1.weight"])


def broken(run_dir, tmp_path, damage):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    damage(copy)
    return copy


@pytest.mark.parametrize("damage, message", [
    (lambda d: shutil.rmtree(d), "no such run folder"),
    (lambda d: (d / "config.json").unlink(), "config.json: missing"),
    (lambda d: (d / "config.json").write_text("{not json"), "config.json: unreadable"),
    (lambda d: (d / "config.json").write_text(json.dumps({"run": {"modell": "x"}})), "unknown key 'modell'"),
    (lambda d: (d / "state.json").unlink(), "no checkpoint yet"),
    (lambda d: (d / CKPT).write_bytes((d / CKPT).read_bytes()[:100]), "corrupt checkpoint"),
])
def test_broken_run_folder_is_one_checkpoint_error_naming_the_path(trained, tmp_path, damage, message):
    run_dir = broken(trained[0], tmp_path, damage)
    with pytest.raises(CheckpointError, match=message) as err:
        load_run(run_dir)
    text = str(err.value)
    assert str(run_dir) in text and "\n" not in text


def test_load_model_weights_checks_the_architecture(trained):
    model, _, _ = load_run(trained[0])
    with pytest.raises(CheckpointError, match="made by model 'resmlp"):
        load_model_weights(trained[0], model, "plainmlp:0123456789")
