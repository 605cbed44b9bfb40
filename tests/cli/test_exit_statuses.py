"""Whatever goes wrong, the command line ends with one line on stderr and an exit status of its kind, never a
traceback: usage errors and bad files 2, a machine that refuses (full disk, unwritable folder) 3, a diverged run 4
(test_divergence_rule.py), Ctrl-C 130 (also while the imports load), a bug 1. And a failed fresh run leaves no
folder behind."""

import os
import resource
import signal
import subprocess
import sys
import time

import pytest

from skiplab.cli import run
from skiplab.errors import EXIT_BUG, EXIT_INPUT, EXIT_INTERRUPTED, EXIT_OK, EXIT_SYSTEM

TRAIN = ["train", "-m", "resmlp", "--data", "digits", "--epochs", "1", "--set", "model.depth=2",
         "--set", "train.device=cpu"]


def one_error_line(err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "╭" not in err  # no traceback, no framed box
    return lines[0]


@pytest.mark.parametrize("argv, words", [
    (["train", "--bogus"], "error: No such option: --bogus"),
    (["train", "--epochs", "x"], "error: Invalid value for '--epochs'"),
    (["report"], "error: Missing argument 'results_dir'; see `"),
    (["bogus"], "error: No such command 'bogus'"),
    (["probe", "gradients"], "error: Missing option '--run'"),
    (["train", "--lr"], "error: Option '--lr' requires an argument"),
])
def test_usage_errors_are_one_line_with_status_2(capsys, argv, words):
    assert run(argv) == EXIT_INPUT
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith(words) and "--help`" in line, line


def test_no_arguments_prints_the_help_and_succeeds(capsys):
    assert run([]) == EXIT_OK
    assert "Usage:" in capsys.readouterr().out


@pytest.mark.parametrize("text, words", [
    ("{\"model\": " + "[" * 100000 + "]" * 100000 + "}", "nests too deeply for a config file"),
    ("model: " + "[" * 40 + "]" * 40, "nests more than 32 levels deep"),
    (b"\xff\xfe\x00binary" * 10, "not a text file (not UTF-8"),
])
def test_unreadable_config_files_are_one_line(tmp_path, capsys, text, words):
    path = tmp_path / ("run.json" if isinstance(text, str) and text.startswith("{") else "run.yaml")
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    out = tmp_path / "runs"
    assert run(["train", "--config", str(path), "--out", str(out)]) == EXIT_INPUT
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith(f"error: {path}: ") and words in line
    assert not out.exists()


def test_an_unexpected_exception_is_one_line_saying_it_is_a_bug(monkeypatch, capsys):
    import skiplab.cli.train as train_cli

    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(train_cli, "resolve_run_config", broken)
    assert run(TRAIN) == EXIT_BUG
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith("internal error (a bug in skiplab") and "ZeroDivisionError: division by zero" in line
    monkeypatch.setenv("SKIPLAB_TRACEBACK", "1")  # and the traceback is there when asked for
    with pytest.raises(ZeroDivisionError):
        run(TRAIN)


@pytest.mark.parametrize("where, words", [("file", "is a file, not a folder"),
                                          ("under-file", "f is a file, not a folder")])
def test_an_out_folder_that_cannot_be_made_is_refused_before_any_work(tmp_path, capsys, where, words):
    (tmp_path / "f").write_text("x")
    out = tmp_path / "f" if where == "file" else tmp_path / "f" / "runs"
    assert run([*TRAIN, "--out", str(out)]) == EXIT_INPUT
    assert words in one_error_line(capsys.readouterr().err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_a_read_only_out_folder_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    if os.geteuid() == 0:  # root writes anywhere: stand in for the permission bits with what os.access reports
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(ro) else real(p, mode))
    else:
        ro.chmod(0o555)
    try:
        assert run([*TRAIN, "--out", str(ro / "runs")]) == EXIT_INPUT
        assert f"cannot write in {ro} (no permission" in one_error_line(capsys.readouterr().err)
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


def _skiplab(args, cwd, **kwargs):
    return subprocess.run([sys.executable, "-m", "skiplab", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300, **kwargs)


@pytest.mark.parametrize("limit, file", [(300, "config.json"), (20_000, "checkpoint.safetensors")])
def test_a_full_disk_is_status_3_naming_the_file_and_leaves_no_folder(tmp_path, limit, file):
    """RLIMIT_FSIZE makes every write past `limit` bytes fail with EFBIG (Python ignores SIGXFSZ), as a full disk
    fails them with ENOSPC: config.json (~1.3 kB) fails at 300 bytes, the first checkpoint (~30 kB) at 20 kB."""
    done = _skiplab([*TRAIN, "--out", "runs"], tmp_path,
                    preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
    assert done.returncode == EXIT_SYSTEM, done.stderr
    line = one_error_line(done.stderr)
    assert line.startswith("error: ") and "File too large" in line and line.endswith(file), line
    assert list(tmp_path.iterdir()) == []  # nothing to resume, so nothing left: not even the runs/ it made


CTRL_C_IN_IMPORTS = """
import builtins, sys
real = builtins.__import__
def importing(name, *args, **kwargs):
    if name == "torch":  # Ctrl-C arriving while torch loads, the longest import
        raise KeyboardInterrupt
    return real(name, *args, **kwargs)
builtins.__import__ = importing
from skiplab.cli import main
sys.argv = ["skiplab", "list", "models"]
main()
"""


def test_ctrl_c_while_the_imports_load_is_one_line_with_status_130(tmp_path):
    done = subprocess.run([sys.executable, "-c", CTRL_C_IN_IMPORTS], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == EXIT_INTERRUPTED
    assert one_error_line(done.stderr).startswith("interrupted;")


def test_a_real_sigint_early_in_the_command_is_one_line_with_status_130(tmp_path):
    p = subprocess.Popen([sys.executable, "-m", "skiplab", "list", "models"], cwd=tmp_path, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)  # importing torch takes seconds: the signal lands in the imports
    if p.poll() is not None:
        pytest.skip("the command finished before the signal could be sent")
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == EXIT_INTERRUPTED, err
    assert one_error_line(err).startswith("interrupted;")
