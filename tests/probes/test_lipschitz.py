"""Known answers of the Lipschitz probe: a convolution's operator norm (computed on the convolution itself, with its
stride and padding) is the largest singular value of its explicit matrix; a linear model's bound is its exact
Lipschitz constant; eval-mode batch norm contributes its scale; the empirical lower bound never exceeds the upper."""

import math

import pytest
import torch
from torch import nn

from skiplab.models import Net
from skiplab.models.blocks import PlainBlock, ResidualBlock
from skiplab.models.parts.layers import Normalize, ResidualScale
from skiplab.models.parts.operator_norm import conv_args, conv_maps, operator_norm
from skiplab.probes.lipschitz import certified_accuracy, lipschitz_bounds, margin_gradients, module_bound


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def explicit_matrix(conv, in_shape):
    """The matrix of the convolution (bias off) on flattened inputs of shape in_shape, column by column."""
    n = math.prod(in_shape)
    basis = torch.eye(n, dtype=torch.float64).view(n, *in_shape)
    w = conv.weight.detach().double()
    A, _ = conv_maps(w, in_shape, conv_args(conv))
    return A(basis).flatten(1).T  # (out, n)


@pytest.mark.parametrize("make,in_shape", [
    (lambda: nn.Conv2d(2, 3, 3, stride=2, padding=1), (2, 5, 5)),  # odd size + stride: output padding needed
    (lambda: nn.Conv2d(3, 4, 3, stride=1, padding=1), (3, 4, 4)),
    (lambda: nn.Conv2d(2, 2, 3, stride=1, padding=2, dilation=2), (2, 5, 4)),
    (lambda: nn.Conv1d(2, 3, 5, stride=2, padding=2), (2, 9)),
    (lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1), (3, 9, 10)),  # > EXPLICIT_MAX inputs: Lanczos (ARPACK)
])
def test_conv_operator_norm_is_the_explicit_matrix_norm(make, in_shape):
    torch.manual_seed(0)
    conv = make()
    M = explicit_matrix(conv, in_shape)
    exact = float(torch.linalg.matrix_norm(M, ord=2))
    assert operator_norm(conv, in_shape) == pytest.approx(exact, rel=1e-9)
    # the adjoint is the transpose: <A v, u> = <v, A^T u>
    A, At = conv_maps(conv.weight.detach().double(), in_shape, conv_args(conv))
    v = torch.randn(1, *in_shape, dtype=torch.float64)
    u = torch.randn_like(A(v))
    assert float((A(v) * u).sum()) == pytest.approx(float((v * At(u)).sum()), rel=1e-10)
    # and it is not the reshaped kernel's norm, which ignores stride, padding and input size
    reshaped = float(torch.linalg.matrix_norm(conv.weight.detach().double().flatten(1), ord=2))
    assert abs(reshaped - exact) > 1e-3 * exact


def linear_net(w, b=None):
    """logits = W x (+ b): one plain block holding a Linear layer, nothing around it."""
    k, d = w.shape
    lin = nn.Linear(d, k, bias=b is not None).double()
    with torch.no_grad():
        lin.weight.copy_(w)
        if b is not None:
            lin.bias.copy_(b)
    return Net(None, Normalize(None, None, d, 0), nn.Identity(), [[PlainBlock(lin, shape_preserving=False)]],
               nn.Identity()).double().eval()


def test_linear_model_bound_is_exact():
    torch.manual_seed(0)
    w = torch.randn(4, 6, dtype=torch.float64)
    net = linear_net(w)
    b = lipschitz_bounds(net, torch.zeros(1, 6))
    assert b["total"] == pytest.approx(float(torch.linalg.matrix_norm(w, ord=2)), rel=1e-12)
    # W = [u, -u]: Lip = sqrt(2) ||u||, and the margin z_0 - z_1 = 2 u.x has gradient norm 2 ||u||, so the lower
    # bound max ||grad m|| / sqrt(2) meets the upper bound exactly
    u = torch.randn(6, dtype=torch.float64)
    net = linear_net(torch.stack([u, -u]))
    x = torch.rand(10, 6, dtype=torch.float64)
    up = lipschitz_bounds(net, x[:1])["total"]
    low = margin_gradients(net, x, torch.zeros(10, dtype=torch.long))["lower_bound"]
    assert up == pytest.approx(math.sqrt(2) * float(u.norm()), rel=1e-12) and low == pytest.approx(up, rel=1e-12)


def test_block_bounds_and_batch_norm_scale():
    torch.manual_seed(0)
    lin = nn.Linear(5, 5, bias=False).double()
    block = ResidualBlock(nn.Sequential(lin, nn.ReLU()), nn.Identity(), ResidualScale(0.3, False))
    net = Net(None, Normalize(None, None, 5, 0), nn.Identity(), [[block]], nn.Identity()).double().eval()
    r = lipschitz_bounds(net, torch.zeros(1, 5))
    s = float(torch.linalg.matrix_norm(lin.weight.detach(), ord=2))
    assert r["blocks"][0]["branch"] == pytest.approx(s) and r["blocks"][0]["block"] == pytest.approx(1 + 0.3 * s)
    bn = nn.BatchNorm2d(3).eval()
    bn.running_var.copy_(torch.tensor([1.0, 0.25, 4.0]) - bn.eps)
    bn.weight.data = torch.tensor([1.0, 1.5, -2.0])
    assert module_bound(bn, {}) == pytest.approx(3.0)  # |1.5| / sqrt(0.25)
    with pytest.raises(ValueError, match="eval mode"):
        module_bound(bn.train(), {})


def test_certified_examples_survive_attacks():
    """On a small linear model the certificate (margin > sqrt(2) L eps) is sound: PGD never breaks a certified
    example, and certified accuracy falls with epsilon."""
    from skiplab.attacks import standard_attacks, worst_of
    torch.manual_seed(1)
    net = linear_net(torch.randn(3, 6, dtype=torch.float64), torch.randn(3, dtype=torch.float64))
    x = torch.rand(64, 6, dtype=torch.float64)
    y = net(x).argmax(1).detach()
    L = lipschitz_bounds(net, x[:1])["total"]
    eps = [0.0, 0.05, 0.1, 0.3]
    cert = certified_accuracy(net, x, y, L, eps)
    assert cert[0] == 1.0 and all(a >= b for a, b in zip(cert, cert[1:]))
    for e, c in zip(eps, cert):
        assert worst_of(net, x, y, e, standard_attacks("l2"))["accuracy"] >= c
