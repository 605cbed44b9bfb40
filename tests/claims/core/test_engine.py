"""The claims runner: a run shared by claims trains once, a finished one is reused, an interrupted one resumes
to the same weights an uninterrupted run reaches, and its gradient records survive the interruption."""

import json

import pytest
import torch

from skiplab.claims.core.engine import GRADIENTS, PersistedRecorder, RunSpec, Runs, execute, probe_batch
from skiplab.probes import GradientSignalCallback
from skiplab.train import Callback, TrainConfig
from skiplab.train.experiment import DataConfig, RunConfig, load_data, run_training


def make_spec(epochs=3):
    cfg = RunConfig(model="resmlp", model_args={"depth": 2, "width": 16}, data=DataConfig("digits"),
                    train=TrainConfig(epochs=epochs, batch_size=64, lr=0.05, device="cpu"), seed=0)
    return RunSpec(cfg, probe_examples=32, probe_every=1)


class Crash(Callback):
    def on_epoch_end(self, state, metrics):
        if metrics["epoch"] == 2:
            raise KeyboardInterrupt


def weights(run_dir):
    from safetensors.torch import load_file
    return {k: v for k, v in load_file(str(run_dir / "checkpoint.safetensors")).items() if k.startswith("model.")}


def test_interrupted_run_resumes_to_the_same_weights(tmp_path):
    spec = make_spec()
    ref = Runs(tmp_path / "ref")
    execute([spec], ref, say=lambda s: None)

    data = load_data(spec.run.data)
    x, y = probe_batch(data, spec.probe_examples)
    with pytest.raises(KeyboardInterrupt):  # killed right after epoch 2's checkpoint
        run_training(spec.run, tmp_path / "b", kind="claims", extra=spec.extra, verbose=False,
                     callbacks=lambda d: [PersistedRecorder(GradientSignalCallback(x, y), d / GRADIENTS), Crash()])
    said = []
    runs = Runs(tmp_path / "b")
    execute([spec, spec], runs, say=said.append)  # listed twice, trained once
    assert len(said) == 1 and "resumed" in said[0] and "finished" in said[0]
    a, b = weights(ref.dir(spec)), weights(runs.dir(spec))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["epoch"] for r in runs.gradients(spec)] == [0, 1, 2, 3]
    assert runs.gradients(spec) == ref.gradients(spec)

    again = Runs(tmp_path / "b")
    said.clear()
    execute([spec], again, say=said.append)
    assert "reused" in said[0] and again.dir(spec) == runs.dir(spec)
