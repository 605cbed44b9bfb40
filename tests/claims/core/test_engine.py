"""The run engine: a run shared by claims trains once, a finished one is reused, an interrupted one resumes to the
same weights (and records, and snapshots) an uninterrupted run reaches; FunctionRuns are hashed and reused; jobs
train after the jobs they start from."""

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from skiplab.claims.core.datasets import probe_batch
from skiplab.claims.core.engine import GRADIENTS, Done, FunctionRun, Outcome, RunSpec, execute, waves
from skiplab.claims.core.runspec import PersistedRecorder, Probes, Snapshots
from skiplab.probes import GradientSignalCallback
from skiplab.train import Callback, TrainConfig
from skiplab.train.experiment import DataConfig, ModelConfig, RunConfig, RunHooks, load_data, run_training


def make_spec(epochs=3):
    cfg = RunConfig(model=ModelConfig("resmlp", {"depth": 2, "width": 16}), data=DataConfig("digits"),
                    train=TrainConfig(epochs=epochs, batch_size=64, lr=0.05, device="cpu"), seed=0)
    return RunSpec(cfg, probes=Probes(examples=32, every=1))


class Crash(Callback):
    def on_epoch_end(self, state, metrics):
        if metrics["epoch"] == 2:
            raise KeyboardInterrupt


def weights(run_dir):
    from safetensors.torch import load_file
    return {k: v for k, v in load_file(str(run_dir / "checkpoint.safetensors")).items() if k.startswith("model.")}


def test_interrupted_run_resumes_to_the_same_weights(tmp_path):
    spec = make_spec()
    ref = execute([spec], Done(tmp_path / "ref"), say=lambda s: None)

    data = load_data(spec.run.data)
    x, y = probe_batch(data, spec.probes.examples)
    with pytest.raises(KeyboardInterrupt):  # killed right after epoch 2's checkpoint
        record = RunHooks(callbacks=lambda d: [PersistedRecorder(GradientSignalCallback(x, y), d / GRADIENTS), Crash()])
        run_training(spec.run, spec.folder(tmp_path / "b"), data, extra=spec.extra, hooks=record, verbose=False)
    said = []
    runs = execute([spec, spec], Done(tmp_path / "b"), say=said.append)  # listed twice, trained once
    assert len(said) == 1 and "resumed" in said[0] and "finished" in said[0]
    a, b = weights(ref.dir(spec)), weights(runs.dir(spec))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["epoch"] for r in runs.gradients(spec)] == [0, 1, 2, 3]
    assert runs.gradients(spec) == ref.gradients(spec)

    said.clear()
    again = execute([spec], Done(tmp_path / "b"), say=said.append)
    assert "reused" in said[0] and again.dir(spec) == runs.dir(spec)


def _count(cfg):
    """A FunctionRun's function: how many times it ran, kept in a file beside the test (a side effect on purpose)."""
    path = cfg.log
    n = int(open(path).read()) + 1 if os.path.exists(path) else 1
    open(path, "w").write(str(n))
    return {"n": n, "x": cfg.x * 2}


@dataclass(frozen=True)
class CountConfig:
    x: int
    log: str
    data_root: str | None = None


def test_function_run_is_hashed_reused_and_redone_when_interrupted(tmp_path):
    log = str(tmp_path / "calls")
    job = FunctionRun(_count, CountConfig(3, log), name="count", seed=0)
    done = execute([job, job], Done(tmp_path / "runs"), say=lambda s: None)
    assert done.value(job) == {"n": 1, "x": 6} and done.result(job)["status"] == "finished"
    assert done.dir(job).parent.name.startswith("count-") and done.dir(job).name == "seed-0"
    said = []
    execute([job], Done(tmp_path / "runs"), say=said.append)  # finished: reused, not called again
    assert "reused" in said[0] and open(log).read() == "1"
    # a path (data_root) is not part of what is trained: the same folder; another config is another folder
    assert FunctionRun(_count, CountConfig(3, log, "/elsewhere"), "count", 0).folder(tmp_path) == job.folder(tmp_path)
    assert FunctionRun(_count, CountConfig(4, log), "count", 0).folder(tmp_path) != job.folder(tmp_path)
    assert FunctionRun(_count, CountConfig(3, log), "count", 1).folder(tmp_path) != job.folder(tmp_path)
    # interrupted between its start (config.json written) and its end: trained again from the start
    (done.dir(job) / "result.json").unlink()
    said.clear()
    again = execute([job], Done(tmp_path / "runs"), say=said.append)
    assert again.value(job) == {"n": 2, "x": 6} and "resumed" in said[0]


@dataclass(frozen=True)
class Step:
    """A job that appends its name to a log when trained, after the jobs in `deps`."""

    name: str
    log: str
    deps: tuple = ()
    weight: float = 1.0

    key = property(lambda self: self.name)
    label = property(lambda self: self.name)
    after = property(lambda self: self.deps)
    cost = property(lambda self: self.weight)

    def folder(self, out):
        return Path(out) / self.name

    def resolved(self, folder):
        return {}

    def train(self, out, verbose=False):
        with open(self.log, "a") as f:
            f.write(self.name + "\n")
        return Outcome(self.folder(out), {"status": "finished"}, False, False, 0.0)


def test_jobs_train_after_what_they_start_from(tmp_path):
    log = str(tmp_path / "order")
    a, b = Step("a", log, weight=1), Step("b", log, weight=5)
    c = Step("c", log, deps=(a, b))
    d = Step("d", log, deps=(c,), weight=9)
    assert [[j.name for j in w] for w in waves([d, c, a])] == [["b", "a"], ["c"], ["d"]]  # b added, heaviest first
    execute([d], Done(tmp_path), say=lambda s: None)
    assert open(log).read().split() == ["b", "a", "c", "d"]


def test_snapshots_survive_an_interruption(tmp_path):
    """A run with Snapshots killed mid-way resumes to the same snapshot index and weights as an uninterrupted run."""
    from safetensors.torch import load_file
    cfg = RunConfig(model=ModelConfig("resmlp", {"depth": 2, "width": 16}), data=DataConfig("digits"),
                    train=TrainConfig(epochs=3, batch_size=256, lr=0.05, device="cpu"), seed=0)
    spec = RunSpec(cfg, probes=None, snapshots=Snapshots(every=2, examples=64))
    ref = execute([spec], Done(tmp_path / "ref"), say=lambda s: None)
    data = load_data(cfg.data)
    with pytest.raises(KeyboardInterrupt):
        run_training(cfg, spec.folder(tmp_path / "b"), data, extra=spec.extra, verbose=False,
                     hooks=RunHooks(callbacks=lambda d: [*spec.callbacks(data, d), Crash()]))
    resumed = execute([spec], Done(tmp_path / "b"), say=lambda s: None)
    want, got = ref.snapshots(spec), resumed.snapshots(spec)
    assert got == want and want["steps"][0] == 0 and want["steps"][-1] == 3 * 5  # 1347 images: 5 steps an epoch
    assert want["steps"] == sorted(set([0, *range(2, 16, 2), 15]))
    for step in want["steps"]:
        a, b = load_file(ref.snapshot_file(spec, step)), load_file(resumed.snapshot_file(spec, step))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
