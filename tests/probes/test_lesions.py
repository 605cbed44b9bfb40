"""Lesion studies through the dissection interface: the reuse way equals the naive way, known answers on zero-init
nets, and the study's bookkeeping (downsampling blocks, random deletion sets, swaps)."""

import pytest
import torch

from skiplab.models import calibrate_batchnorm, create_model
from skiplab.probes import lesion_study, lesioned_features, naive_lesioned_features


def net_and_batch(name, n=24, **kw):
    torch.manual_seed(0)
    net = create_model(name, num_classes=10, in_channels=1, **kw)
    calibrate_batchnorm(net, torch.rand(64, 1, 8, 8))
    return net, torch.rand(n, 1, 8, 8), torch.randint(0, 10, (n,))


@pytest.mark.parametrize("name", ["resnet20", "plain20", "preresnet20"])
def test_reuse_equals_naive(name):
    net, x, _ = net_and_batch(name)
    names = [n for n, b in net.blocks() if b.lesionable]
    dels = [[]] + [[n] for n in names] + [[names[1], names[4]], [names[1], names[4], names[6]], [names[6], names[1]],
                                          [names[2]], names[:3]]
    for a, b in zip(lesioned_features(net, x, dels), naive_lesioned_features(net, x, dels)):
        assert torch.allclose(a, b, atol=1e-6, rtol=0)


def test_study_matches_naive_errors_in_chunks():
    net, x, y = net_and_batch("resnet20", n=50)
    study = lesion_study(net, x, y, k_values=(2,), draws=2, chunk=16)
    names = study["names"]
    for i, err in enumerate(study["single"]["error"]):
        logits = net.forward_head(naive_lesioned_features(net, x, [[names[i]]])[0])
        assert err == pytest.approx(float((logits.argmax(1) != y).double().mean()), abs=1e-12)
    for s, err in zip(study["random"]["sets"][0], study["random"]["error"][0]):
        logits = net.forward_head(naive_lesioned_features(net, x, [[names[i] for i in s]])[0])
        assert err == pytest.approx(float((logits.argmax(1) != y).double().mean()), abs=1e-12)


def test_zero_init_lesions_and_swaps_change_nothing():
    # zero-init makes every branch output 0, so deleting (or reordering) blocks is exact
    net, x, y = net_and_batch("preresnet20", zero_init=True)
    names = net.block_names()
    feats = lesioned_features(net, x, [[]] + [[n] for n in names] + [names])
    assert all(torch.equal(f, feats[0]) for f in feats)
    study = lesion_study(net, x, y, k_values=(1, 3), draws=2)
    assert all(e == study["base"]["error"] for e in study["single"]["error"])
    assert all(l == pytest.approx(study["base"]["loss"], abs=1e-6) for l in study["single"]["loss"])
    assert all(e == study["base"]["error"] for e in study["swap"]["error"])


def test_study_bookkeeping():
    net, x, y = net_and_batch("plain20")
    study = lesion_study(net, x, y, k_values=(1, 3, 99), draws=4, seed=1)
    # plain20: stages 1 and 2 start with a shape-changing layer, which cannot be deleted
    assert study["shape_changing"] == [False, False, False, True, False, False, True, False, False]
    assert study["lesionable"] == [not c for c in study["shape_changing"]]
    assert study["single"]["error"][3] is None and study["single"]["error"][0] is not None
    assert study["random"]["k"] == [1, 3]  # k = 99 exceeds the 7 eligible blocks
    for k, sets in zip(study["random"]["k"], study["random"]["sets"]):
        assert len(sets) == 4 and all(len(set(s)) == k and not {3, 6} & set(s) for s in sets)
    # swaps only where both neighbours keep the shape
    assert study["swap"]["pairs"] == [[0, 1], [1, 2], [4, 5], [7, 8]]
    assert "calibrated" in study["mode"] or "eval" in study["mode"]


def test_refuses_train_mode_batchnorm():
    net, x, y = net_and_batch("resnet20")
    net.train()
    with pytest.raises(ValueError, match="eval mode"):
        lesion_study(net, x, y)
