"""`skiplab train --log tensorboard`: the event files under <run folder>/tensorboard hold the scalars of
metrics.jsonl, epoch by epoch; logging does not change the run's folder (its config hash); a missing package or an
unknown target is one error line and exit status 2, with nothing written."""

import json
import sys

import pytest
from typer.testing import CliRunner

from skiplab.cli import app
from skiplab.train.loop import RunFolder

runner = CliRunner()
ARGS = ["train", "--model", "resmlp", "--data", "digits", "--epochs", "2", "--set", "model.depth=2",
        "--set", "model.width=16", "--set", "train.lr=0.05"]


def scalars(folder):
    """{tag: {step: value}} of every event file in `folder`, read back with tensorboard's own reader."""
    reader = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")  # in the dev extra
    acc = reader.EventAccumulator(str(folder))
    acc.Reload()
    return {tag: {e.step: e.value for e in acc.Scalars(tag)} for tag in acc.Tags()["scalars"]}


def expected(run_dir):
    """metrics.jsonl as the scalars TensorBoard should show: train_loss -> train/loss, at step = epoch."""
    out = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        for key, value in row.items():
            if key != "epoch":
                out.setdefault(key.replace("_", "/", 1), {})[row["epoch"]] = value
    return out


def assert_same(got, want):
    assert set(got) == set(want)
    for tag, steps in want.items():
        assert set(got[tag]) == set(steps), tag
        for step, value in steps.items():  # event files store float32
            assert got[tag][step] == pytest.approx(value, rel=1e-6, abs=1e-12), (tag, step)


def test_event_files_hold_the_metrics_of_every_epoch(tmp_path):
    r = runner.invoke(app, [*ARGS, "--out", str(tmp_path), "--log", "tensorboard"])
    assert r.exit_code == 0, r.output
    (run_dir,) = (tmp_path / "train").glob("resmlp-digits-*/seed-0")
    assert f"tensorboard --logdir {run_dir / 'tensorboard'}" in r.output
    got, want = scalars(run_dir / "tensorboard"), expected(run_dir)
    assert {"train/loss", "train/err", "test/loss", "test/err", "lr"} <= set(got)
    assert all(set(steps) == {1, 2} for tag, steps in want.items() if tag.startswith("train/"))
    assert_same(got, want)


def test_logging_keeps_the_run_folder_and_backfills_a_finished_run(tmp_path):
    plain = runner.invoke(app, [*ARGS, "--out", str(tmp_path)])
    assert plain.exit_code == 0, plain.output
    (run_dir,) = (tmp_path / "train").glob("resmlp-digits-*/seed-0")
    assert not (run_dir / "tensorboard").exists()
    # the same config with --log is the same run: reused, not retrained, and its metrics.jsonl becomes the log
    again = runner.invoke(app, [*ARGS, "--out", str(tmp_path), "--log", "tensorboard"])
    assert again.exit_code == 0 and "already finished" in again.output, again.output
    assert list((tmp_path / "train").glob("*/seed-0")) == [run_dir]
    assert_same(scalars(run_dir / "tensorboard"), expected(run_dir))
    files = sorted((run_dir / "tensorboard").iterdir())
    runner.invoke(app, [*ARGS, "--out", str(tmp_path), "--log", "tensorboard"])
    assert sorted((run_dir / "tensorboard").iterdir()) == files  # logged once, not once per call


def test_a_resumed_run_logs_its_earlier_epochs_too(tmp_path, monkeypatch):
    # first trained without --log, interrupted after epoch 1, resumed with it: epoch 1 comes from metrics.jsonl
    run_dir = tmp_path / "mine"
    base = [*ARGS[:5], "--set", "model.depth=2", "--set", "model.width=16", "--run-dir", str(run_dir),
            "--epochs", "2"]
    save_epoch = RunFolder.save_epoch

    def then_ctrl_c(self, stepper, state, history):
        save_epoch(self, stepper, state, history)
        raise KeyboardInterrupt  # right after epoch 1's checkpoint

    monkeypatch.setattr(RunFolder, "save_epoch", then_ctrl_c)
    assert runner.invoke(app, base).exit_code == 130
    monkeypatch.setattr(RunFolder, "save_epoch", save_epoch)
    r = runner.invoke(app, [*base, "--resume", "--log", "tensorboard"])
    assert r.exit_code == 0 and "finished after 2 epochs" in r.output, r.output
    got = scalars(run_dir / "tensorboard")
    assert set(got["train/loss"]) == {1, 2}
    assert_same(got, expected(run_dir))


@pytest.mark.parametrize("log, message", [("wandb", "--log: 'wandb' is not one of tensorboard"),
                                          ("tensorboard", "pip install 'skiplab[tensorboard]'")])
def test_bad_log_is_one_line_and_exit_2(tmp_path, monkeypatch, log, message):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were not installed
    r = runner.invoke(app, [*ARGS, "--out", str(tmp_path / "runs"), "--log", log])
    assert r.exit_code == 2, r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], r.output
    assert not (tmp_path / "runs").exists()
