"""`skiplab.wrap`: a ResNet written here in the torchvision style (BasicBlock with `downsample`, relu(out + identity))
becomes a `Net` that shares its weights, computes exactly what it computes, and that the probes and attacks dissect
with the answers a hand computation on the user's own modules gives. Also timm's `forward_intermediates`."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

import skiplab
from skiplab.attacks import pgd
from skiplab.errors import ConfigError
from skiplab.models import Net, WrappedNet, create_model, wrap
from skiplab.probes import block_eigenvalues, block_jacobian, gradient_signal, lesion_study, linear_readout, readout
from skiplab.probes.readout import pooled_intermediates
from skiplab.probes.unrolled import unrolled_check

pytestmark = pytest.mark.usefixtures("one_thread")


class BasicBlock(nn.Module):
    """torchvision's layout: conv-bn-relu-conv-bn, plus the identity or `downsample`, then the same `relu`."""

    def __init__(self, c_in, c_out, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class TinyResNet(nn.Module):
    """3 stages of 2, 1, 2 blocks (8, 16, 32 channels) on 3x16x16 inputs, 10 classes; a max-pool stem."""

    def __init__(self, layers=(2, 1, 2), widths=(8, 16, 32), num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        c = widths[0]
        for i, (n, w) in enumerate(zip(layers, widths)):
            stride = 1 if i == 0 else 2
            blocks = []
            for j in range(n):
                down = None
                if j == 0 and (stride != 1 or c != w):
                    down = nn.Sequential(nn.Conv2d(c, w, 1, stride, bias=False), nn.BatchNorm2d(w))
                blocks.append(BasicBlock(c, w, stride if j == 0 else 1, down))
                c = w
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)

    def stem(self, x):
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))

    def head(self, h):
        return self.fc(torch.flatten(self.avgpool(h), 1))

    def forward(self, x):
        return self.head(self.layer3(self.layer2(self.layer1(self.stem(x)))))


BLOCKS = ["layer1.0", "layer1.1", "layer2.0", "layer3.0", "layer3.1"]


def user_blocks(model):
    return [model.get_submodule(p) for p in BLOCKS]


def build(seed=0):
    """The ResNet with random batch-norm statistics and affines (a fresh one would be near-trivial in eval mode)."""
    torch.manual_seed(seed)
    model = TinyResNet()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_(0, 0.2)
    return model.eval()


def batch(n=24, seed=1):
    return torch.rand(n, 3, 16, 16, generator=torch.Generator().manual_seed(seed))


