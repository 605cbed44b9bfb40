"""The command line: results, reuse of finished runs, and one clear line with exit status 2 for bad input."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from skiplab.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, list(args))


def test_train_prints_errors_and_reuses_the_finished_run(tmp_path):
    args = ["train", "--model", "resmlp", "--data", "digits", "--epochs", "2", "--out", str(tmp_path),
            "--set", "model.depth=2", "--set", "train.lr=0.05"]
    first = run(*args)
    assert first.exit_code == 0, first.output
    assert "test error" in first.output and "finished after 2 epochs" in first.output
    (run_dir,) = list((tmp_path / "train").glob("resmlp-digits-*/seed-0"))
    config = json.loads((run_dir / "config.json").read_text())
    assert config["run"]["train"]["lr"] == 0.05 and config["resolved"]["model"]["depth"] == 2
    assert {p.name for p in run_dir.iterdir()} >= {"config.json", "metrics.jsonl", "checkpoint.safetensors",
                                                    "state.json", "result.json"}
    again = run(*args)
    assert again.exit_code == 0 and "already finished" in again.output
    assert len(list((tmp_path / "train").iterdir())) == 1


def test_config_file_and_flags_combine(tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text("model: {name: resmlp, depth: 2}\ndata: {name: digits}\ntrain: {epochs: 1, lr: 0.02}\nseed: 3\n")
    r = run("train", "--config", str(cfg), "--epochs", "2", "--out", str(tmp_path / "runs"))
    assert r.exit_code == 0, r.output
    (run_dir,) = list((tmp_path / "runs" / "train").glob("*/seed-3"))
    saved = json.loads((run_dir / "config.json").read_text())["run"]
    assert saved["train"]["epochs"] == 2 and saved["train"]["lr"] == 0.02 and saved["seed"] == 3


@pytest.mark.parametrize("args,message", [
    (["--model", "resnet21"], "unknown model 'resnet21'"),
    (["--data", "digitz"], "unknown dataset 'digitz'"),
    (["--set", "model.depth=21"], "nearest valid: 20, 26"),
    (["--set", "train.lrr=0.1"], "did you mean 'lr'"),
    (["--set", "train.lr"], "expected key=value"),
    (["--set", "train.epochs=many"], "expected an integer"),
    (["--set", "trian.lr=0.1"], "did you mean 'train'"),
    (["--data", "cifar10", "--data-dir", "/nonexistent/cifar"], "/nonexistent/cifar"),
    (["--device", "cuda:7"], "no CUDA device"),
    (["--set", "model.num_classes=3"], "model.num_classes comes from the data"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    r = run("train", "--out", str(tmp_path / "runs"), "--epochs", "1", *args)
    assert r.exit_code == 2, r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], r.output
    assert not (tmp_path / "runs").exists()  # nothing half-written


def test_bad_config_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    r = run("train", "--config", str(bad), "--out", str(tmp_path / "runs"))
    assert r.exit_code == 2 and "bad.yaml" in r.output and "not valid YAML" in r.output
    r = run("train", "--config", str(tmp_path / "missing.yaml"))
    assert r.exit_code == 2 and "missing.yaml" in r.output


def test_unfinished_run_needs_resume_and_another_config_is_refused(tmp_path):
    run_dir = tmp_path / "mine"
    base = ["train", "--data", "digits", "--run-dir", str(run_dir), "--set", "model.depth=2"]
    assert run(*base, "--model", "resmlp", "--epochs", "2", "--set", "train.max_steps=30").exit_code == 0
    (run_dir / "result.json").unlink()  # as if the process had been killed after its first epoch
    (run_dir / "metrics.jsonl").write_text((run_dir / "metrics.jsonl").read_text().splitlines()[0] + "\n")
    config = (run_dir / "config.json").read_bytes()
    r = run(*base, "--model", "resmlp", "--epochs", "2", "--set", "train.max_steps=30")
    assert r.exit_code == 2 and "--resume" in r.output
    # another architecture, another lr, another length: each would mix two runs in one folder
    for change, words in ((["--model", "plainmlp", "--epochs", "2"], 'model.name is "resmlp" there, "plainmlp" now'),
                          (["--model", "resmlp", "--epochs", "2", "--lr", "0.05"], "train.lr is 0.1 there, 0.05 now"),
                          (["--model", "resmlp", "--epochs", "3"], "train.epochs is 2 there, 3 now (a run's length")):
        r = run(*base, "--set", "train.max_steps=30", *change, "--resume")
        assert r.exit_code == 2 and r.output.startswith(f"error: {run_dir} holds a run of another config") \
            and words in r.output, r.output
        assert (run_dir / "config.json").read_bytes() == config  # never rewritten
    r = run(*base, "--model", "resmlp", "--epochs", "2", "--set", "train.max_steps=30", "--resume")
    assert r.exit_code == 0 and "finished after 2 epochs" in r.output, r.output
    assert (run_dir / "config.json").read_bytes() == config
    # a finished run is not reported as another config's either
    r = run(*base, "--model", "resmlp", "--epochs", "5")
    assert r.exit_code == 2 and "refusing to reuse it" in r.output


def test_real_process_exit_status_and_no_traceback(tmp_path):
    p = subprocess.run([sys.executable, "-m", "skiplab", "train", "--model", "nonet", "--out", str(tmp_path)],
                       capture_output=True, text=True)
    assert p.returncode == 2
    assert p.stderr.strip().startswith("error: unknown model 'nonet'") and "Traceback" not in p.stderr


def test_list_commands():
    models = run("list", "models")
    assert models.exit_code == 0 and "resnet1202" in models.output and "preresnet164" in models.output
    data = run("list", "datasets")
    assert data.exit_code == 0 and "digits" in data.output and "imagefolder" in data.output
    opts = run("list", "options", "--model", "resnet20")
    assert opts.exit_code == 0 and "train.lr" in opts.output and "model.shortcut" in opts.output


def test_help_explains():
    r = run("train", "--help")
    assert r.exit_code == 0 and "--resume" in r.output and "He et al." in r.output


def test_force_never_deletes_a_folder_that_is_not_a_run(tmp_path):
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "chapter1.tex").write_text("...")
    r = run("train", "--model", "resmlp", "--data", "digits", "--run-dir", str(precious), "--force")
    assert r.exit_code == 2 and "holds no skiplab run" in r.output
    assert (precious / "chapter1.tex").exists()


def test_version_names_skiplab_and_torch():
    import torch

    import skiplab
    r = run("--version")
    assert r.exit_code == 0
    assert r.output.strip() == f"skiplab {skiplab.__version__} (torch {torch.__version__})"
    p = subprocess.run([sys.executable, "-m", "skiplab", "--version"], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.startswith(f"skiplab {skiplab.__version__} ")
