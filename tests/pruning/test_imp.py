"""IMP with real runs on digits (tiny recipe): sparsity is exact after training and after resume, a resumed round
ends bit-identical to an uninterrupted one, a masked run starts from the weights it is given, rewinding restores
the saved weights bit-exactly, rounds compound."""

import pytest
import torch

from skiplab.errors import CheckpointError
from skiplab.pruning import (MASKS, PruneConfig, density, effective_zeros, imp, load_masks, load_pruned,
                             magnitude_masks, rewind_file, rewound_weights, train_dense, train_masked)
from skiplab.train import Callback, TrainConfig
from skiplab.train.checkpoint import CKPT, read_weights
from skiplab.train.experiment import DataConfig, ModelConfig, RunConfig, build_model, load_data
from skiplab.train.load import load_run

CFG = RunConfig(model=ModelConfig("resnet8", {"widths": (4, 8, 8)}), data=DataConfig(name="digits"),
                train=TrainConfig(epochs=2, batch_size=256, lr=0.05, eval_batch_size=500), seed=0)


@pytest.fixture(scope="module")
def data():
    torch.set_num_threads(1)
    return load_data(CFG.data)


class Capture(Callback):
    """Copies the state dict after `step` steps."""

    def __init__(self, step):
        self.step, self.saved = step, None

    def on_step_end(self, state):
        if state.step == self.step:
            self.saved = {k: v.detach().clone() for k, v in state.model.state_dict().items()}


class AtStart(Callback):
    def on_fit_start(self, state):
        self.saved = {k: v.detach().clone() for k, v in state.model.state_dict().items()}


class Interrupt(Callback):
    def on_epoch_end(self, state, metrics):
        raise KeyboardInterrupt  # after the epoch's checkpoint is written, as Ctrl-C would leave it


def test_rewinding_restores_the_saved_weights_bit_exactly(tmp_path, data):
    cap = Capture(3)
    train_dense(CFG, tmp_path / "dense", data, rewind_step=3, callbacks=[cap])
    saved = read_weights(tmp_path / "dense" / rewind_file(3))
    assert saved.keys() == cap.saved.keys() and all(torch.equal(saved[k], cap.saved[k]) for k in saved)
    model = build_model(CFG, data)
    model.load_state_dict(rewound_weights(tmp_path / "dense", 3, CFG, data))
    assert all(torch.equal(v, cap.saved[k]) for k, v in model.state_dict().items())
    # step 0 without a saved file: the init rebuilt from the seed, equal to what the run started from
    init = rewound_weights(tmp_path / "nowhere", 0, CFG, data)
    assert all(torch.equal(v, init[k]) for k, v in build_model(CFG, data).state_dict().items())
    with pytest.raises(CheckpointError, match="did not save its weights at step 5"):
        rewound_weights(tmp_path / "dense", 5, CFG, data)


def test_masked_run_keeps_sparsity_and_resumes_bit_identically(tmp_path, data):
    masks = magnitude_masks(build_model(CFG, data), 0.5, exclude=("head",))
    zeros = {k: int((~m).sum()) for k, m in masks.items()}
    start = AtStart()
    weights = {k: v + 1.0 if v.is_floating_point() else v for k, v in build_model(CFG, data).state_dict().items()}
    train_masked(CFG, tmp_path / "a", data, masks, weights, callbacks=[start])
    for k, v in weights.items():  # training started from the given weights, with the masks applied
        got = start.saved[k.replace(".weight", ".weight_orig")] if k[:-len(".weight")] in masks else start.saved[k]
        assert torch.equal(got, v)
    assert all(torch.equal(start.saved[f"{k}.weight_mask"] != 0, m) for k, m in masks.items())
    with pytest.raises(KeyboardInterrupt):
        train_masked(CFG, tmp_path / "b", data, masks, weights, callbacks=[Interrupt()])
    assert not (tmp_path / "b" / "result.json").exists()
    out = train_masked(CFG, tmp_path / "b", data, masks, weights)  # resumes from epoch 1's checkpoint
    assert out.result["status"] == "finished" and out.result["epochs"] == 2
    a, b = read_weights(tmp_path / "a" / CKPT), read_weights(tmp_path / "b" / CKPT)
    model_keys = [k for k in a if k.startswith("model.")]
    assert any(k.endswith("weight_mask") for k in model_keys)  # the masks are in the checkpoint
    assert all(torch.equal(a[k], b[k]) for k in model_keys)
    model, _, _ = load_pruned(tmp_path / "b", data)
    assert effective_zeros(model, ("head",)) == zeros
    dense_view, _, _ = load_run(tmp_path / "b", data)  # probes load a pruned run unpruned, the masks folded in
    assert effective_zeros(dense_view, ("head",)) == zeros and not hasattr(dense_view.stem[0], "weight_mask")
    x = torch.randn(4, 1, 8, 8)
    assert torch.equal(model.eval()(x), dense_view.eval()(x))
    back = load_masks(tmp_path / "b" / MASKS)
    assert all(torch.equal(back[k], masks[k]) for k in masks)


def test_imp_rounds_compound_and_are_reused(tmp_path, data):
    prune = PruneConfig(fraction=0.5, rewind_step=2)
    train_dense(CFG, tmp_path / "round-00", data, rewind_step=2)
    dirs = imp(CFG, tmp_path / "round-00", tmp_path, 2, prune, data)
    m1, m2 = (load_masks(d / MASKS) for d in dirs)
    assert density(m1) == pytest.approx(0.5, abs=1e-3) and density(m2) == pytest.approx(0.25, abs=1e-3)
    assert all(not (m2[k] & ~m1[k]).any() for k in m1)
    assert "head.2" not in m1  # the classifier stays dense
    assert dirs == imp(CFG, tmp_path / "round-00", tmp_path, 2, prune, data)  # finished rounds are reused
