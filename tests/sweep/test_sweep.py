"""Sweeps: the grid's syntax, the summary's known answers (mean, std, t-interval), the runs being ordinary
`skiplab train` runs (reused both ways), the files written, and bad input refused before anything trains."""

import csv
import json
import math

import pytest
from PIL import Image
from typer.testing import CliRunner

from skiplab.cli import app
from skiplab.errors import ConfigError
from skiplab.sweep import Axis, parse_axis, points, sweep
from skiplab.sweep.table import summarize

runner = CliRunner()
FIXED = ["train.max_steps=2", "train.max_eval_examples=100", "train.batch_size=64", "train.epochs=1"]


def test_grid_syntax():
    assert parse_axis("model.depth=8,14,20") == Axis("model.depth", (8, 14, 20))
    assert parse_axis("train.lr=1e-3,0.1,1e6").values == (0.001, 0.1, 1e6)  # numbers as a user writes them
    assert parse_axis("model.widths=[8,16],[16,32]").values == ([8, 16], [16, 32])  # commas inside lists stay
    assert parse_axis("model.name=resnet8,plain8").values == ("resnet8", "plain8")
    assert points([Axis("a", (1, 2)), Axis("b", ("x", "y"))]) == [
        {"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 2, "b": "x"}, {"a": 2, "b": "y"}]  # the first axis slowest
    for bad, message in [("model.depth", "expected KEY=V1,V2"), ("=1,2", "expected KEY=V1,V2"),
                         ("a=1,,2", "an empty value"), ("seed=1,2", "not a grid axis"),
                         ("a=1,1", "listed twice")]:
        with pytest.raises(ConfigError, match=message):
            parse_axis(bad)


def test_summary_known_answer():
    # values 0.1, 0.2, 0.3: mean 0.2, sample std 0.1, 95% half-width t(0.975, 2) * 0.1 / sqrt(3) = 0.248414
    rows = [{"a": 1, "seed": s, "status": "finished", "test_err": v} for s, v in enumerate((0.1, 0.2, 0.3))]
    rows.append({"a": 2, "seed": 0, "status": "diverged", "test_err": None})
    one, two = summarize(rows, [Axis("a", (1, 2))], "test_err")
    assert one["mean"] == pytest.approx(0.2) and one["std"] == pytest.approx(0.1)
    assert one["ci_high"] - one["mean"] == pytest.approx(4.302653 * 0.1 / math.sqrt(3), rel=1e-6)
    assert one["per_seed"] == [0.1, 0.2, 0.3] and one["finished"] == 3
    assert two["mean"] is None and two["diverged"] == 1 and two["with_metric"] == 0


def test_sweep_trains_each_point_over_seeds_as_ordinary_runs(tmp_path):
    said = []
    r = sweep({"model.depth": [8, 14]}, seeds=2, base={"model": "resnet8", "data": {"name": "digits"}},
              assignments=FIXED, runs=tmp_path / "runs", out=tmp_path / "sw", workers=1, say=said.append)
    assert [(row["model.depth"], row["seed"]) for row in r.rows] == [(8, 0), (8, 1), (14, 0), (14, 1)]
    for row in r.rows:  # each run's folder and numbers are those of the run `skiplab train` names
        result = json.loads((tmp_path / "runs" / "train" / row["folder"].split("/train/")[1] /
                             "result.json").read_text())
        assert row["test_err"] == result["final"]["test_err"] and row["status"] == "stopped"
        cfg = json.loads((tmp_path / "runs" / "train" / row["folder"].split("/train/")[1] /
                          "config.json").read_text())
        assert cfg["resolved"]["model"]["depth"] == row["model.depth"] and cfg["run"]["seed"] == row["seed"]
    s8 = r.summary[0]
    assert s8["per_seed"] == [r.rows[0]["test_err"], r.rows[1]["test_err"]]
    assert s8["mean"] == pytest.approx(sum(s8["per_seed"]) / 2)
    with open(r.paths["summary.csv"]) as f:
        table = list(csv.DictReader(f))
    assert [t["model.depth"] for t in table] == ["8", "14"] and float(table[0]["mean"]) == pytest.approx(s8["mean"])
    with open(r.paths["runs.csv"]) as f:
        assert len(list(csv.DictReader(f))) == 4
    assert json.loads(r.paths["sweep.json"].read_text())["axes"] == [["model.depth", [8, 14]]]
    with Image.open(r.paths["sweep.png"]) as im:
        im.verify()
    # `skiplab train` of one grid point finds that run finished
    one = runner.invoke(app, ["train", "--model", "resnet8", "--data", "digits", "--out", str(tmp_path / "runs"),
                              "--seed", "1", "--set", "model.depth=14", *sum((["--set", a] for a in FIXED), [])])
    assert one.exit_code == 0 and "already finished" in one.output, one.output
    again = sweep({"model.depth": [8, 14]}, seeds=2, base={"model": "resnet8", "data": {"name": "digits"}},
                  assignments=FIXED, runs=tmp_path / "runs", out=tmp_path / "sw", workers=1, say=lambda s: None)
    assert all(row["reused"] for row in again.rows)


def test_cli_sweep_prints_the_table_and_refuses_bad_input_in_one_line(tmp_path):
    args = ["sweep", "--grid", "train.lr=0.05,0.1", "--model", "resnet8", "--data", "digits", "--seeds", "2",
            "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "sw"), "--workers", "1",
            *sum((["--set", a] for a in FIXED), [])]
    ok = runner.invoke(app, args)
    assert ok.exit_code == 0, ok.output
    assert "train.lr" in ok.output and "95% interval" in ok.output and str(tmp_path / "sw" / "sweep.png") in ok.output
    for extra, message in [(["--grid", "model.depth=x"], "model.depth=x: model resnet8.depth: expected an integer"),
                           (["--set", "train.lr=0.1"], "both a grid axis and a fixed setting"),
                           (["--metric", "accuracy"], "metric 'accuracy'"),
                           (["--address", "localhost:1"], "--address applies to --executor ray only")]:
        bad = runner.invoke(app, [*args[:-2 * len(FIXED)], *extra, *sum((["--set", a] for a in FIXED), []),
                                  "--out", str(tmp_path / "bad")])
        assert bad.exit_code == 2, (extra, bad.output)
        assert message in bad.output and len(bad.output.strip().splitlines()) == 1 and "Traceback" not in bad.output
        assert not (tmp_path / "bad").exists()