def half_right_labels(model, x):
    """Labels the model gets right on exactly the first half: its own argmax there, another class after."""
    with torch.no_grad():
        pred = model(x).argmax(1)
    y = pred.clone()
    y[x.shape[0] // 2:] = (pred[x.shape[0] // 2:] + 1) % 10
    return y


def wrapped(model, x=None):
    return wrap(model, blocks=BLOCKS, example=batch(4) if x is None else x)


def hand_features(model, x, lesion=None):
    """stem -> blocks -> features on the user's modules; block `lesion` replaced by relu(shortcut(h))."""
    h = model.stem(x)
    for i, b in enumerate(user_blocks(model)):
        if i == lesion:
            h = F.relu(h if b.downsample is None else b.downsample(h))
        else:
            h = b(h)
    return h


def test_wrapped_output_equals_the_models_own_forward_in_eval_and_train_mode():
    model, x = build(), batch()
    net = wrapped(model)
    assert isinstance(net, WrappedNet) and isinstance(net, Net) and skiplab.wrap is wrap
    assert not net.training  # the wrapper takes the model's mode
    assert [len(s.blocks) for s in net.stages] == [2, 1, 2]  # a stage per parent: layer1, layer2, layer3
    assert net.paths == dict(zip(net.block_names(), BLOCKS))
    assert (net.config.in_channels, net.config.input_size, net.config.num_classes) == (3, (16, 16), 10)
    assert [b.kind for _, b in net.blocks()] == ["additive-post"] * 5
    with torch.no_grad():
        assert torch.equal(net(x), model(x))
        assert torch.equal(net.forward_features(x), hand_features(model, x))
        net.train()
        assert torch.equal(net(x), model(x))  # batch statistics: the same layers on the same batch


def test_wrapping_copies_nothing_and_training_the_wrapper_trains_the_model():
    model, x = build(), batch()
    net = wrapped(model)
    assert {id(p) for p in net.parameters()} == {id(p) for p in model.parameters()}
    before = model.fc.weight.detach().clone()
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    net.train()
    F.cross_entropy(net(x), torch.arange(24) % 10).backward()
    opt.step()
    assert not torch.equal(model.fc.weight, before)
    assert model.layer2[0].downsample[0].weight.grad is not None
    model.eval()  # the wrapper's eval() reaches the same modules; check the two still agree after the step
    with torch.no_grad():
        assert torch.equal(net(x), model(x))


@pytest.mark.parametrize("index", [0, 2, 3])
def test_a_lesioned_block_is_relu_of_its_shortcut(index):
    """Block 0 keeps the shape (identity shortcut), blocks 2 and 3 downsample (relu(downsample(h)))."""
    model, x = build(), batch()
    net = wrapped(model)
    name = net.block_names()[index]
    with torch.no_grad():
        got = net.forward_features(x, skip={name})
        assert torch.equal(got, hand_features(model, x, lesion=index))
        assert not torch.equal(got, net.forward_features(x))


def test_a_lesion_leaves_its_input_alone_despite_the_in_place_relu():
    model = build()
    block = dict(wrapped(model).blocks())["stages.0.blocks.0"]
    h = torch.randn(2, 8, 8, 8)
    kept = h.clone()
    assert torch.equal(block.lesion(h), F.relu(kept))
    assert torch.equal(h, kept)


def test_gates_keep_the_value_and_route_the_gradient_like_the_hand_split():
    model = build()
    block = dict(wrapped(model).blocks())["stages.1.blocks.0"]  # layer2.0: a downsampling shortcut
    user = model.layer2[0]
    h = torch.randn(2, 8, 8, 8)

    def branch(t):
        return user.bn2(user.conv2(F.relu(user.bn1(user.conv1(t)))))

    with torch.no_grad():
        assert torch.allclose(block.increment(h), branch(h), atol=1e-6)
    for gate in ("skip", "branch"):
        x1 = h.clone().requires_grad_(True)
        out = block(x1, gate)
        g1, = torch.autograd.grad(out.sum(), x1)
        x2 = h.clone().requires_grad_(True)
        s, f = user.downsample(x2), branch(x2)
        ref = F.relu(s + f.detach()) if gate == "skip" else F.relu(s.detach() + f)
        g2, = torch.autograd.grad(ref.sum(), x2)
        assert torch.equal(out, user(h))  # a gate routes gradients, never values
        assert torch.allclose(g1, g2, atol=1e-5), gate


def _load_conformance():
    path = Path(__file__).with_name("test_conformance.py")
    spec = importlib.util.spec_from_file_location("skiplab_conformance_checks", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.check_conforms


def test_the_wrapped_net_passes_the_zoo_conformance_checks():
    torch.manual_seed(0)
    _load_conformance()("wrapped-tiny-resnet", wrapped(build()))


def test_lesion_study_gives_the_hand_computed_errors():
    model, x = build(), batch()
    y = half_right_labels(model, x)
    out = lesion_study(wrapped(model), x, y, k_values=(2,), draws=2)
    assert out["base"]["error"] == 0.5  # by construction of the labels
    assert out["kinds"] == ["additive-post"] * 5
    assert out["shape_changing"] == [False, False, True, True, False]
    with torch.no_grad():
        for i in range(5):
            logits = model.head(hand_features(model, x, lesion=i))
            assert out["single"]["error"][i] == float((logits.argmax(1) != y).double().mean())
            assert out["single"]["loss"][i] == pytest.approx(float(F.cross_entropy(logits, y)), rel=1e-6)


def test_gradient_signal_equals_autograd_on_the_users_modules():
    model, x = build(), batch()
    y = half_right_labels(model, x)
    got = gradient_signal(wrapped(model), x, y)
    acts = [model.stem(x.requires_grad_(True))]
    for b in user_blocks(model):
        acts.append(b(acts[-1]))
    grads = torch.autograd.grad(F.cross_entropy(model.head(acts[-1]), y), acts)
    assert got["names"] == ["stem"] + [f"stages.{i}.blocks.{j}" for i, j in ((0, 0), (0, 1), (1, 0), (2, 0), (2, 1))]
    np.testing.assert_allclose(got["grad_norm"], [float(g.double().norm()) for g in grads], rtol=1e-6)
    np.testing.assert_allclose(got["act_norm"], [float(a.detach().double().norm()) for a in acts], rtol=1e-6)
    assert all(p.grad is None for p in model.parameters())  # left as found


def test_block_jacobian_and_eigenvalues_match_the_users_block():
    model = build()
    net = wrapped(model)
    x1 = batch(1)
    h = model.layer1(model.stem(x1)).detach()  # layer3.1's input is reached through layer2 and layer3.0
    h = model.layer3[0](model.layer2(h))
    jac = block_jacobian(dict(net.blocks())["stages.2.blocks.1"], h)
    want = torch.autograd.functional.jacobian(model.layer3[1], h).reshape(jac.shape)
    assert torch.allclose(jac, want, atol=1e-6)
    spectra = block_eigenvalues(net, x1, method="exact")
    assert set(spectra) == {"stages.0.blocks.0", "stages.0.blocks.1", "stages.2.blocks.1"}  # the shape keepers
    vals = np.linalg.eigvals(want.double().numpy())
    np.testing.assert_allclose(np.sort_complex(spectra["stages.2.blocks.1"]), np.sort_complex(vals), atol=1e-5)


def test_readouts_match_the_hand_computation():
    model, x = build(), batch()
    y = half_right_labels(model, x)
    net = wrapped(model)
    out = readout(net, x, y)
    with torch.no_grad():
        h = model.stem(x)  # every block deleted: relu(shortcut(.)) all the way
        for b in user_blocks(model):
            h = F.relu(h if b.downsample is None else b.downsample(h))
        assert out["available"] == [True] * 6
        assert out["error"][-1] == 0.5 and out["loss"][-1] == pytest.approx(float(F.cross_entropy(model(x), y)))
        assert out["loss"][0] == pytest.approx(float(F.cross_entropy(model.head(h), y)), rel=1e-6)
        assert out["loss"][0] != pytest.approx(out["loss"][-1])
        acts = [model.stem(x)]
        for b in user_blocks(model):
            acts.append(b(acts[-1]))
    pooled = pooled_intermediates(net, x)  # what the linear readout fits on: each activation averaged over space
    assert list(pooled) == ["stem"] + net.block_names()
    for got, a in zip(pooled.values(), acts):
        np.testing.assert_allclose(got, a.mean((2, 3)).double().numpy(), rtol=1e-6, atol=1e-7)
    lin = linear_readout(net, x, y, batch(24, seed=2), y)  # fits one probe per entry of `pooled`
    assert lin["names"] == ["stem"] + net.block_names() and len(lin["error"]) == len(lin["loss"]) == 6


def test_pgd_at_eps_zero_is_clean_accuracy_and_an_attack_only_lowers_it():
    model, x = build(), batch()
    y = half_right_labels(model, x)
    net = wrapped(model)
    clean = pgd(net, x, y, eps=0.0)
    assert torch.equal(clean, x)
    with torch.no_grad():
        assert float((net(clean).argmax(1) == y).double().mean()) == 0.5
    adv = pgd(net, x, y, eps=8 / 255, steps=5)
    assert float((adv - x).abs().max()) <= 8 / 255 + 1e-6
    with torch.no_grad():
        robust = (model(adv).argmax(1) == y).double().mean()
    assert float(robust) <= 0.5


def test_timm_forward_intermediates_on_the_wrapped_net():
    model, x = build(), batch(4)
    net = wrapped(model)
    with torch.no_grad():
        outs = [model.stem(x)]
        for b in user_blocks(model):
            outs.append(b(outs[-1]))
        last2 = net.forward_intermediates(x, indices=2, intermediates_only=True)
        assert isinstance(last2, list) and len(last2) == 2
        assert torch.equal(last2[0], outs[4]) and torch.equal(last2[1], outs[5])
        ends = net.forward_intermediates(x, indices=[-1, 0], intermediates_only=True)  # forward order, as timm
        assert torch.equal(ends[0], outs[1]) and torch.equal(ends[1], outs[5])
        feats, inter = net.forward_intermediates(x, indices=[0, -1])
        assert torch.equal(feats, net.forward_features(x)) and torch.equal(feats, outs[5])
        assert [t.shape[1] for t in inter] == [8, 32]
        feats, inter = net.forward_intermediates(x)
        assert len(inter) == 5 and all(torch.equal(a, b) for a, b in zip(inter, outs[1:]))
        feats, inter = net.forward_intermediates(x, indices=[1], stop_early=True, norm=True)
        assert torch.equal(feats, outs[2]) and len(inter) == 1


@pytest.mark.parametrize("name", ["resnet8", "plain20-links"])
def test_timm_forward_intermediates_on_zoo_nets(name):
    """The base Net and a family that overrides block_outputs (long-range links land after a block)."""
    torch.manual_seed(0)
    net = create_model(name, input_size=(8, 8)).eval()
    x = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        outs = list(net.block_outputs(x).values())[1:]
        feats, inter = net.forward_intermediates(x, indices=3)
        assert torch.equal(feats, net.forward_features(x))
        assert len(inter) == 3 and all(torch.equal(a, b) for a, b in zip(inter, outs[-3:]))


@pytest.mark.parametrize("kw, match", [
    ({"indices": 0}, "last 0 blocks"), ({"indices": 6}, "last 6 blocks"), ({"indices": [5]}, "out of range"),
    ({"indices": [-6]}, "out of range"), ({"indices": []}, "non-empty"), ({"output_fmt": "NHWC"}, "NCHW")])
def test_bad_forward_intermediates_arguments_are_refused(kw, match):
    net = wrapped(build())
    with pytest.raises(ConfigError, match=match):
        net.forward_intermediates(batch(2), **kw)


class PreActBlock(nn.Module):
    """A pre-activation block: x + conv(relu(bn(x))), nothing after the sum ("additive")."""

    def __init__(self, c):
        super().__init__()
        self.bn = nn.BatchNorm2d(c)
        self.conv = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x):
        return x + self.conv(F.relu(self.bn(x)))


def test_an_additive_block_lesions_to_the_identity_and_its_increments_sum_up():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), PreActBlock(4), PreActBlock(4), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(4, 3)).eval()
    x = batch(3)
    net = wrap(model, blocks=["1", "2"], kind="additive", shortcut=None, example=x)
    assert [b.kind for _, b in net.blocks()] == ["additive", "additive"]
    with torch.no_grad():
        h = model[0](x)
        assert torch.equal(net.forward_features(x, skip={"stages.0.blocks.0"}), model[2](h))
        block = dict(net.blocks())["stages.0.blocks.1"]
        assert torch.allclose(block.increment(h), model[2].conv(F.relu(model[2].bn(h))), atol=1e-6)
    with torch.no_grad():
        check = unrolled_check(net, x)
    assert [s["blocks"] for s in check["segments"]] == [net.block_names()] and check["max_rel"] < 1e-5


