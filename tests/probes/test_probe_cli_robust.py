"""`skiplab probe attack|lipschitz --run DIR`: a table, JSON on request, one error line on bad input."""

import json

import pytest
import torch
from typer.testing import CliRunner

from skiplab.cli import app
from skiplab.train import TrainConfig
from skiplab.train.experiment import DataConfig, ModelConfig, RunConfig, load_data, run_training

runner = CliRunner()


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    torch.set_num_threads(1)
    cfg = RunConfig(model=ModelConfig("resnet8", {"widths": (4, 4, 4)}), data=DataConfig(name="digits"),
                    train=TrainConfig(epochs=1, lr=0.05, device="cpu", max_steps=3, max_eval_examples=64))
    return run_training(cfg, tmp_path_factory.mktemp("run"), load_data(cfg.data), verbose=False).run_dir


def test_attack_table_and_json(run_dir, tmp_path):
    out = tmp_path / "a.json"
    r = runner.invoke(app, ["probe", "attack", "--run", str(run_dir), "-n", "32", "--steps", "2", "--norm", "l2",
                            "--eps", "0.5", "--eps", "0.1", "--calibrate", "64", "--json", str(out)])
    assert r.exit_code == 0, r.output
    saved = json.loads(out.read_text())
    assert saved["eps"] == [0.0, 0.1, 0.5] and saved["norm"] == "l2" and saved["examples"] == 32
    acc = saved["accuracy"]
    assert acc[0] == saved["clean"] and acc[0] >= acc[1] >= acc[2]
    assert "worst of all" in r.output and "calibrated" in r.output


def test_lipschitz_table_and_json(run_dir, tmp_path):
    out = tmp_path / "l.json"
    r = runner.invoke(app, ["probe", "lipschitz", "--run", str(run_dir), "-n", "32", "--calibrate", "64",
                            "--json", str(out)])
    assert r.exit_code == 0, r.output
    saved = json.loads(out.read_text())
    assert len(saved["blocks"]) == 3 and saved["lower_bound"] <= saved["total"]
    assert all(b["block"] >= 1 for b in saved["blocks"]) and "Lip(logits) <=" in r.output


def test_bad_input_is_one_line(run_dir, tmp_path):
    for args, msg in ((["attack", "--run", str(run_dir), "--norm", "l3"], "--norm"),
                      (["attack", "--run", str(run_dir), "--eps", "-1"], "--eps"),
                      (["lipschitz", "--run", str(tmp_path / "nope")], "no such run folder")):
        r = runner.invoke(app, ["probe", *args, "--json", str(tmp_path / "x.json")])
        assert r.exit_code == 2 and r.output.strip().startswith("error:") and msg in r.output, r.output
        assert len(r.output.strip().splitlines()) == 1 and not (tmp_path / "x.json").exists()
