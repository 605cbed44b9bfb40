"""The divergence rule (PROTOCOL 3): a step diverges when its loss is not finite or exceeds BLOWUP x ln C, the loss of
a uniform guess. A net whose loss explodes to a finite 1e12 stops as `diverged` at that step, as a NaN one does, and
`skiplab train` says so with exit status 4 and true words about what it kept."""

import json
import math

import pytest
import torch

from skiplab.cli import run
from skiplab.cli.train import _kept
from skiplab.errors import EXIT_DIVERGED
from skiplab.models import create_model
from skiplab.train import Callback, TrainConfig, fit
from skiplab.train.step import BLOWUP, diverged

CPU = dict(device="cpu", channels_last=False)


def test_the_bar_is_blowup_times_a_uniform_guess():
    bar = BLOWUP * math.log(10)  # 2302.6 for 10 classes
    losses = torch.tensor([0.0, 2.3, 150.0, bar * (1 - 1e-6), bar * (1 + 1e-6), 7e14, math.inf, math.nan])
    assert diverged(losses, 10).tolist() == [False, False, False, False, True, True, True, True]
    assert diverged(torch.tensor([BLOWUP * math.log(2) * 1.001]), 2).item()  # two classes: bar 693
    assert not diverged(torch.tensor([BLOWUP * math.log(100) * 0.999]), 100).item()


class Explode(Callback):
    """Scales every weight by 1e6 after step `at`: the logits, and so the loss, become huge but stay finite."""

    def __init__(self, at):
        self.at = at

    def on_step_end(self, state):
        if state.step == self.at:
            with torch.no_grad():
                for p in state.model.parameters():
                    p.mul_(1e6)


def test_a_finite_blow_up_stops_the_run_as_diverged_and_keeps_the_last_good_epoch(tmp_path, blob_data):
    torch.manual_seed(0)
    model = create_model("resmlp", num_classes=blob_data.num_classes, in_channels=blob_data.info.shape[0], depth=2,
                         width=16)
    cfg = TrainConfig(epochs=4, batch_size=32, lr=0.05, **CPU)  # 8 steps per epoch
    h = fit(model, blob_data, cfg, run_dir=tmp_path, callbacks=[Explode(at=11)], verbose=False)
    assert h.status == "diverged" and h.diverged_step == 11  # the step after the explosion; steps count from 0
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status"] == "diverged" and result["diverged_step"] == 11
    assert json.loads((tmp_path / "state.json").read_text())["epoch"] == 1  # epoch 2 was never checkpointed
    assert _kept(tmp_path) == "kept: the checkpoint of epoch 1, its last good one, and result.json"


def test_a_net_that_learns_is_not_called_diverged(tmp_path, blob_data):
    torch.manual_seed(0)
    model = create_model("resmlp", num_classes=blob_data.num_classes, in_channels=blob_data.info.shape[0], depth=2,
                         width=16)
    h = fit(model, blob_data, TrainConfig(epochs=2, batch_size=32, lr=0.05, **CPU), verbose=False)
    assert h.status == "finished" and h.final["train_err"] < 0.5


def test_train_exits_4_and_says_no_checkpoint_was_written(tmp_path, capsys):
    out = tmp_path / "runs"
    code = run(["train", "-m", "resmlp", "--data", "digits", "--epochs", "2", "--lr", "1e4", "--set",
                "model.depth=2", "--set", "train.device=cpu", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == EXIT_DIVERGED == 4
    assert "[resmlp] diverged at step " in err and "above 1000x a uniform guess's" in err
    assert "it diverged in its first epoch, so no checkpoint was written" in err
    (folder,) = (out / "train").glob("resmlp-digits-*/seed-0")
    assert json.loads((folder / "result.json").read_text())["status"] == "diverged"  # the run is data: kept
    assert not (folder / "state.json").exists()


@pytest.mark.parametrize("epoch, words", [(None, "so no checkpoint was written"), (0, "so no checkpoint was written"),
                                          (3, "kept: the checkpoint of epoch 3")])
def test_the_kept_words_follow_the_state(tmp_path, epoch, words):
    if epoch is not None:
        (tmp_path / "state.json").write_text(json.dumps({"epoch": epoch}))
    assert words in _kept(tmp_path)
