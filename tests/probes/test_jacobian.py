"""Block and end-to-end Jacobians against known answers: the identity, I + h W2 W1 of a linear block, dense
eig/SVD against ARPACK on jvp/vjp products, and the SVD of a linear net's matrix."""

import numpy as np
import pytest
import torch
from torch import nn

from skiplab.models import calibrate_batchnorm, create_model
from skiplab.probes import jacobian as J
from skiplab.probes import block_eigenvalues, block_jacobian, end_to_end_singular_values, spectrum_summary


def linears(module):
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def x1(features, seed=0):
    return torch.randn(1, features, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def same_set(a, b, tol):
    """Every value of `a` has a partner in `b` within tol (eigenvalues come in no particular order)."""
    return len(a) <= len(b) and all(np.min(np.abs(np.asarray(b) - v)) < tol for v in a)


def test_zero_init_residual_block_is_exactly_the_identity():
    torch.manual_seed(0)
    net = create_model("resmlp", depth=2, width=12, in_channels=3, num_classes=4, zero_init=True).double()
    (_, block), *_ = net.blocks()
    assert torch.equal(block_jacobian(block, x1(12)), torch.eye(12, dtype=torch.float64))
    spectra = block_eigenvalues(net, x1(3))
    assert list(spectra) == ["stages.0.blocks.0", "stages.0.blocks.1"] and not spectra.skipped
    for mu in spectra.values():
        np.testing.assert_allclose(mu, np.ones(12), atol=1e-14)
    assert spectra.mode == "no batch norm (train and eval agree)"
    assert spectrum_summary(spectra["stages.0.blocks.0"])["median_dev"] == 0.0


def test_zero_init_preresnet_in_calibrated_eval_mode_and_downsampling_blocks_skipped():
    torch.manual_seed(0)
    net = create_model("preresnet20", depth=8, widths=(2, 4, 8), input_size=(8, 8), in_channels=1, zero_init=True)
    x = torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="calibrate_batchnorm"):
        block_eigenvalues(net, x[:1])  # batch statistics of one example are no map to differentiate
    note = calibrate_batchnorm(net, x)
    spectra = block_eigenvalues(net, x[:1], bn_mode=note)
    assert spectra.mode == note and "calibrated on 64" in note
    assert block_eigenvalues(net, x[:1]).mode == "eval (running statistics)"
    assert list(spectra) == ["stages.0.blocks.0"] and spectra.dims == {"stages.0.blocks.0": 2 * 8 * 8}
    assert set(spectra.skipped) == {"stages.1.blocks.0", "stages.2.blocks.0"}
    assert "(2, 8, 8) -> (4, 4, 4)" in spectra.skipped["stages.1.blocks.0"]
    np.testing.assert_allclose(spectra["stages.0.blocks.0"], np.ones(128), atol=1e-6)
    with pytest.raises(ValueError, match="shape-preserving"):
        block_jacobian(net.stages[1].blocks[0], torch.rand(1, 2, 8, 8))


def test_linear_block_jacobian_is_identity_plus_h_w2_w1():
    torch.manual_seed(1)
    h, width = 0.3, 10
    net = create_model("resmlp", depth=1, width=width, in_channels=3, num_classes=4, activation="identity",
                       norm="none", h=h).double()
    (_, block), = net.blocks()
    h = float(block.scale.h)  # h as the model holds it (a float32 buffer: 0.3 -> 0.30000001...)
    w1, w2 = (m.weight.detach() for m in linears(block.branch))
    expected = torch.eye(width, dtype=torch.float64) + h * w2 @ w1
    torch.testing.assert_close(block_jacobian(block, x1(width)), expected, atol=1e-13, rtol=0)
    mu = block_eigenvalues(net, x1(3), method="exact")["stages.0.blocks.0"]
    lam = np.linalg.eigvals((w2 @ w1).numpy())
    assert mu.dtype == np.complex128
    assert same_set(mu, 1 + h * lam, 1e-10) and same_set(1 + h * lam, mu, 1e-10)
    assert np.all(np.diff(np.abs(mu)) <= 1e-15)  # exact: sorted by decreasing |mu|


