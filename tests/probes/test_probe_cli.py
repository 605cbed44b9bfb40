"""`skiplab probe gradients|jacobian --run DIR`: one table row per layer, JSON on request, one error line."""

import json

import pytest
from typer.testing import CliRunner

from skiplab.cli import app
from skiplab.train import TrainConfig
from skiplab.train.experiment import DataConfig, ModelConfig, RunConfig, load_data, run_training

runner = CliRunner()
BLOCKS = ["stages.0.blocks.0", "stages.0.blocks.1"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    cfg = RunConfig(model=ModelConfig("resmlp", {"depth": 2}), data=DataConfig(name="digits"),
                    train=TrainConfig(epochs=1, lr=0.05, device="cpu"))
    return run_training(cfg, tmp_path_factory.mktemp("run"), load_data(cfg.data), verbose=False).run_dir


def rows(output, name):
    return [line for line in output.splitlines() if line.split() and line.split()[0] == name]


def test_gradients_prints_a_row_per_layer_and_writes_json(run_dir, tmp_path):
    out = tmp_path / "g.json"
    r = runner.invoke(app, ["probe", "gradients", "--run", str(run_dir), "--examples", "64", "--json", str(out)])
    assert r.exit_code == 0, r.output
    assert "train (batch statistics)" in r.output and "64 examples" in r.output
    for name in ["stem"] + BLOCKS:
        assert len(rows(r.output, name)) == 1, r.output
    saved = json.loads(out.read_text())
    assert saved["names"] == ["stem"] + BLOCKS and saved["examples"] == 64 and len(saved["signal"]) == 3
    again = runner.invoke(app, ["probe", "gradients", "--run", str(run_dir), "--examples", "64"])
    assert rows(again.output, "stem") == rows(r.output, "stem")  # a fixed, seeded batch


def test_jacobian_prints_a_row_per_block_and_writes_json(run_dir, tmp_path):
    out = tmp_path / "j.json"
    r = runner.invoke(app, ["probe", "jacobian", "--run", str(run_dir), "--json", str(out)])
    assert r.exit_code == 0, r.output
    assert "eval" in r.output and "end-to-end" in r.output
    for name in BLOCKS:
        (row,) = rows(r.output, name)
        assert row.split()[1:3] == ["additive", "64"]
    saved = json.loads(out.read_text())
    block = saved["blocks"]["stages.0.blocks.0"]
    assert block["method"] == "exact" and len(block["eigenvalues"]) == 64
    assert len(saved["end_to_end"]["singular_values"]) == 64
    r = runner.invoke(app, ["probe", "jacobian", "--run", str(run_dir), "--method", "arnoldi", "--k", "4"])
    assert r.exit_code == 0 and "arnoldi" in r.output and all(len(rows(r.output, n)) == 1 for n in BLOCKS)


@pytest.mark.parametrize("args, message", [
    (["gradients", "--run", "/nonexistent"], "/nonexistent"),
    (["jacobian", "--run", "/nonexistent"], "/nonexistent"),
    (["jacobian", "--run", "/nonexistent", "--method", "qr"], "--method"),
])
def test_bad_input_is_one_error_line_and_exit_2(args, message):
    r = runner.invoke(app, ["probe", *args])
    assert r.exit_code == 2, r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], r.output
