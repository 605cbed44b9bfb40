"""The README's examples work as written, so they cannot rot.

- Every ```python block runs in a fresh process, in an empty folder, exactly as written.
- Every `skiplab ...` line of a ```sh block is either run, or checked:
  - Run: in an empty folder, in this process. A training command gets a step cap added
    (train.max_steps=2, 100 evaluation examples). The cap never changes which model, data or option the line
    asks for.
  - Checked: a line that needs what a test machine lacks (a GPU, CIFAR-10 files, a Ray cluster, minutes of
    training) is run with `--help` appended. Click refuses an unknown command or option before it prints help,
    so a renamed flag still fails here.
- Placeholders (`runs/train/resnet20-digits-.../seed-0`, `--run ...`, `DIR`) stand for the run a line before
  trained, or a generated image folder.
"""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skiplab.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = [(m.group(1), README[:m.start()].count("\n") + 1, m.group(2))
          for m in re.finditer(r"^```(\w*)\n(.*?)^```", README, re.S | re.M)]
CAP = ["--set", "train.max_steps=2", "--set", "train.max_eval_examples=100"]

# Lines checked with --help, not run, and why: each pattern matches the start of a command line.
CHECK_ONLY = {
    r"skiplab reproduce(?!.*--plan)": "trains and measures claims for minutes (the reproduce tests run it)",
    r"skiplab .*--data(-dir)? (imagefolder:)?DIR|skiplab .*cifar10": "needs CIFAR-10 files",
    r"skiplab .*--executor ray": "starts Ray (tests/claims/core/test_ray_executor.py runs it)",
    r"skiplab bench": "times training for minutes",
    r"skiplab tddft": "12,000 propagation steps (tests/cli/test_tddft_cli.py runs it small)",
    r"skiplab prune": "trains IMP rounds (tests/cli/test_prune_cli.py runs it)",
    r"skiplab sweep .*--runs /shared": "a cluster's shared folder",
    r"skiplab train -m lipresnet20|skiplab train -m resnet20 -d digits --save": "trained in the runs below",
    r"skiplab train --model (resnet56|plain56)|skiplab train --config": "a CIFAR-sized run or a user's file",
    r"skiplab probe (lipschitz|attack) --run|skiplab probe gradients --run DIR": "needs the runs above",
    r"skiplab report": "needs a reproduce folder",
}


def python_blocks():
    return [pytest.param(code, id=f"line-{line}") for lang, line, code in BLOCKS if lang == "python"]


def shell_lines():
    """(line number, command) of every skiplab command in a ```sh block, continuations joined, comments cut."""
    out = []
    for lang, line, code in BLOCKS:
        if lang != "sh":
            continue
        lines = code.replace("\\\n", " ").splitlines()
        for i, text in enumerate(lines):
            cmd = re.sub(r"\s+#.*$", "", text).strip()
            if cmd.startswith("torchrun "):
                cmd = "skiplab " + cmd.split(" -m skiplab ", 1)[1]
            if cmd.startswith("skiplab "):
                out.append((line + 1 + i, cmd))
    return out


@pytest.mark.parametrize("code", python_blocks())
def test_python_block_runs_as_written(code, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env=env)
    assert r.returncode == 0, r.stderr[-2000:]


def test_shell_commands_run_or_exist(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    last_run: dict[str, str] = {}
    ran, checked = [], []
    for line, cmd in shell_lines():
        words = shlex.split(cmd)[1:]
        reason = next((why for pat, why in CHECK_ONLY.items() if re.match(pat, cmd)), None)
        words = [_fill(w, last_run) for w in words]
        if reason is not None:
            r = runner.invoke(app, [*[w for w in words if w != "..."], "--help"])
            assert r.exit_code == 0, f"README line {line}: {cmd}\n{r.output}"
            checked.append(line)
            continue
        if words[0] in ("train", "sweep"):
            words += CAP
        if words[0] == "reproduce":
            words += ["--no-timing"]
        r = runner.invoke(app, words)
        assert r.exit_code == 0, f"README line {line}: {cmd}\n{r.output}"
        ran.append(line)
        if words[0] == "train":
            model = words[words.index("--model") + 1] if "--model" in words else "resnet20"
            last_run[model] = next(str(p) for p in (tmp_path / "runs" / "train").glob(f"{model}-*/seed-*"))
            last_run["last"] = last_run[model]
    assert len(ran) >= 8 and len(checked) >= 10, (ran, checked)  # the harness does run most of what it can


def _fill(word: str, runs: dict[str, str]) -> str:
    """A README placeholder -> the real thing: a run folder trained by an earlier line."""
    if word.startswith("runs/train/") and "..." in word:
        model = next((m for m in sorted(runs, key=len, reverse=True) if word.startswith(f"runs/train/{m}-")), None)
        return runs[model] if model else word
    if word == "..." and runs.get("last"):
        return runs["last"]
    return word
