"""Numbers and sections that make no sense are refused by the CLI before anything is written: exit status 2, one
`error: ...` line naming the field, no traceback, and the --out folder left empty."""

import json

import pytest
from typer.testing import CliRunner

from skiplab.cli import app

runner = CliRunner()
TRAIN = ["train", "--model", "resmlp", "--data", "digits", "--epochs", "1", "--set", "model.depth=2"]


@pytest.mark.parametrize("args,words", [
    (["--lr", "nan"], "train.lr must be a finite number > 0, got nan"),
    (["--lr", "inf"], "train.lr must be a finite number > 0, got inf"),
    (["--set", "train.gamma=.nan"], "train.gamma must be a finite number > 0, got nan"),
    (["--set", "train.weight_decay=-1"], "train.weight_decay must be a finite number >= 0, got -1.0"),
    (["--set", "train.grad_clip=-1"], "train.grad_clip must be a finite number > 0"),
    (["--set", "train.max_steps=0"], "train.max_steps must be a whole number >= 1, got 0"),
    (["--set", "train.log_every=-1"], "train.log_every must be a whole number >= 0, got -1"),
    (["--set", "train.momentum=-1"], "train.momentum must be in [0, 1), got -1.0"),
    (["--set", "train.max_eval_examples=0"], "train.max_eval_examples must be a whole number >= 1, got 0"),
    (["--set", "train.warmup_epochs=.nan"], "train.warmup_epochs must be in [0, epochs=1], got nan"),
    (["--set", "train=5"], "train: expected a section (a mapping of keys), got 5"),
    (["--set", "model=[resnet8]"], "model: expected a model name or a mapping"),
    (["--seed", "99999999999999999999"], "seed must be a whole number in [0, 9223372036854775807]"),
    (["--seed", "-1"], "seed must be a whole number in [0, 9223372036854775807], got -1"),
    # digits has fewer training images than this, and the loader would only fail after config.json was written
    (["--set", "train.batch_size=100000000"], "train.batch_size 100000000 is larger than the"),
])
def test_train_refuses_nonsense_in_one_line_and_writes_nothing(tmp_path, args, words):
    out = tmp_path / "runs"
    r = runner.invoke(app, [*TRAIN, "--out", str(out), *args])
    assert r.exit_code == 2, r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], r.output
    assert not out.exists() or not any(out.iterdir())


def test_config_file_with_a_list_for_the_model_section_is_one_line(tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text("model: [resnet8]\ndata: {name: digits}\n")
    out = tmp_path / "runs"
    r = runner.invoke(app, ["train", "--config", str(cfg), "--out", str(out)])
    assert r.exit_code == 2 and r.output.startswith("error: model: expected a model name or a mapping, got ['resnet8']")
    assert not out.exists()


@pytest.mark.parametrize("args,words", [
    (["--steps", "-1"], "max_steps (--steps) must be a whole number >= 1, got -1"),
    (["--workers", "0"], "workers must be a whole number >= 1, got 0"),
])
def test_reproduce_refuses_nonsense_counts(tmp_path, args, words):
    out = tmp_path / "rep"
    r = runner.invoke(app, ["reproduce", "--plan", "--no-timing", "--out", str(out), *args])
    assert r.exit_code == 2, r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], r.output
    assert not out.exists() or not any(out.iterdir())


def _pngs(folder, n, size=8):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("L", (size, size), color=i * 9 % 256).save(folder / f"{i}.png")


def _one_class(root):
    _pngs(root / "cat", 6)


def _empty_test(root):
    _pngs(root / "train" / "cat", 4)
    _pngs(root / "train" / "dog", 4)
    (root / "test" / "cat").mkdir(parents=True)
    (root / "test" / "dog").mkdir(parents=True)


def _eighteen_images(root):  # 18 images: 16 train + 2 held out, fewer than the default batch of 128
    _pngs(root / "cat", 9)
    _pngs(root / "dog", 9)


@pytest.mark.parametrize("make, words", [
    (_one_class, "has one class folder (cat); a classifier needs at least two"),
    (_empty_test, "holds no .png/.jpg/.jpeg images"),
    (_eighteen_images, "train.batch_size 128 is larger than the 16 training examples"),
])
def test_image_folders_that_make_no_task_are_one_line_through_the_cli(tmp_path, capsys, make, words):
    from skiplab.cli import run

    root = tmp_path / "imgs"
    make(root)
    out = tmp_path / "runs"
    code = run(["train", "--model", "resmlp", "--data", f"imagefolder:{root}", "--epochs", "1", "--out", str(out),
                "--set", f"data.cache_dir={tmp_path / 'cache'}"])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], lines
    assert not out.exists()


def test_a_state_past_the_runs_epochs_is_refused_not_called_finished(tmp_path, capsys):
    from skiplab.cli import run

    run_dir = tmp_path / "run"
    args = [*TRAIN, "--run-dir", str(run_dir)]
    assert run(args) == 0
    (run_dir / "result.json").unlink()
    state = json.loads((run_dir / "state.json").read_text())
    (run_dir / "state.json").write_text(json.dumps({**state, "epoch": 99}))
    capsys.readouterr()
    assert run([*args, "--resume"]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "state.json: at epoch 99, past this run's 1 epochs" in lines[0], lines
    assert not (run_dir / "result.json").exists()
