"""`torchrun -m skiplab train` on 2 CPU ranks (gloo): the CLI joins the process group itself, rank 0 alone prints
and writes, and the run equals a 1-process run at the same global batch (each rank takes half of it), also when
it is resumed from rank 0's checkpoint under DDP."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from skiplab.errors import ConfigError
from skiplab.train import TrainConfig
from skiplab.train import distributed as D
from skiplab.train.experiment import load_data, resolve_run_config, run_training
from skiplab.train.lock import run_lock
from skiplab.train.loop import check_sync_bn

# A norm-free net (resmlp has no batch norm by default), so per-rank statistics cannot differ from the global
# ones; a constant lr, so a 1-epoch run is the first epoch of a 2-epoch run and can be resumed into one.
SETTINGS = ["model.depth=2", "model.width=32", "train.schedule=constant", "train.lr=0.05", "train.device=cpu",
            "train.batch_size=64", "data.name=digits"]


def torchrun(cwd, run_dir, epochs, *extra, kill=None):
    """`torchrun ... skiplab train` on 2 ranks; with `kill` (kill_at.py's KILL_AT), rank 0 is SIGKILLed there."""
    sets = [a for s in SETTINGS for a in ("--set", s)]
    program = [str(Path(__file__).with_name("kill_at.py"))] if kill else ["-m", "skiplab"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           *program, "train", "-m", "resmlp", "--epochs", str(epochs), "--run-dir", str(run_dir), *sets, *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KILL_AT": kill or ""}
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)
    assert (done.returncode != 0) == bool(kill), done.stdout + done.stderr
    return done.stdout


def one_process(run_dir, epochs):
    cfg = resolve_run_config({"model": "resmlp"}, {"train.epochs": epochs}, SETTINGS)
    run_training(cfg, run_dir, load_data(cfg.data), verbose=False)


def weights(run_dir):
    return {k: v for k, v in load_file(str(run_dir / "checkpoint.safetensors")).items() if k.startswith("model.")}


def assert_same_weights(a, b):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.allclose(wa[k], wb[k], atol=1e-5), k


def test_torchrun_cli_matches_one_process_and_resumes(tmp_path):
    ddp, one = tmp_path / "ddp", tmp_path / "one"
    out = torchrun(tmp_path, ddp, 1)
    assert out.count("run folder:") == 1  # rank 0 alone prints
    one_process(one, 1)
    assert_same_weights(ddp, one)

    # a 2-epoch run whose rank 0 is killed between the two checkpoint files of epoch 2, then resumed: it redoes
    # epoch 2 from epoch 1's pair (kept aside) and ends as one uninterrupted process does
    ddp2 = tmp_path / "ddp2"
    torchrun(tmp_path, ddp2, 2, kill="tensors:2")
    assert json.loads((ddp2 / "state.json").read_text())["epoch"] == 1
    out = torchrun(tmp_path, ddp2, 2, "--resume")
    assert out.count("run folder:") == 1
    one_process(tmp_path / "one2", 2)
    assert_same_weights(ddp2, tmp_path / "one2")
    assert len((ddp2 / "metrics.jsonl").read_text().splitlines()) == 2
    assert sorted(p.name for p in ddp2.iterdir() if not p.name.startswith(".")) == [
        "checkpoint.safetensors", "config.json", "metrics.jsonl", "result.json", "state.json"]


def test_a_locked_folder_fails_every_rank_at_once(tmp_path):
    """Rank 0 alone takes the lock; refused, it must not leave rank 1 waiting at a barrier for a rank that left."""
    folder = tmp_path / "busy"
    with run_lock(folder):  # this process holds it, as a live `skiplab train` would
        t0 = time.perf_counter()
        sets = [a for s in SETTINGS for a in ("--set", s)]
        done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                               "-m", "skiplab", "train", "-m", "resmlp", "--epochs", "1", "--run-dir", str(folder),
                               *sets], cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"},
                              capture_output=True, text=True, timeout=170)
        seconds = time.perf_counter() - t0
    assert done.returncode != 0
    assert f"error: {folder} is being trained by process {os.getpid()}" in done.stderr
    assert "rank 0 could not take the run folder's lock" in done.stderr  # rank 1's line: it failed too
    assert seconds < 120, seconds  # a hang guard: rank 1 waiting at the barrier would sit out torchrun's timeout


def test_sync_bn_is_refused_on_cpu_ranks(monkeypatch):
    cfg = TrainConfig(sync_bn=True)
    check_sync_bn(cfg, torch.device("cpu"))  # one process: nothing to synchronize, ignored
    monkeypatch.setattr(D, "world_size", lambda: 2)
    with pytest.raises(ConfigError, match="sync_bn"):
        check_sync_bn(cfg, torch.device("cpu"))


def test_outside_torchrun_the_group_is_left_alone(monkeypatch):
    for var in D.TORCHRUN_VARS:
        monkeypatch.delenv(var, raising=False)
    with D.from_torchrun("cpu"):
        assert not D.is_distributed() and D.world_size() == 1


def test_torchrun_reproduce_writes_one_report_over_the_same_runs(tmp_path):
    # every rank trains every run (one DDP run after another) and measures; rank 0 alone writes runs and report,
    # and the ranks agree with a single process on which runs the claim needs (same config hashes, same folders)
    args = ["reproduce", "degradation", "--scale", "quick", "--seeds", "1", "--steps", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          "-m", "skiplab", *args, "--out", str(tmp_path / "ddp")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert ddp.returncode == 0, ddp.stdout + ddp.stderr
    assert ddp.stdout.count("report:") == 1 and ddp.stdout.count("degradation") >= 1
    one = subprocess.run([sys.executable, "-m", "skiplab", *args, "--out", str(tmp_path / "one")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert one.returncode == 0, one.stdout + one.stderr

    def runs(root):
        return sorted(p.name for p in (root / "runs" / "claims").iterdir())
    assert runs(tmp_path / "ddp") == runs(tmp_path / "one") and len(runs(tmp_path / "one")) == 6
    seeds = list((tmp_path / "ddp" / "runs" / "claims").glob("*/seed-0"))
    assert len(seeds) == 6
    for run in seeds:
        assert (run / "result.json").exists() and not list(run.glob("*.tmp"))
    import json
    results = json.loads((tmp_path / "ddp" / "quick" / "results.json").read_text())
    assert [c["id"] for c in results["claims"]] == ["degradation"]
    assert sorted(p.name for p in (tmp_path / "ddp" / "quick").iterdir()) == [
        "figures", "report.html", "report.md", "results.json"]
