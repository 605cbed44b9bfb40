"""Checkpoints verified as a pair: the step in the tensors' metadata must equal state.json's, state.json is
schema-checked, and temporaries left by killed writes are removed when a run resumes."""

import json
import shutil

import pytest
import torch
from safetensors import safe_open

from skiplab._atomic import atomic_path, is_temporary, remove_temporaries
from skiplab.errors import CheckpointError
from skiplab.models import create_model
from skiplab.train import Callback, TrainConfig, fit
from skiplab.train.checkpoint import load_model_weights
from skiplab.train.loop import model_signature

CPU = dict(device="cpu", channels_last=False)


def mlp(data, seed=0):
    torch.manual_seed(seed)
    return create_model("resmlp", num_classes=data.num_classes, in_channels=data.info.shape[0], depth=2, width=16)


def cfg(epochs):
    return TrainConfig(epochs=epochs, batch_size=32, lr=0.05, **CPU)  # blobs: 256 examples, 8 steps per epoch


def one_line(e):
    return "\n" not in str(e.value)


def test_a_pair_from_two_steps_is_refused_in_one_line(tmp_path, blob_data):
    fit(mlp(blob_data), blob_data, cfg(1), run_dir=tmp_path, verbose=False)
    old_state = (tmp_path / "state.json").read_text()  # step 8
    fit(mlp(blob_data), blob_data, cfg(2), run_dir=tmp_path, resume=True, verbose=False)
    with safe_open(str(tmp_path / "checkpoint.safetensors"), framework="pt") as f:
        assert f.metadata()["step"] == "16"
    # epoch 2's tensors beside epoch 1's state, and not the tensors epoch 1's state names (a kill between the two
    # writes keeps those: see test_kill_points.py): files copied or edited by hand
    (tmp_path / "state.json").write_text(old_state)
    with pytest.raises(CheckpointError, match=r"checkpoint.safetensors is at step 16 but state.json at step 8: the "
                                              r"pair does not belong together.*--force") as e:
        fit(mlp(blob_data), blob_data, cfg(3), run_dir=tmp_path, resume=True, verbose=False)
    assert one_line(e)
    model = mlp(blob_data)  # probes load through the same check
    with pytest.raises(CheckpointError, match="is at step 16 but state.json at step 8"):
        load_model_weights(tmp_path, model, model_signature(model))


@pytest.mark.parametrize("edit, problem", [
    (lambda s: {**s, "epoch": "four"}, r"'epoch' must be an integer, got 'four'"),
    (lambda s: {k: v for k, v in s.items() if k != "optimizer"}, r"'optimizer' is missing"),
    (lambda s: [], r"expected a JSON object, got list"),
    (lambda s: {**s, "step": True}, r"'step' must be an integer, got True"),
    (lambda s: {**s, "optimizer": {"scalars": {}}}, r"'optimizer' must be a mapping with param_groups"),
])
def test_a_malformed_state_is_refused_in_one_line_naming_the_file(tmp_path, blob_data, edit, problem):
    fit(mlp(blob_data), blob_data, cfg(1), run_dir=tmp_path, verbose=False)
    path = tmp_path / "state.json"
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))
    with pytest.raises(CheckpointError, match=problem) as e:
        fit(mlp(blob_data), blob_data, cfg(2), run_dir=tmp_path, resume=True, verbose=False)
    assert one_line(e) and str(e.value).startswith(f"{path}: malformed checkpoint state (")


def test_the_atomic_writers_temporaries_are_recognized_and_only_they():
    with atomic_path("/tmp/skiplab-test-never-written/state.json") as tmp:
        assert is_temporary(tmp)  # the real name mkstemp gave
    shutil.rmtree("/tmp/skiplab-test-never-written")
    assert is_temporary(".checkpoint.safetensors.ab_d12yz.tmp")
    for name in (".keep.tmp", "state.json.abcdefgh.tmp", ".state.json.ABCDEFGH.tmp", ".state.json.abcdefg.tmp",
                 ".state.json.abcdefgh.tmp.bak"):
        assert not is_temporary(name), name


class Crash(Callback):
    def on_step_end(self, state):
        if state.epoch == 1:
            raise KeyboardInterrupt


def test_resume_removes_stale_temporaries_and_stays_bit_identical(tmp_path, blob_data):
    full = mlp(blob_data)
    fit(full, blob_data, cfg(3), run_dir=tmp_path / "a", verbose=False)
    run = tmp_path / "b"
    with pytest.raises(KeyboardInterrupt):
        fit(mlp(blob_data), blob_data, cfg(3), run_dir=run, callbacks=[Crash()], verbose=False)
    stale = [run / ".checkpoint.safetensors.k3x_9qzp.tmp", run / ".state.json.0a1b2c3d.tmp"]
    kept = [run / ".notes.tmp", run / "notes.abcdefgh.tmp"]
    for p in stale + kept:
        p.write_bytes(b"half a write")
    resumed = mlp(blob_data, seed=123)  # another init: everything must come from the checkpoint
    fit(resumed, blob_data, cfg(3), run_dir=run, resume=True, verbose=False)
    assert not any(p.exists() for p in stale) and all(p.exists() for p in kept)
    a, b = full.state_dict(), resumed.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((run / "result.json").read_text())["status"] == "finished"


def test_remove_temporaries_reports_what_it_removed(tmp_path):
    (tmp_path / ".a.json.12345678.tmp").write_text("x")
    (tmp_path / "a.json").write_text("{}")
    assert remove_temporaries(tmp_path) == [tmp_path / ".a.json.12345678.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
    assert remove_temporaries(tmp_path / "absent") == []