@pytest.mark.parametrize("target", ["magnitude", "deviation"])
def test_arnoldi_finds_the_extreme_eigenvalues_of_a_mid_size_block(target):
    torch.manual_seed(2)
    net = create_model("resmlp", depth=1, width=300, in_channels=3, num_classes=4).double()
    exact = block_eigenvalues(net, x1(3), method="exact")["stages.0.blocks.0"]
    spectra = block_eigenvalues(net, x1(3), method="arnoldi", k=6, target=target)
    mu = spectra["stages.0.blocks.0"]
    assert spectra.methods["stages.0.blocks.0"].startswith("arnoldi (k=6")
    key = (lambda z: np.abs(z)) if target == "magnitude" else (lambda z: np.abs(z - 1))
    top = np.sort(key(exact))[::-1][:6]
    np.testing.assert_allclose(np.sort(key(mu))[::-1], top, rtol=1e-8)
    assert same_set(mu, exact, 1e-8)


def test_auto_uses_arnoldi_above_the_threshold(monkeypatch):
    assert J.EXACT_MAX_DIM == 2048
    monkeypatch.setattr(J, "EXACT_MAX_DIM", 16)  # the rule, on a net small enough to be quick
    torch.manual_seed(3)
    spectra = block_eigenvalues(create_model("resmlp", depth=2, width=16, in_channels=3, num_classes=2), x1(3).float())
    assert spectra.methods["stages.0.blocks.0"] == "exact"
    net = create_model("resmlp", depth=1, width=17, in_channels=3, num_classes=2, zero_init=True)
    spectra = block_eigenvalues(net, x1(3).float(), k=3)
    assert spectra.methods["stages.0.blocks.0"] == "arnoldi (k=3, largest |mu - 1|)"
    np.testing.assert_allclose(spectra["stages.0.blocks.0"], np.ones(3), atol=1e-6)


def test_end_to_end_singular_values_of_a_linear_net_are_those_of_its_matrix():
    torch.manual_seed(4)
    std = (1.0, 2.0, 0.5, 4.0)
    net = create_model("resmlp", depth=3, width=8, in_channels=4, num_classes=3, activation="identity",
                       norm="none", h=0.7, input_std=std).double()
    # features = B_3 B_2 B_1 (W_stem diag(1/std) x + b): the bias shifts, the matrix is the Jacobian.
    matrix = linears(net.stem)[0].weight.detach() / net.normalize.std.reshape(1, -1)
    for _, block in net.blocks():
        w1, w2 = (m.weight.detach() for m in linears(block.branch))
        matrix = (torch.eye(8, dtype=torch.float64) + block.scale.h * w2 @ w1) @ matrix  # h as held: float32
    expected = np.linalg.svd(matrix.numpy(), compute_uv=False)
    sv = end_to_end_singular_values(net, x1(4))
    assert sv.method == "exact" and sv.shape == (8, 4)
    np.testing.assert_allclose(sv.values, expected, rtol=1e-10)
    top = end_to_end_singular_values(net, x1(4), method="svds", k=2)
    assert top.method == "svds (k=2)"
    np.testing.assert_allclose(top.values, expected[:2], rtol=1e-8)


def test_misuse_is_a_clear_value_error():
    net = create_model("resmlp", depth=1, width=4, in_channels=3, num_classes=2)
    with pytest.raises(ValueError, match="exactly one example"):
        block_eigenvalues(net, torch.randn(2, 3))
    with pytest.raises(ValueError, match="exactly one example"):
        end_to_end_singular_values(net, torch.randn(3))
    with pytest.raises(ValueError, match="skiplab Net"):
        block_eigenvalues(nn.Linear(3, 3), torch.randn(1, 3))
    with pytest.raises(ValueError, match="method"):
        block_eigenvalues(net, torch.randn(1, 3), method="lanczos")
    with pytest.raises(ValueError, match="at least one"):
        spectrum_summary(np.array([]))


def test_spectrum_summary_known_answer():
    s = spectrum_summary(np.array([1, 1, 2, 0.5j]))
    assert s["n"] == 4 and s["spectral_radius"] == 2.0
    assert s["median_dev"] == pytest.approx(0.5)  # |mu - 1| = 0, 0, 1, sqrt(1.25)
    assert s["median_abs"] == pytest.approx(1.0)  # |mu| = 1, 1, 2, 0.5
    assert s["p90_dev"] == pytest.approx(1 + 0.7 * (np.sqrt(1.25) - 1))