def test_input_normalization_goes_in_front():
    model, x = build(), batch(4)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    net = wrap(model, blocks=BLOCKS, mean=mean, std=std, example=x)
    z = (x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    with torch.no_grad():
        assert torch.equal(net(x), model(z))


class TimmStyleBlock(BasicBlock):
    """timm's naming: the activation after the sum is `act2` (a separate module from the branch's `act1`)."""

    def __init__(self, c):
        super().__init__(c, c)
        del self.relu
        self.act1, self.act2 = nn.ReLU(inplace=True), nn.ReLU(inplace=True)

    def forward(self, x):
        out = self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x)))))
        return self.act2(out + x)


class FunctionalTail(TinyResNet):
    def forward(self, x):  # doubles the features in forward, where no module shows it
        return self.head(2 * self.layer3(self.layer2(self.layer1(self.stem(x)))))


def test_a_timm_style_block_names_its_post_activation():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), TimmStyleBlock(4), nn.Flatten(), nn.LazyLinear(2)).eval()
    x = batch(2)
    model(x)  # materialize the lazy layer
    with pytest.raises(ConfigError, match="no module 'relu'.*act2"):
        wrap(model, blocks=["1"], shortcut=None, example=x)
    net = wrap(model, blocks=["1"], shortcut=None, post="act2", example=x)
    with torch.no_grad():
        assert torch.equal(net(x), model(x))
        assert torch.equal(net.forward_features(x, skip={"stages.0.blocks.0"}), F.relu(model[0](x)))


