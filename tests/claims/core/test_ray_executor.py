"""The Ray executor on a local Ray of 2 workers (the CPU): it trains what the local executor trains, bit for bit,
into the same folders; a second driver reuses finished runs; a worker killed with kill -9 mid-run is retried and
the run resumes from its checkpoint to the weights of an uninterrupted run; a run that raises is recorded once, not
retried, and the others finish; bad options are refused in one line before anything trains."""

import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

ray = pytest.importorskip("ray")

from skiplab.claims.core.engine import Done, FunctionRun, RunsFailed, execute  # noqa: E402
from skiplab.claims.core.ray_executor import RayExecutor  # noqa: E402
from skiplab.claims.core.runspec import RunSpec  # noqa: E402
from skiplab.errors import ConfigError  # noqa: E402
from skiplab.train.checkpoint import read_weights  # noqa: E402
from skiplab.train.config import TrainConfig  # noqa: E402
from skiplab.train.experiment import DataConfig, ModelConfig, RunConfig  # noqa: E402

# the test's own functions travel to the Ray workers by value: pytest imports this file under a name they cannot
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def cluster():
    """One local Ray of 2 CPUs for the module (each start costs seconds); executors built on it leave it running."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


def spec(seed, epochs=1, max_steps=3):
    train = TrainConfig(epochs=epochs, batch_size=64, max_steps=max_steps, max_eval_examples=100)
    return RunSpec(RunConfig(model=ModelConfig("resnet8", {"depth": 8}), data=DataConfig("digits"), train=train,
                             seed=seed), probes=None)


@dataclass(frozen=True)
class Counted:
    attempts: str  # a file that counts the calls
    fail: bool


def counted(cfg: Counted) -> dict:
    path = Path(cfg.attempts)
    path.write_text(str(int(path.read_text() or 0) + 1) if path.exists() else "1")
    if cfg.fail:
        raise ValueError("this run's own bug")
    return {"ok": 1}


def weights(done, s):
    return read_weights(done.dir(s) / "checkpoint.safetensors")


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_ray_trains_what_local_trains_bit_for_bit_and_a_second_driver_reuses_it(cluster, tmp_path):
    specs = [spec(0), spec(1)]
    on_ray = execute(specs, Done(tmp_path / "ray", RayExecutor()), say=lambda s: None)
    local = execute(specs, Done(tmp_path / "local"), say=lambda s: None, workers=2)
    for s in specs:
        assert on_ray.dir(s) == s.folder(tmp_path / "ray")  # the config-hash folder the run has anywhere
        assert (on_ray.dir(s) / "config.json").read_text() == (local.dir(s) / "config.json").read_text()
        assert on_ray.result(s)["status"] == "stopped"
        # one torch thread per run, as a local worker process has: the same numbers
        assert same(weights(on_ray, s), weights(local, s))
    said = []
    again = execute(specs, Done(tmp_path / "ray", RayExecutor()), say=said.append)
    assert [again.outcomes[s.key].reused for s in specs] == [True, True]
    assert all("reused" in line for line in said) and len(said) == 2


def test_a_killed_worker_is_retried_and_its_run_ends_as_an_uninterrupted_one(cluster, tmp_path):
    s = spec(3, epochs=8, max_steps=None)
    executor = RayExecutor(heartbeat_s=0.2)
    folder = s.folder(tmp_path / "ray")
    said, outcome = [], {}

    def drive():
        outcome["done"] = execute([s], Done(tmp_path / "ray", executor), say=said.append)
    driver = threading.Thread(target=drive)
    driver.start()
    deadline = time.time() + 120
    while not (folder / "state.json").exists():  # killed after its first checkpoint, so there is one to resume
        assert time.time() < deadline and driver.is_alive(), said
        time.sleep(0.01)
    pid = executor.started_pids()[s.key]
    assert not (folder / "result.json").exists()
    os.kill(pid, signal.SIGKILL)
    driver.join(timeout=300)
    assert not driver.is_alive()
    done = outcome["done"]
    assert done.outcomes[s.key].resumed, said  # Ray ran the task again and it resumed from the checkpoint
    assert executor.started_pids()[s.key] != pid  # in a new worker process
    assert done.result(s)["status"] == "finished"
    assert any(" training, " in line and "so far" in line for line in said)  # progress while nothing finished
    straight = execute([s], Done(tmp_path / "local"), say=lambda m: None, workers=2)
    assert same(weights(done, s), weights(straight, s))


def test_a_run_that_raises_is_recorded_once_and_the_others_finish(cluster, tmp_path):
    bad = FunctionRun(counted, Counted(str(tmp_path / "bad-attempts"), fail=True), "bad", seed=0)
    good = FunctionRun(counted, Counted(str(tmp_path / "good-attempts"), fail=False), "good", seed=0)
    said = []
    done = Done(tmp_path / "ray", RayExecutor(retries=3))
    with pytest.raises(RunsFailed) as e:
        execute([bad, good], done, say=said.append)
    assert (tmp_path / "bad-attempts").read_text() == "1"  # an application error is not retried
    assert "this run's own bug" in str(e.value) and "bad seed 0" in str(e.value) and "\n" not in str(e.value)
    assert done.value(good) == {"ok": 1}  # the other run finished and is kept
    assert any("failed, not retried" in line for line in said)


def test_bad_options_are_refused_in_one_line_before_anything_trains(cluster, tmp_path):
    with pytest.raises(ConfigError, match="cpus-per-run must be a number > 0"):
        RayExecutor(cpus_per_run=0)
    with pytest.raises(ConfigError, match="retries must be a whole number"):
        RayExecutor(retries=-1)
    with pytest.raises(ConfigError, match="no node of the cluster has that many CPUs"):
        RayExecutor(cpus_per_run=64).start()
    with pytest.raises(ConfigError, match="no node of the cluster has that many GPUs"):
        RayExecutor(gpus_per_run=0.5).start()
    executor = RayExecutor().start()
    assert executor.gpus == 0 and not executor.populations  # a CPU cluster: each seed its own task
    assert "2 CPUs" in executor.describe()
    assert not list(tmp_path.iterdir())


def test_a_sweep_through_ray_equals_one_trained_here(cluster, tmp_path):
    from skiplab.sweep import sweep
    fixed = ["train.max_steps=2", "train.max_eval_examples=100", "train.batch_size=64", "train.epochs=1"]
    kw = dict(seeds=2, base={"model": "resnet8", "data": {"name": "digits"}}, assignments=fixed, say=lambda s: None)
    on_ray = sweep({"model.depth": [8, 14]}, runs=tmp_path / "ray", out=tmp_path / "sw-ray", executor=RayExecutor(),
                   **kw)
    here = sweep({"model.depth": [8, 14]}, runs=tmp_path / "here", out=tmp_path / "sw-here", workers=2, **kw)
    assert [r["test_err"] for r in on_ray.rows] == [r["test_err"] for r in here.rows]
    assert [s["mean"] for s in on_ray.summary] == [s["mean"] for s in here.summary]
    assert (tmp_path / "sw-ray" / "summary.csv").exists()
