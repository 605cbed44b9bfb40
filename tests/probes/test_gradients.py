"""gradient_signal and its training callback: hand-computed gradients of a linear net, the identity's unchanged
gradient, the scale invariance of g under batch norm, and a model left exactly as found."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from skiplab.data.dataset import Dataset, DatasetInfo
from skiplab.models import create_model
from skiplab.probes import GradientSignalCallback, gradient_signal
from skiplab.train import TrainConfig, fit


def linears(module):
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def batch(n=7, features=3, classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, features, generator=g, dtype=torch.float64), torch.randint(0, classes, (n,), generator=g)


def test_linear_net_matches_the_hand_computed_chain_rule():
    torch.manual_seed(0)
    mean, std, h = (0.1, -0.2, 0.3), (1.0, 2.0, 0.5), 0.5
    net = create_model("resmlp", depth=2, width=5, in_channels=3, num_classes=4, activation="identity",
                       norm="none", h=h, input_mean=mean, input_std=std).double()
    x, y = batch()
    r = gradient_signal(net, x, y)
    # Forward by hand: x0 = stem(normalize(x)), x_{l+1} = x_l + h (W2 (W1 x_l + b1) + b2), logits = head(x_L).
    acts, grads, logits = by_hand(net, x, y, h)
    assert r["names"] == ["stem", "stages.0.blocks.0", "stages.0.blocks.1"]
    assert r["loss"] == pytest.approx(float(F.cross_entropy(logits, y)), rel=1e-12)
    assert r["grad_norm"] == pytest.approx([float(g.norm()) for g in grads], rel=1e-10)
    assert r["act_norm"] == pytest.approx([float(a.norm()) for a in acts], rel=1e-10)
    assert r["signal"] == pytest.approx([float(g.norm() * a.norm()) for g, a in zip(grads, acts)], rel=1e-10)
    assert r["examples"] == 7


@torch.no_grad()
def by_hand(net, x, y, h):
    # (The model stores mean/std as float32 buffers: use those, not the decimal values, for a 1e-10 match.)
    (ws,) = linears(net.stem)
    acts = [((x - net.normalize.mean) / net.normalize.std) @ ws.weight.T + ws.bias]
    jacobians = []
    for _, block in net.blocks():
        w1, w2 = linears(block.branch)
        acts.append(acts[-1] + h * ((acts[-1] @ w1.weight.T + w1.bias) @ w2.weight.T + w2.bias))
        jacobians.append(torch.eye(5, dtype=torch.float64) + h * w2.weight @ w1.weight)
    (wh,) = linears(net.head)
    logits = acts[-1] @ wh.weight.T + wh.bias
    # Backward by hand: d mean-CE / d logits = (softmax - onehot) / N; dL/dx_l = dL/dx_{l+1} J_l (row vectors).
    grads = [(logits.softmax(1) - F.one_hot(y, 4)) / len(y) @ wh.weight]
    for jac in reversed(jacobians):
        grads.insert(0, grads[0] @ jac)
    return acts, grads, logits


def test_identity_blocks_pass_the_gradient_unchanged():
    torch.manual_seed(1)
    net = create_model("resmlp", depth=5, width=16, in_channels=3, num_classes=4, zero_init=True).double()
    r = gradient_signal(net, *batch())
    assert r["grad_norm"] == pytest.approx([r["grad_norm"][0]] * 6, rel=1e-14)
    assert r["act_norm"] == pytest.approx([r["act_norm"][0]] * 6, rel=1e-14)
    assert r["grad_norm"][0] > 0


def test_signal_is_invariant_to_rescaling_a_layer_that_batch_norm_follows():
    # In a plain BN net every block starts with batch norm, so scaling block 1's output by c changes nothing
    # downstream: ||x_1|| grows by c, ||dL/dx_1|| shrinks by c, and every g_l stays the same.
    torch.manual_seed(2)
    net = create_model("plainmlp", depth=3, width=8, in_channels=3, num_classes=4, norm="batch").double()
    x, y = batch(n=32)
    before = gradient_signal(net, x, y)
    last = linears(net.stages[0].blocks[1].branch)[-1]
    with torch.no_grad():
        last.weight.mul_(10)
        last.bias.mul_(10)
    after = gradient_signal(net, x, y)
    assert after["signal"] == pytest.approx(before["signal"], rel=1e-4)
    assert after["loss"] == pytest.approx(before["loss"], rel=1e-5)
    assert after["act_norm"][2] == pytest.approx(10 * before["act_norm"][2], rel=1e-10)
    assert after["grad_norm"][2] == pytest.approx(before["grad_norm"][2] / 10, rel=1e-4)


def test_model_is_left_as_found():
    torch.manual_seed(3)
    net = create_model("resmlp", depth=2, width=8, in_channels=3, num_classes=4, norm="batch").double()
    frozen_param = next(net.parameters())
    frozen_param.requires_grad_(False)
    buffers = {k: v.clone() for k, v in net.state_dict().items()}
    x, y = batch(n=16)
    r = gradient_signal(net, x, y)
    assert r["mode"] == "train (batch statistics)" and net.training
    assert all(p.grad is None for p in net.parameters())
    assert [p.requires_grad for p in net.parameters()] == [False] + [True] * (len(list(net.parameters())) - 1)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in buffers.items())  # running stats not updated
    net.eval()
    assert gradient_signal(net, x, y)["mode"] == "eval" and not net.training


def test_misuse_is_a_clear_value_error():
    x, y = batch()
    with pytest.raises(ValueError, match="skiplab Net"):
        gradient_signal(nn.Linear(3, 4), x, y)
    net = create_model("resmlp", depth=1, width=4, in_channels=3, num_classes=4).double()
    with pytest.raises(ValueError, match="7 inputs but 6 targets"):
        gradient_signal(net, x, y[:6])
    with pytest.raises(ValueError, match="every"):
        GradientSignalCallback(x, y, every=0)


def blobs(n=96, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, 2, generator=g) * 4
    def split():
        y = torch.randint(0, classes, (n,), generator=g)
        return centers[y] + torch.randn(n, 2, generator=g) * 0.5, y
    (xa, ya), (xb, yb) = split(), split()
    return Dataset(DatasetInfo("blobs", "vector", (2,), ("0", "1", "2"), (0.0, 0.0), (1.0, 1.0)), xa, ya, xb, yb)


def small_fit(data, callbacks=(), epochs=2, **model_kw):
    torch.manual_seed(0)
    net = create_model("resmlp", depth=2, width=16, in_channels=2, num_classes=3, **model_kw)
    cfg = TrainConfig(epochs=epochs, batch_size=32, lr=0.05, device="cpu", channels_last=False)
    fit(net, data, cfg, callbacks=callbacks, verbose=False)
    return net


def test_callback_records_init_and_every_epoch_without_changing_training():
    data = blobs()
    cb = GradientSignalCallback(data.train_x[:40], data.train_y[:40])
    trained = small_fit(data, [cb], norm="batch")
    assert [r["epoch"] for r in cb.records] == [0, 1, 2]
    for r in cb.records:
        assert r["signal"]["names"] == ["stem", "stages.0.blocks.0", "stages.0.blocks.1"]
        assert r["signal"]["mode"] == "train (batch statistics)"
    assert cb.records[0]["signal"]["loss"] > cb.records[-1]["signal"]["loss"]  # it learned in between
    plain = small_fit(data, norm="batch")  # the probe leaves training bit-identical (BN statistics included)
    assert all(torch.equal(v, plain.state_dict()[k]) for k, v in trained.state_dict().items())


def test_callback_every_n_keeps_the_last_epoch_and_never_recomputes():
    data = blobs()
    cb = GradientSignalCallback(data.train_x[:40], data.train_y[:40], every=2)
    cb.records = [{"epoch": 0, "signal": "saved before"}]  # as a resumed caller would set them
    small_fit(data, [cb], epochs=3)
    assert [r["epoch"] for r in cb.records] == [0, 2, 3]
    assert cb.records[0]["signal"] == "saved before"
