import torch

from skiplab.models import create_model


def test_zero_init_residual_mlp_is_the_identity_on_its_features():
    torch.manual_seed(0)
    for norm in ("none", "layer", "batch"):
        net = create_model("resmlp", depth=6, zero_init=True, norm=norm).eval()
        x = torch.randn(7, 2)
        with torch.no_grad():
            assert torch.equal(net.forward_features(x), net.stem(net.normalize(x))), norm


def test_mlp_unrolled_sum_is_exact():
    torch.manual_seed(0)
    net = create_model("resmlp", depth=5, h=0.3).double().eval()
    x = torch.randn(4, 2, dtype=torch.float64)
    with torch.no_grad():
        inter = net.block_outputs(x)
        names = ["stem"] + net.block_names()
        total = inter["stem"] + sum(dict(net.blocks())[n].increment(inter[p]) for p, n in zip(names, names[1:]))
        assert torch.allclose(total, net.forward_features(x), atol=1e-12)


def test_mlp_flattens_images():
    net = create_model("resmlp", in_channels=1, input_size=(8, 8), num_classes=10)
    assert net(torch.rand(3, 1, 8, 8)).shape == (3, 10)
    assert net.stem[1].in_features == 64


def test_vgg16_bn_parameter_count():
    # 13 convs (no bias, BN after each) + BN affine + one linear head 512 -> 10
    convs = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256),
             (256, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)]
    expected = sum(9 * a * b + 2 * b for a, b in convs) + 512 * 10 + 10
    assert create_model("vgg16").num_parameters() == expected


def test_vgg_pools_only_while_the_map_allows():
    net = create_model("vgg11", in_channels=1, input_size=(8, 8))
    assert net(torch.rand(2, 1, 8, 8)).shape == (2, 10)
