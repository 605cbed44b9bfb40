"""kill -9 at chosen and at random points of a run -- inside an epoch, and at every point of the checkpoint writes,
between the two checkpoint files too -- and each time `--resume` carries on: the run ends bit-identical to one that
was never interrupted (CPU, one thread). The kills come from tests/train/kill_at.py, a `skiplab` that SIGKILLs
itself at the point KILL_AT names."""

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

KILLER = Path(__file__).with_name("kill_at.py")
# resmlp on digits, 4 short epochs: about a second per process beyond the imports
ARGS = ["train", "--model", "resmlp", "--data", "digits", "--epochs", "4", "--set", "model.depth=2",
        "--set", "model.width=32", "--set", "train.batch_size=64", "--set", "train.device=cpu"]


def skiplab(run_dir, *extra, kill=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KILL_AT": kill or "none:0"}
    return subprocess.run([sys.executable, str(KILLER), *ARGS, "--run-dir", str(run_dir), *extra], env=env,
                          capture_output=True, text=True, timeout=300)


def killed(run_dir, kill, resume):
    done = skiplab(run_dir, *(["--resume"] if resume else []), kill=kill)
    assert done.returncode == -signal.SIGKILL, (kill, done.returncode, done.stderr)


def final(run_dir):
    weights = {k: v for k, v in load_file(str(run_dir / "checkpoint.safetensors")).items()}
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    timeless = [{k: v for k, v in r.items() if "time" not in k} for r in rows]
    return weights, timeless, json.loads((run_dir / "result.json").read_text())["final"]["test_err"]


def assert_same_run(a, b):
    wa, ra, ea = final(a)
    wb, rb, eb = final(b)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)  # weights, optimizer, RNG
    assert ra == rb and ea == eb
    assert sorted(p.name for p in b.iterdir()) == [".lock", "checkpoint.safetensors", "config.json", "metrics.jsonl",
                                                   "result.json", "state.json"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    run = tmp_path_factory.mktemp("reference") / "run"
    done = skiplab(run)
    assert done.returncode == 0, done.stderr
    return run


def test_killed_at_every_point_of_the_checkpoint_writes_resumes_bit_identically(reference, tmp_path):
    run = tmp_path / "run"
    # one kill per epoch, each at another point; the one between the two files leaves epoch 3's tensors beside
    # epoch 2's state.json, with epoch 2's tensors kept aside
    for i, point in enumerate(["temp:1", "renamed:2", "tensors:3", "state:4"]):
        killed(run, point, resume=i > 0)
        if point == "tensors:3":
            assert json.loads((run / "state.json").read_text())["epoch"] == 2
            assert (run / "checkpoint.prev.safetensors").exists()
    done = skiplab(run, "--resume")
    assert done.returncode == 0, done.stderr
    assert not (run / "checkpoint.prev.safetensors").exists()
    assert_same_run(reference, run)


def test_killed_at_random_steps_resumes_bit_identically(reference, tmp_path):
    run = tmp_path / "run"
    rng = random.Random(25)  # fixed: the points are random but the test is the same every time
    total, taken = json.loads((reference / "state.json").read_text())["step"], 0
    for _ in range(3):
        # a step of this process's own count; it starts from the last checkpoint, so reach past it
        at = rng.randint(1, total - taken)
        killed(run, f"step:{at}", resume=taken > 0)
        state = run / "state.json"
        taken = json.loads(state.read_text())["step"] if state.exists() else 0
    done = skiplab(run, "--resume")
    assert done.returncode == 0, done.stderr
    assert_same_run(reference, run)
