"""`skiplab probe alignment|readout --run DIR`: a table row per block, JSON on request, one error line."""

import json

import pytest
from typer.testing import CliRunner

from skiplab.cli import app

from .test_probe_cli import BLOCKS, rows, run_dir  # noqa: F401 (run_dir is a fixture)

runner = CliRunner()


def test_alignment_prints_a_row_per_block_and_writes_json(run_dir, tmp_path):  # noqa: F811
    out = tmp_path / "a.json"
    r = runner.invoke(app, ["probe", "alignment", "--run", str(run_dir), "-n", "64", "--json", str(out)])
    assert r.exit_code == 0, r.output
    assert "held-out" in r.output and "eval" in r.output
    for name in BLOCKS:
        assert len(rows(r.output, name)) == 1, r.output
    saved = json.loads(out.read_text())
    assert saved["names"] == BLOCKS and len(saved["cos"]) == len(saved["null"]) == 2
    assert all(-1 <= c <= 1 for c in saved["cos"] + saved["null"])


def test_readout_prints_a_row_per_partial_sum_and_writes_json(run_dir, tmp_path):  # noqa: F811
    out = tmp_path / "r.json"
    r = runner.invoke(app, ["probe", "readout", "--run", str(run_dir), "-n", "64", "--calibrate", "128",
                            "--json", str(out)])
    assert r.exit_code == 0, r.output
    for name in ["stem"] + BLOCKS:
        assert len(rows(r.output, name)) == 1, r.output
    saved = json.loads(out.read_text())
    assert saved["head"]["names"] == ["stem"] + BLOCKS and all(saved["head"]["available"])
    assert len(saved["linear"]["error"]) == 3


@pytest.mark.parametrize("args, message", [
    (["alignment", "--run", "/nonexistent"], "/nonexistent"),
    (["readout", "--run", "/nonexistent"], "/nonexistent"),
])
def test_bad_input_is_one_error_line_and_exit_2(args, message):
    r = runner.invoke(app, ["probe", *args])
    assert r.exit_code == 2, r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], r.output
