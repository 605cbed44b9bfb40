"""`skiplab prune --run DIR --rounds N`: IMP rounds beside a finished run, reused on a second call; bad input is
one line and exit status 2, with nothing written."""

from typer.testing import CliRunner

from skiplab.cli import app
from skiplab.pruning import MASKS, density, load_masks
from skiplab.train import TrainConfig
from skiplab.train.experiment import DataConfig, ModelConfig, RunConfig, load_data, run_training

runner = CliRunner()


def test_prune_cli(tmp_path):
    cfg = RunConfig(model=ModelConfig("resnet8", {"widths": (4, 8, 8)}), data=DataConfig(name="digits"),
                    train=TrainConfig(epochs=1, batch_size=256, lr=0.05, eval_batch_size=500))
    run = run_training(cfg, tmp_path / "runs" / "dense", load_data(cfg.data), verbose=False).run_dir
    r = runner.invoke(app, ["prune", "--run", str(run), "--rounds", "2", "--fraction", "0.5"])
    assert r.exit_code == 0, r.output
    rounds = sorted(run.glob("prune-*/round-*"))
    assert [d.name for d in rounds] == ["round-01", "round-02"]
    assert [round(density(load_masks(d / MASKS)), 3) for d in rounds] == [0.5, 0.25]
    assert "25.0%" in r.output
    again = runner.invoke(app, ["prune", "--run", str(run), "--rounds", "2", "--fraction", "0.5"])
    assert again.exit_code == 0 and again.output.count("(reused)") == 2

    for args, message in ((["--rounds", "0"], "--rounds must be >= 1"),
                          (["--rounds", "1", "--fraction", "1.5"], "prune.fraction"),
                          (["--rounds", "1", "--scope", "sideways"], "global, layerwise"),
                          (["--rounds", "1", "--rewind-step", "5"], "did not save its weights at step 5")):
        bad = runner.invoke(app, ["prune", "--run", str(run), *args])
        assert bad.exit_code == 2, (args, bad.output)
        assert bad.output.strip().startswith("error:") and message in bad.output and "Traceback" not in bad.output
    assert len(list(run.glob("prune-*"))) == 1  # the refused calls wrote nothing
    missing = runner.invoke(app, ["prune", "--run", str(tmp_path / "nope"), "--rounds", "1"])
    assert missing.exit_code == 2 and "no such run folder" in missing.output


def test_train_saves_rewind_weights_for_prune(tmp_path):
    # `skiplab train --save-weights-at K` writes the weights IMP rewinds to; `prune --rewind-step K` then uses them
    args = ["train", "--model", "resnet8", "--data", "digits", "--epochs", "1", "--batch-size", "256",
            "--out", str(tmp_path / "runs"), "--set", "model.widths=[4,8,8]", "--save-weights-at", "3",
            "--save-weights-at", "0"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    (run,) = tmp_path.glob("runs/train/*/seed-0")
    assert sorted(p.name for p in run.glob("rewind-*")) == ["rewind-0.safetensors", "rewind-3.safetensors"]
    p = runner.invoke(app, ["prune", "--run", str(run), "--rounds", "1", "--fraction", "0.5", "--rewind-step", "3"])
    assert p.exit_code == 0, p.output
    bad = runner.invoke(app, args[:-2] + ["--save-weights-at", "-1", "--force"])
    assert bad.exit_code == 2 and bad.output.strip().startswith("error:") and ">= 0" in bad.output
