"""The Inception and MBConv families: block kinds, compound scaling arithmetic, stochastic depth, and resolution
scaling that changes what the model sees (not just a number)."""

import math

import pytest
import torch
from torch.nn import functional as F

from skiplab.errors import ConfigError
from skiplab.models import create_model, model_config
from skiplab.models.families.mbconv import DropPath


def stem_input(net, x):
    """What the stem's first convolution receives."""
    seen = {}
    conv = next(m for m in net.stem.modules() if isinstance(m, torch.nn.Conv2d))
    handle = conv.register_forward_pre_hook(lambda m, args: seen.setdefault("x", args[0]))
    with torch.no_grad():
        net.eval()(x)
    handle.remove()
    return seen["x"]


def test_resolution_scaling_changes_the_input_the_model_sees():
    torch.manual_seed(0)
    x = torch.rand(2, 1, 32, 32)
    x[:, :, ::2, ::2] = 1.0  # fine detail: a 1-pixel grid pattern
    kw = dict(in_channels=1, input_size=(32, 32))
    full, half = create_model("effnet", **kw), create_model("effnet", resolution_mult=0.5, **kw)
    full.load_state_dict(half.state_dict())  # same weights: only the resolution differs
    seen_full, seen_half = stem_input(full, x), stem_input(half, x)
    assert seen_full.shape[-2:] == (32, 32) and seen_half.shape[-2:] == (16, 16)
    assert torch.equal(seen_full, x)  # at the data's size: the pixels themselves
    # shrinking averages neighbouring pixels (antialiased), so the 1-pixel pattern is lost, not subsampled
    assert seen_half.std() < 0.6 * seen_full.std()
    expected = F.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False, antialias=True)
    assert torch.allclose(seen_half, expected)
    with torch.no_grad():
        assert not torch.allclose(full.eval()(x), half.eval()(x))
    # compound scaling reaches the stem too: 16 px base x gamma^phi
    cfg = model_config("effnet", resolution=16, phi=2.0, gamma=1.15, **kw)
    assert cfg.effective_resolution == round(16 * 1.15 ** 2) == 21
    assert stem_input(create_model("effnet", resolution=16, phi=2.0, gamma=1.15, **kw), x).shape[-2:] == (21, 21)


def test_compound_scaling_arithmetic():
    base = create_model("effnet", input_size=(16, 16))
    scaled = create_model("effnet", input_size=(16, 16), phi=1.0, alpha=1.2, beta=1.1, gamma=1.15)
    cfg = scaled.config
    counts = [len(s.blocks) for s in scaled.stages]
    assert [len(s.blocks) for s in base.stages] == [1, 2, 2]
    assert counts == [math.ceil(n * 1.2) for n in (1, 2, 2)] == [2, 3, 3]
    assert scaled.stages[0].blocks[0].branch[-1].num_features == round(16 * 1.1)  # the projection's BN
    assert cfg.effective_resolution == round(16 * 1.15)
    # multipliers compose with phi
    assert model_config("inception", depth_mult=2.0, phi=1.0, alpha=1.5).depth_factor == 3.0
    with pytest.raises(ConfigError, match="width_mult"):
        model_config("effnet", width_mult=0.0)
    with pytest.raises(ConfigError, match="below 4 pixels"):
        model_config("inception", resolution=8, resolution_mult=0.25)


def test_block_kinds():
    kinds = lambda net: [b.kind for _, b in net.blocks()]  # noqa: E731
    assert kinds(create_model("inception", input_size=(8, 8))) == ["additive-post"] * 3  # Inception-ResNet
    assert kinds(create_model("inception-plain", input_size=(8, 8))) == ["plain"] * 3
    # MBConv: a skip where shapes match (additive, no activation after the sum); a shape-changing block (the first
    # of stages 1 and 2, stride 2) has none (EfficientNet's rule), as in the basic-block twin
    assert kinds(create_model("effnet", input_size=(8, 8))) == ["additive", "plain", "additive", "plain", "additive"]
    assert kinds(create_model("effnet-basic", input_size=(8, 8))) == ["additive-post", "plain", "additive-post",
                                                                      "plain", "additive-post"]
    net = create_model("effnet", input_size=(8, 8), widths=(24, 24, 40))  # stem 24 wide: stage 0 keeps the shape
    assert [b.kind for _, b in net.blocks()][0] == "additive"
    net = create_model("effnet", input_size=(8, 8), blocks=(2, 1, 1), strides=(2, 1, 1))
    assert [b.lesionable for _, b in net.blocks()][:2] == [False, True]


def test_mbconv_squeeze_excite_and_stochastic_depth():
    torch.manual_seed(0)
    drop = DropPath(0.5).train()
    x = torch.ones(4000, 3)
    y = drop(x)
    kept = (y[:, 0] > 0).float().mean()
    assert 0.45 < kept < 0.55 and torch.allclose(y[y > 0], torch.tensor(2.0))  # survivors scaled by 1/(1-p)
    assert torch.equal(drop.eval()(x), x)
    net = create_model("effnet", input_size=(8, 8), drop_path=0.2, depth_mult=2.0)
    rates = [m.p for m in net.modules() if isinstance(m, DropPath)]
    assert rates == sorted(rates) and rates[0] == 0 < rates[1] and rates[-1] < 0.2  # p * l / L, block l of L
    net.eval()
    x = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(net(x), net(x))  # eval mode: deterministic
