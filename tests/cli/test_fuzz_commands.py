"""Bad input to the commands around training (tddft, probe, report, reproduce, sweep, bench, prune, list), run as
a user runs them, in a scratch workspace: through `skiplab.cli.run`, what `python -m skiplab` runs (in this process:
a subprocess per row would spend 2 s a row importing torch; test_exit_statuses.py runs real processes). Every row
must end with its exit status, exactly one line on stderr that starts with `error: ` and holds the row's words,
nothing on stdout, no traceback, and the workspace exactly as it was (every path, size and modification time):
each command checks its input, its output paths included, before it computes or writes anything."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from skiplab.cli import run

RESULTS = Path(__file__).resolve().parents[2] / "results" / "quick" / "results.json"  # a valid results.json
TDDFT = ["tddft", "--system", "h", "--t-end", "0.1", "--dt", "0.05", "--no-exact"]
SWEEP = ["sweep", "--grid", "model.depth=2", "--model", "resmlp", "--data", "digits", "--set", "train.epochs=1",
         "--set", "train.max_steps=1", "--out", "sw", "--runs", "swr"]
BENCH = ["bench", "--device", "cpu", "--models", "resnet8", "--steps", "1", "--repeats", "1", "--warmup", "1",
         "--batch", "2", "--settings", "eager-fp32"]
REPRODUCE = ["reproduce", "degradation", "--out", "rep"]


def skiplab(cwd, *args):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    env.pop("SKIPLAB_TRACEBACK", None)  # the one-line policy is what is tested
    return subprocess.run([sys.executable, "-m", "skiplab", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def snapshot(root):
    """Every path under `root` with its size and modification time: a write anywhere changes it."""
    return sorted((str(p.relative_to(root)), p.lstat().st_size, p.lstat().st_mtime_ns) for p in root.rglob("*"))


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """The workspace every row runs in: a trained run (two steps of a small resmlp on digits), a file and an
    empty folder to give where the other is expected, and report folders holding bad results.json files."""
    root = tmp_path_factory.mktemp("fuzz")
    r = skiplab(root, "train", "--model", "resmlp", "--data", "digits", "--epochs", "1", "--set", "model.depth=2",
                "--set", "train.max_steps=2", "--out", "runs")
    assert r.returncode == 0, r.stderr
    (run,) = (root / "runs" / "train").glob("*/seed-0")
    (root / "run").symlink_to(run.relative_to(root))  # a short name for the rows
    (root / "afile").write_text("a file, not a folder\n")
    (root / "adir").mkdir()
    bad = {"deep": "[" * 100_000 + "]" * 100_000,  # the parser's recursion would exhaust the stack
           "deep500": '{"a": ' * 500 + "1" + "}" * 500,  # parses, but deeper than any results.json
           "binary": b"\xff\xfe\x00\x01results",
           "notjson": "{ claims: ["}
    for name, body in bad.items():
        (root / f"r-{name}").mkdir()
        target = root / f"r-{name}" / "results.json"
        target.write_bytes(body) if isinstance(body, bytes) else target.write_text(body)
    for name in ("figures-file", "html-dir"):  # a valid results.json, but a file or folder where the other goes
        (root / f"r-{name}").mkdir()
        shutil.copy(RESULTS, root / f"r-{name}" / "results.json")
    (root / "r-figures-file" / "figures").write_text("not a folder\n")
    (root / "r-html-dir" / "report.html").mkdir()
    return root


CASES = [
    # tddft: the grid, the electrons, the order, the laser and --out, all before the ground state is computed
    ("tddft box inf", [*TDDFT, "--out", "o", "--box", "inf"], "box half-width must be in (0, 1e+06] bohr, got inf"),
    ("tddft box nan", [*TDDFT, "--out", "o", "--box", "nan"], "box half-width must be in (0, 1e+06] bohr, got nan"),
    ("tddft box 0", [*TDDFT, "--out", "o", "--box", "0"], "box half-width must be in (0, 1e+06] bohr, got 0.0"),
    ("tddft box -5", [*TDDFT, "--out", "o", "--box", "-5"], "box half-width must be in (0, 1e+06] bohr, got -5.0"),
    ("tddft dx inf", [*TDDFT, "--out", "o", "--dx", "inf"], "dx must be > 0 and at most the box half-width 20 bohr"),
    ("tddft dx nan", [*TDDFT, "--out", "o", "--dx", "nan"], "dx must be > 0 and at most the box half-width 20 bohr"),
    ("tddft dx 0", [*TDDFT, "--out", "o", "--dx", "0"], "dx must be > 0 and at most the box half-width 20 bohr"),
    ("tddft dx -0.1", [*TDDFT, "--out", "o", "--dx", "-0.1"], "got -0.1"),
    ("tddft dx > box", [*TDDFT, "--out", "o", "--box", "5", "--dx", "10"], "at most the box half-width 5 bohr, got 10"),
    ("tddft 2e8 points", [*TDDFT, "--out", "o", "--box", "1e5", "--dx", "1e-3"], "more than 1,000,000 points"),
    ("tddft electrons 0", [*TDDFT, "--out", "o", "--electrons", "0"], "--electrons must be >= 1, got 0"),
    ("tddft electrons -2", [*TDDFT, "--out", "o", "--electrons", "-2"], "--electrons must be >= 1, got -2"),
    ("tddft order 3", [*TDDFT, "--out", "o", "--order", "3"], "order must be one of 2, 4, 6, 8, 10, 12, got 3"),
    ("tddft order 0", [*TDDFT, "--out", "o", "--order", "0"], "order must be one of 2, 4, 6, 8, 10, 12, got 0"),
    ("tddft laser omega inf", [*TDDFT, "--out", "o", "--laser", "0.01,inf,10"], "omega and duration must be finite"),
    ("tddft exact-dx nan", [*TDDFT, "--out", "o", "--system", "he", "--exact", "--exact-dx", "nan"],
     "--exact-dx must be a finite number > 0, got nan"),
    ("tddft out a file", [*TDDFT, "--out", "afile"], "--out afile: is a file, not a folder"),
    ("tddft out under a file", [*TDDFT, "--out", "afile/o"], "--out afile/o: afile is a file, not a folder"),
    # probe: --json checked before the run is loaded and the probe computed
    ("probe json a folder", ["probe", "gradients", "--run", "run", "--json", "adir"], "--json adir: is a folder"),
    ("probe json under a file", ["probe", "readout", "--run", "run", "--json", "afile/p.json"],
     "--json afile/p.json: afile is a file, not a folder"),
    ("probe attack json a folder", ["probe", "attack", "--run", "run", "--json", "adir"], "--json adir: is a folder"),
    ("probe seed 1e20", ["probe", "gradients", "--run", "run", "--seed", "99999999999999999999"],
     "--seed must be a whole number in [0, 9223372036854775807]"),
    ("probe attack eps nan", ["probe", "attack", "--run", "run", "--eps", "nan"], "--eps must be a finite number"),
    ("probe attack eps inf", ["probe", "attack", "--run", "run", "--eps", "inf"], "--eps must be a finite number"),
    # report: a results.json that is no results file, and a folder that cannot take the report
    ("report 100k deep", ["report", "r-deep"], "r-deep/results.json: nests deeper than 100 levels"),
    ("report 500 deep", ["report", "r-deep500"], "r-deep500/results.json: nests deeper than 100 levels"),
    ("report not UTF-8", ["report", "r-binary"], "r-binary/results.json: not UTF-8 text"),
    ("report not JSON", ["report", "r-notjson"], "r-notjson/results.json: not valid JSON"),
    ("report figures a file", ["report", "r-figures-file"], "r-figures-file/figures is a file where a folder is"),
    ("report report.html a folder", ["report", "r-html-dir"], "r-html-dir/report.html is a folder where a file is"),
    # reproduce (a real call, not --plan: nothing may be trained or written)
    ("reproduce steps -1", [*REPRODUCE, "--steps", "-1"], "max_steps (--steps) must be a whole number >= 1, got -1"),
    ("reproduce steps 0", [*REPRODUCE, "--steps", "0"], "max_steps (--steps) must be a whole number >= 1, got 0"),
    ("reproduce seeds 0", [*REPRODUCE, "--seeds", "0"], "seeds must be a whole number >= 1, got 0"),
    ("reproduce seeds 1e9", [*REPRODUCE, "--seeds", "1000000000"], "--seeds must be at most 10,000"),
    ("reproduce workers 0", [*REPRODUCE, "--workers", "0"], "workers must be a whole number >= 1, got 0"),
    ("reproduce out a file", ["reproduce", "degradation", "--out", "afile", "--steps", "1"],
     "--out afile: is a file, not a folder"),
    ("reproduce plan out a file", ["reproduce", "--plan", "--no-timing", "--out", "afile"],
     "--out afile: is a file, not a folder"),
    ("reproduce plan retries", ["reproduce", "--plan", "--no-timing", "--out", "rep", "--retries", "-1"],
     "--retries applies to --executor ray only"),
    # sweep
    ("sweep seeds 0", [*SWEEP, "--seeds", "0"], "seeds must be a whole number >= 1, got 0"),
    ("sweep seeds 1e9", [*SWEEP, "--seeds", "1000000000"], "--seeds must be at most 10,000"),
    ("sweep workers 0", [*SWEEP, "--workers", "0"], "--workers must be a whole number >= 1, got 0"),
    ("sweep out a file", [*SWEEP, "--seeds", "1", "--out", "afile"], "--out afile: is a file, not a folder"),
    ("sweep runs a file", [*SWEEP, "--seeds", "1", "--runs", "afile"], "--runs afile: is a file, not a folder"),
    ("sweep set seed", [*SWEEP, "--set", "seed=3"], "--set seed=3: a sweep's seeds are 0..N-1, given by --seeds N"),
    # bench: its JSON is written after minutes of measuring
    ("bench out a folder", [*BENCH, "--out", "adir"], "--out adir: is a folder"),
    ("bench eager-batch 0", [*BENCH, "--eager-batch", "0"], "--eager-batch must be >= 1, got 0"),
    # prune: rounds past the last weight, an --exclude that names nothing
    ("prune rounds 1e8", ["prune", "--run", "run", "--rounds", "100000000"], "would prune no weight"),
    ("prune exclude typo", ["prune", "--run", "run", "--rounds", "1", "--exclude", "haed"],
     "--exclude haed: no conv or linear layer is named so or lies under it; the layers lie under stem, stages, head"),
    ("list options empty model", ["list", "options", "--model", ""], "--model: give a model name"),
]


@pytest.mark.parametrize("args,words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_command_refuses_in_one_line_and_writes_nothing(ws, args, words, monkeypatch, capsys):
    before = snapshot(ws)
    monkeypatch.chdir(ws)
    monkeypatch.delenv("SKIPLAB_TRACEBACK", raising=False)  # the one-line policy is what is tested
    code = run(list(args))
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], err
    assert "Traceback" not in err + out and out == "", out
    assert snapshot(ws) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in a read-only folder: nothing to refuse")
def test_report_in_a_read_only_folder_is_one_line(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    shutil.copy(RESULTS, folder / "results.json")
    folder.chmod(0o555)
    try:
        before = snapshot(tmp_path)
        r = skiplab(tmp_path, "report", "ro")
        assert r.returncode == 2 and r.stderr.splitlines() == ["error: report ro: cannot write in ro (no permission, "
                                                                "or a read-only file system)"], r.stderr
        assert snapshot(tmp_path) == before
    finally:
        folder.chmod(0o755)


def test_probe_json_under_missing_folders_creates_them(ws, tmp_path):
    """A --json whose folders do not exist yet is written, creating them, as every skiplab output is."""
    target = tmp_path / "new" / "deeper" / "g.json"
    r = skiplab(ws, "probe", "gradients", "--run", "run", "-n", "16", "--json", str(target))
    assert r.returncode == 0, r.stderr
    saved = json.loads(target.read_text())
    # the stem and the two blocks of a depth-2 resmlp, each with a finite positive signal
    assert saved["probe"] == "gradients" and saved["examples"] == 16 and len(saved["names"]) == 3
    assert all(g > 0 for g in saved["signal"])
