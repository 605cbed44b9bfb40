"""Masks without training: magnitude pruning picks exactly the smallest weights, globally or per layer; a pruned
weight stays exactly zero through optimizer steps, eager and compiled; the shuffled baseline keeps per-layer
sparsity; a transferred mask keeps its pattern; masks round-trip through safetensors."""

import pytest
import torch
from torch import nn

from skiplab.errors import CheckpointError, ConfigError
from skiplab.models import create_model
from skiplab.pruning import (apply_masks, current_masks, density, effective_zeros, load_masks, magnitude_masks,
                             prunable, save_masks, shuffle_masks, transfer_masks)
from skiplab.pruning.masks import smallest

DIGITS = dict(in_channels=1, num_classes=10, input_size=(8, 8))


def net(name="resnet8", **kw):
    torch.manual_seed(0)
    return create_model(name, **DIGITS, **kw)


def test_known_answer_on_a_hand_made_layer():
    lin = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, -2.0], [3.0, 0.5]]))
    model = nn.Sequential(lin)
    masks = magnitude_masks(model, 0.5)
    assert torch.equal(masks["0"], torch.tensor([[False, True], [True, False]]))
    apply_masks(model, masks)
    # the next round prunes half of what is left: the smaller survivor (-2) goes
    assert torch.equal(magnitude_masks(model, 0.5)["0"], torch.tensor([[False, False], [True, False]]))
    # ties at the cut go to the lower index, so a round always prunes exactly round(fraction * alive)
    assert smallest(torch.tensor([1.0, 0.0, 0.0, 2.0, 0.0]), 2).tolist() == [False, True, True, False, False]


@pytest.mark.parametrize("scope", ["global", "layerwise"])
def test_magnitude_pruning_is_exact(scope):
    model = net()
    layers = prunable(model, ("head",))
    assert "head.2" not in layers and "stem.0" in layers and len(layers) == 7
    n = {k: m.weight.numel() for k, m in layers.items()}
    m1 = magnitude_masks(model, 0.2, scope, ("head",))
    total = sum(n.values())
    if scope == "global":
        assert sum(int(m.sum()) for m in m1.values()) == total - round(0.2 * total)
        kept = torch.cat([layers[k].weight.detach().abs().flatten()[m1[k].flatten()] for k in layers])
        cut = torch.cat([layers[k].weight.detach().abs().flatten()[~m1[k].flatten()] for k in layers])
        assert cut.max() <= kept.min()  # the smallest magnitudes over all layers went
    else:
        assert all(int(m1[k].sum()) == n[k] - round(0.2 * n[k]) for k in layers)
    apply_masks(model, m1)
    assert torch.equal(torch.stack([current_masks(model, ("head",))[k].all() for k in layers]).all(),
                       torch.tensor(False)) or scope == "global"
    m2 = magnitude_masks(model, 0.2, scope, ("head",))
    alive = sum(int(m.sum()) for m in m1.values())
    if scope == "global":
        assert sum(int(m.sum()) for m in m2.values()) == alive - round(0.2 * alive)
    assert all(not (m2[k] & ~m1[k]).any() for k in layers)  # nothing pruned comes back


def _steps(model, forward, x, y, n=3):
    # momentum and weight decay move weight_orig where it is masked; the effective weight must stay zero
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9, weight_decay=0.1)
    for _ in range(n):
        loss = nn.functional.cross_entropy(forward(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_sparsity_survives_optimizer_steps():
    model = net()
    masks = magnitude_masks(model, 0.6, exclude=("head",))
    apply_masks(model, masks)
    pruned = {k: int((~m).sum()) for k, m in masks.items()}
    assert effective_zeros(model, ("head",)) == pruned
    _steps(model, model, torch.randn(16, 1, 8, 8), torch.randint(0, 10, (16,)))
    assert effective_zeros(model, ("head",)) == pruned
    assert torch.equal(current_masks(model, ("head",))["stem.0"], masks["stem.0"])


def test_masks_survive_torch_compile():
    # a small MLP keeps dynamo's tracing short; backend="eager" checks that dynamo keeps prune's forward
    # pre-hooks (the part that could drop a mask), without inductor's code generation
    model = net("resmlp", depth=1, width=16)
    masks = magnitude_masks(model, 0.5, exclude=("head",))
    apply_masks(model, masks)
    pruned = {k: int((~m).sum()) for k, m in masks.items()}
    compiled = torch.compile(model, backend="eager")
    x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 10, (16,))
    _steps(model, compiled, x, y)
    assert effective_zeros(model, ("head",)) == pruned
    assert torch.allclose(compiled(x), model(x))


def test_shuffled_baseline_keeps_per_layer_sparsity():
    masks = magnitude_masks(net(), 0.7, exclude=("head",))
    shuffled = shuffle_masks(masks, torch.Generator().manual_seed(1))
    for k in masks:
        assert int(shuffled[k].sum()) == int(masks[k].sum()) and shuffled[k].shape == masks[k].shape
    assert any(not torch.equal(shuffled[k], masks[k]) for k in masks)  # the pattern is gone


def test_transferred_mask_keeps_its_pattern():
    masks = magnitude_masks(net("plain8"), 0.5, exclude=("head",))
    moved, pairs = transfer_masks(masks, net("resnet8"), ("head",))
    assert pairs == {k: k for k in masks}  # the twins share every conv: each layer has its namesake
    assert all(torch.equal(moved[k], masks[k]) for k in masks)


def test_transfer_from_a_vgg_pairs_by_shape_and_randomizes_the_rest():
    vgg_masks = magnitude_masks(net("vgg11", width_mult=0.25), 0.5, exclude=("head",))
    moved, pairs = transfer_masks(vgg_masks, net("resnet8"), ("head",), torch.Generator().manual_seed(0))
    paired = {k: v for k, v in pairs.items() if v is not None}
    # VGG-11 x0.25 on 8x8: 1->16, 16->32, 32->64, 64->64 find a counterpart; the 16->16 and 32->32 convs do not
    assert paired == {"stem.0": "stages.0.blocks.0.branch.0",
                      "stages.1.blocks.0.branch.0": "stages.1.blocks.0.branch.0",
                      "stages.2.blocks.0.branch.0": "stages.2.blocks.0.branch.0",
                      "stages.2.blocks.0.branch.3": "stages.2.blocks.1.branch.0"}
    for k, src in paired.items():
        assert torch.equal(moved[k], vgg_masks[src])
    for k in set(pairs) - set(paired):
        assert abs(float(moved[k].float().mean()) - density(vgg_masks)) < 0.01


def test_masks_round_trip_and_bad_input(tmp_path):
    masks = magnitude_masks(net(), 0.3, exclude=("head",))
    save_masks(tmp_path / "m.safetensors", masks)
    back = load_masks(tmp_path / "m.safetensors")
    assert back.keys() == masks.keys() and all(torch.equal(back[k], masks[k]) for k in masks)
    (tmp_path / "bad.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="corrupt masks"):
        load_masks(tmp_path / "bad.safetensors")
    with pytest.raises(ConfigError, match="does not fit"):
        apply_masks(net(), {"stem.0": torch.ones(3, 3, dtype=torch.bool)})
    with pytest.raises(ConfigError, match="no conv or linear layer"):
        apply_masks(net(), {"stages.9": torch.ones(3, dtype=torch.bool)})
    with pytest.raises(ConfigError, match="fraction"):
        magnitude_masks(net(), 1.5)