@pytest.mark.parametrize("kw, match", [
    ({"blocks": ["layer1.0", "layer9.0"]}, "no module 'layer9.0'"),
    ({"blocks": ["layer2.0", "layer1.0"]}, "forward .*order"),
    ({"blocks": ["layer1.0", "layer3.0"]}, "'layer1.1' sits between the blocks"),
    ({"blocks": ["layer1", "layer1.0"]}, "lies inside block 'layer1'"),
    ({"blocks": ["layer1.0", "layer1.0"]}, "listed twice"),
    ({"blocks": "layer1.0"}, "non-empty list"),
    ({"blocks": BLOCKS, "kind": "gated"}, "kind must be one of"),
    ({"blocks": BLOCKS, "kind": "additive", "post": "relu"}, "post must be None"),
    ({"blocks": BLOCKS, "shortcut": "proj"}, "no block has a 'proj'"),
    ({"blocks": BLOCKS, "mean": (0.5, 0.5, 0.5)}, "both mean and std"),
])
def test_what_wrap_cannot_infer_is_refused_in_one_line(kw, match):
    with pytest.raises(ConfigError, match=match) as e:
        wrap(build(), **kw)
    assert "\n" not in str(e.value)


def test_the_example_catches_a_forward_that_does_more_than_its_modules_show():
    torch.manual_seed(0)
    model = FunctionalTail().eval()
    with pytest.raises(ConfigError, match="differs from the model's own forward"):
        wrap(model, blocks=BLOCKS, example=batch(2))
    with pytest.raises(ConfigError, match="shortcut of shape"):  # identity shortcuts on downsampling blocks
        wrap(build(), blocks=BLOCKS, shortcut=None, example=batch(2))
