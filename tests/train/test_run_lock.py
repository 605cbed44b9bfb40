"""One writer per run folder: a second writer is refused in one line while the first lives, a killed writer's
lock is free at once, and a process's own nested holds (run_training, then fit) share one lock."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from skiplab.errors import CheckpointError
from skiplab.models import create_model
from skiplab.train import TrainConfig, fit
from skiplab.train.experiment import DataConfig, ModelConfig, RunConfig, run_training
from skiplab.train.lock import LOCK, run_lock

CPU = dict(device="cpu", channels_last=False)

# A second process that takes the folder's lock by the code path fit() uses, says so, and waits to be killed.
HOLDER = textwrap.dedent("""
    import sys, time
    from skiplab.train.lock import run_lock
    with run_lock(sys.argv[1]):
        print("locked", flush=True)
        time.sleep(120)
""")


@pytest.fixture
def holder(tmp_path):
    """Start a process holding tmp_path/"run"'s lock; yields (folder, process); killed at the end in any case."""
    folder = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield folder, proc
    finally:
        proc.kill()
        proc.wait()


def mlp(data):
    torch.manual_seed(0)
    return create_model("resmlp", num_classes=data.num_classes, in_channels=data.info.shape[0], depth=2, width=16)


def test_a_second_writer_is_refused_while_the_first_lives_and_takes_over_once_it_is_killed(holder, blob_data):
    folder, proc = holder
    assert json.loads((folder / LOCK).read_text())["pid"] == proc.pid
    cfg = TrainConfig(epochs=1, batch_size=32, **CPU)
    with pytest.raises(CheckpointError, match=rf"^{folder} is being trained by process {proc.pid} \(since "
                                              r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\); wait for it or stop it$"):
        fit(mlp(blob_data), blob_data, cfg, run_dir=folder, verbose=False)
    assert sorted(p.name for p in folder.iterdir()) == [LOCK]  # refused before anything was written
    proc.send_signal(signal.SIGKILL)
    proc.wait()  # the kernel has released its flock
    h = fit(mlp(blob_data), blob_data, cfg, run_dir=folder, verbose=False)
    assert h.status == "finished" and (folder / "result.json").exists()
    assert json.loads((folder / LOCK).read_text())["pid"] == os.getpid()


def test_run_training_refuses_a_live_run_instead_of_calling_it_unfinished(holder):
    folder, proc = holder
    (folder / "state.json").write_text('{"epoch": 1}')  # what the live run has checkpointed so far
    cfg = RunConfig(model=ModelConfig("resmlp", {"depth": 2}), data=DataConfig(name="digits"),
                    train=TrainConfig(epochs=2, device="cpu"))
    from skiplab.train.experiment import load_data
    with pytest.raises(CheckpointError, match=f"is being trained by process {proc.pid}"):
        run_training(cfg, folder, load_data(cfg.data), verbose=False)
    assert not (folder / "config.json").exists()  # the lock comes before anything is written


def test_nested_holds_in_one_process_share_the_lock(tmp_path):
    folder = tmp_path / "run"
    with run_lock(folder):
        with run_lock(folder):  # as run_training's hold around fit()'s
            pass
        probe = subprocess.run([sys.executable, "-c", HOLDER.replace("time.sleep(120)", "pass"), str(folder)],
                               capture_output=True, text=True)
        assert probe.returncode != 0 and f"is being trained by process {os.getpid()}" in probe.stderr
    done = subprocess.run([sys.executable, "-c", HOLDER.replace("time.sleep(120)", "pass"), str(folder)],
                          capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "locked"  # released by the outer hold's end


def test_a_folder_is_not_locked_without_one(tmp_path):
    with run_lock(None):
        pass
    assert list(tmp_path.iterdir()) == []
