"""The training loop: learning, bit-identical resume, divergence handling, checkpoints, metrics files."""

import json

import pytest
import torch

from skiplab.data import load_dataset
from skiplab.errors import CheckpointError
from skiplab.models import create_model
from skiplab.train import Callback, TrainConfig, evaluate, fit
from skiplab.data.loader import DeviceLoader

CPU = dict(device="cpu", channels_last=False)


def mlp(data, **kw):
    torch.manual_seed(kw.pop("seed", 0))
    kw = {"depth": 3, "width": 32, **kw}
    return create_model("resmlp", num_classes=data.num_classes, in_channels=data.info.shape[0], **kw)


def test_learns_separable_blobs(blob_data):
    h = fit(mlp(blob_data), blob_data, TrainConfig(epochs=5, batch_size=32, lr=0.05, **CPU), verbose=False)
    assert h.status == "finished" and len(h.epochs) == 5
    assert h.final["test_err"] < 0.05
    assert h.epochs[0]["train_loss"] > h.final["train_loss"]


class Crash(Callback):
    """Simulates a killed process in the middle of epoch `epoch` (after that epoch's first step)."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_step_end(self, state):
        if state.epoch == self.epoch:
            raise KeyboardInterrupt


def params(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_resume_is_bit_identical_on_cpu(tmp_path, optimizer):
    data = load_dataset("digits")
    cfg = TrainConfig(epochs=3, batch_size=64, optimizer=optimizer, lr=0.05 if optimizer == "sgd" else 1e-3,
                      schedule="onecycle", **CPU)
    full = _resnet8(data, 0)
    fit(full, data, cfg, run_dir=tmp_path / "a", verbose=False)

    interrupted = _resnet8(data, 0)
    with pytest.raises(KeyboardInterrupt):
        fit(interrupted, data, cfg, run_dir=tmp_path / "b", callbacks=[Crash(epoch=1)], verbose=False)
    assert json.loads((tmp_path / "b" / "state.json").read_text())["epoch"] == 1
    resumed = _resnet8(data, 123)  # a different init: everything must come from the checkpoint
    fit(resumed, data, cfg, run_dir=tmp_path / "b", resume=True, verbose=False)

    a, b = params(full), params(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows = lambda d: [json.loads(line) for line in (tmp_path / d / "metrics.jsonl").read_text().splitlines()]
    assert [r["train_loss"] for r in rows("a")] == [r["train_loss"] for r in rows("b")]
    assert json.loads((tmp_path / "b" / "result.json").read_text())["status"] == "finished"


def _resnet8(data, seed):
    torch.manual_seed(seed)
    return create_model("resnet8", **data.model_kwargs())


class Poison(Callback):
    """Sets a weight to NaN after step `at`, so the loss of step `at` + 1 is the first non-finite one."""

    def __init__(self, at):
        self.at = at

    def on_step_end(self, state):
        if state.step == self.at:
            with torch.no_grad():
                next(state.model.parameters()).fill_(float("nan"))


def test_divergence_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path, blob_data):
    cfg = TrainConfig(epochs=4, batch_size=32, lr=0.05, **CPU)  # 8 steps per epoch
    model = mlp(blob_data)
    h = fit(model, blob_data, cfg, run_dir=tmp_path, callbacks=[Poison(at=11)], verbose=False)
    assert h.status == "diverged" and h.diverged_step == 11  # steps are counted from 0
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status"] == "diverged" and result["diverged_step"] == 11
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["epoch"] == 1  # epoch 2 never completed: its checkpoint was not written
    from safetensors.torch import load_file
    assert all(torch.isfinite(t).all() for k, t in load_file(tmp_path / "checkpoint.safetensors").items()
               if t.is_floating_point())
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 1


def test_checkpoint_from_another_architecture_is_refused(tmp_path, blob_data):
    cfg = TrainConfig(epochs=1, batch_size=32, **CPU)
    fit(mlp(blob_data), blob_data, cfg, run_dir=tmp_path, verbose=False)
    with pytest.raises(CheckpointError, match="made by model"):
        fit(mlp(blob_data, width=16), blob_data, TrainConfig(epochs=2, batch_size=32, **CPU),
            run_dir=tmp_path, resume=True, verbose=False)


def test_corrupt_checkpoint_is_refused(tmp_path, blob_data):
    cfg = TrainConfig(epochs=1, batch_size=32, **CPU)
    fit(mlp(blob_data), blob_data, cfg, run_dir=tmp_path, verbose=False)
    ckpt = tmp_path / "checkpoint.safetensors"
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="corrupt"):
        fit(mlp(blob_data), blob_data, TrainConfig(epochs=2, batch_size=32, **CPU), run_dir=tmp_path,
            resume=True, verbose=False)


class Constant(torch.nn.Module):
    def __init__(self, logits):
        super().__init__()
        self.logits = torch.tensor(logits)

    def forward(self, x):
        return self.logits.expand(x.shape[0], -1)


def test_evaluate_known_answer():
    y = torch.tensor([0, 0, 1, 2])
    loader = DeviceLoader(torch.zeros(4, 1), y, 3, shuffle=False, drop_last=False)
    out = evaluate(Constant([0.0, 0.0, 0.0]), loader)
    assert out["loss"] == pytest.approx(torch.log(torch.tensor(3.0)).item())
    assert out["err"] == pytest.approx(0.5)  # argmax picks class 0: two of four are right


def test_bf16_and_label_smoothing_train(blob_data):
    cfg = TrainConfig(epochs=3, batch_size=32, lr=0.05, precision="bf16", label_smoothing=0.1, **CPU)
    h = fit(mlp(blob_data), blob_data, cfg, verbose=False)
    assert h.final["test_err"] < 0.1
    # with smoothing 0.1 over 3 classes the loss cannot fall below the smoothed target's entropy
    floor = -(0.1 / 3 * 2 * torch.log(torch.tensor(0.1 / 3)) + (1 - 0.2 / 3) * torch.log(torch.tensor(1 - 0.2 / 3)))
    assert h.final["train_loss"] > floor.item() - 1e-3


def test_callback_can_stop_and_full_train_error_is_measured(blob_data):
    class StopAfterOne(Callback):
        def on_epoch_end(self, state, metrics):
            state.stop = True
    cfg = TrainConfig(epochs=5, batch_size=32, eval_train=True, **CPU)
    h = fit(mlp(blob_data), blob_data, cfg, callbacks=[StopAfterOne()], verbose=False)
    assert h.status == "stopped" and len(h.epochs) == 1
    assert 0 <= h.final["train_full_err"] <= 1 and "test_err" in h.final


def test_max_steps_stops_early(blob_data):
    h = fit(mlp(blob_data), blob_data, TrainConfig(epochs=5, batch_size=32, max_steps=3, **CPU), verbose=False)
    assert h.status == "stopped" and h.final["step"] == 3 and len(h.epochs) == 1


def test_capped_evaluation_spreads_over_a_class_sorted_split(blob_data):
    from skiplab.data.dataset import spread
    assert spread(1000, 10).tolist() == [0, 111, 222, 333, 444, 555, 666, 777, 888, 999]
    assert spread(5, 10) == slice(None) and spread(5, None) == slice(None)
