"""Stochastic Lanczos quadrature against known answers: a symmetric matrix of known spectrum, an operator of low rank
(Lanczos stops at its invariant subspace and the nodes are its eigenvalues), the singular values of a known J - I
through jvp/vjp, a zero branch (J - I = 0 exactly) and a zero plain block (J - I = -I), Weyl's bound of the
eigenvalues by the singular values on a real block, the density's statistics on hand-computed cases, and Jensen's
eigenvalue counts against exact eigenvalues (a far-from-normal matrix of known spectrum, the identity map, a dead
layer, a real block)."""

import numpy as np
import pytest
import torch

from skiplab.models import calibrate_batchnorm, create_model
from skiplab.probes import block_jacobian
from skiplab.probes import spectral_density as sd

pytestmark = pytest.mark.usefixtures("one_thread")


def uniform(values):
    values = np.asarray(values, dtype=float)
    return sd.Density(values, np.full(len(values), 1 / len(values)))


def conjugated(spectrum, seed):
    """Q diag(spectrum) Q^T for a random orthogonal Q."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((len(spectrum), len(spectrum))))
    return q @ np.diag(spectrum) @ q.T


def test_density_statistics_by_hand():
    d = sd.Density(np.array([0.0, 1.0, 2.0, 4.0]), np.array([0.4, 0.3, 0.2, 0.1]))
    assert d.upper_tail_mean(0.1) == pytest.approx(4.0)
    assert d.upper_tail_mean(0.2) == pytest.approx((0.1 * 4 + 0.1 * 2) / 0.2)  # the node at the cut splits
    assert d.upper_tail_mean(1.0) == pytest.approx(d.integral(lambda x: x)) == pytest.approx(1.1)
    assert d.quantile(0.4) == 0.0 and d.quantile(0.5) == 1.0 and d.quantile(0.9) == 2.0 and d.quantile(1.0) == 4.0
    assert d.mass_at_most(1.0) == pytest.approx(0.7) and d.mass_at_most(-1) == 0.0
    m = sd.mixture([(uniform([0.0]), 3.0), (uniform([1.0, 3.0]), 1.0)])
    assert m.integral(lambda x: x) == pytest.approx(0.5) and m.weights.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="fraction"):
        d.upper_tail_mean(0.0)


def test_slq_recovers_a_known_spectrum():
    # half the spectrum at 0 (a rank-deficient branch), half spread over [0.2, 1.5]
    s = np.concatenate([np.zeros(200), np.linspace(0.2, 1.5, 200)])
    m = torch.tensor(conjugated(s, 0))
    d = sd.quadrature(sd.lanczos(lambda v: v @ m, sd.rademacher((64, len(s)), 0, m), 30))
    exact = uniform(s)
    assert d.weights.sum() == pytest.approx(1.0)
    for f in (lambda x: x, np.square, lambda x: x ** 3):  # Hutchinson: 64 probes of a 400-dim matrix
        assert d.integral(f) == pytest.approx(exact.integral(f), rel=0.03)
    assert d.upper_tail_mean(0.1) == pytest.approx(exact.upper_tail_mean(0.1), abs=0.03)
    assert d.quantile(0.9) == pytest.approx(exact.quantile(0.9), abs=0.05)
    assert d.mass_at_most(0.1) == pytest.approx(0.5, abs=0.03)


def test_lanczos_stops_at_an_invariant_subspace_and_its_nodes_are_the_eigenvalues():
    s = np.repeat([0.0, 0.5, 2.0, 3.0], 25)  # four distinct eigenvalues: every Krylov space has dimension <= 4
    m = torch.tensor(conjugated(s, 1))
    tri = sd.lanczos(lambda v: v @ m, sd.rademacher((3, len(s)), 1, m), 20)
    assert [len(a) for a, _ in tri] == [4, 4, 4]
    d = sd.quadrature(tri)
    assert all(np.min(np.abs(np.unique(s) - x)) < 1e-10 for x in d.nodes)
    zero = sd.quadrature(sd.lanczos(lambda v: 0 * v, sd.rademacher((2, 10), 0, m), 20))  # the zero operator: one node 0
    np.testing.assert_array_equal(zero.nodes, [0.0, 0.0])


def test_singular_values_of_a_known_j_minus_i_through_jvp_and_vjp():
    d = 300
    rng = np.random.default_rng(2)
    sigma = np.concatenate([np.zeros(150), np.linspace(0.05, 1.2, 150)])
    u, _ = np.linalg.qr(rng.standard_normal((d, d)))
    v, _ = np.linalg.qr(rng.standard_normal((d, d)))
    a = torch.tensor(u @ np.diag(sigma) @ v.T)
    dens = sd.singular_value_density(lambda x: x + x @ a.T, torch.randn(32, d, dtype=torch.float64), 2, 30)
    exact = uniform(sigma)
    assert dens.upper_tail_mean(0.1) == pytest.approx(exact.upper_tail_mean(0.1), abs=0.02)
    assert dens.integral(np.square) == pytest.approx(exact.integral(np.square), rel=0.05)  # ||A||_F^2 / D
    assert dens.mass_at_most(0.5) == pytest.approx(exact.mass_at_most(0.5), abs=0.05)


def test_zero_branch_gives_j_minus_i_exactly_zero_and_a_zero_plain_block_gives_minus_i():
    torch.manual_seed(0)
    x = torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    for name, sigma in (("preresnet20", 0.0), ("plain-preresnet20", 1.0)):
        net = create_model(name, depth=8, widths=(2, 4, 8), input_size=(8, 8), in_channels=1, zero_init=True)
        with pytest.raises(ValueError, match="calibrate_batchnorm"):
            sd.block_deviation_spectra(net, x[:4])  # batch statistics tie the examples' Jacobians together
        note = calibrate_batchnorm(net, x)
        spectra = sd.block_deviation_spectra(net, x[:4], probes=2, steps=10, bn_mode=note)
        assert list(spectra.blocks) == ["stages.0.blocks.0"] and spectra.dims == {"stages.0.blocks.0": 128}
        assert set(spectra.skipped) == {"stages.1.blocks.0", "stages.2.blocks.0"} and spectra.mode == note
        assert spectra.examples == 4 and spectra.probes == 2 and spectra.steps == 10
        np.testing.assert_allclose(spectra.pooled.nodes, sigma, atol=1e-6)
        assert len(spectra.pooled.nodes) == 8  # an operator that is a multiple of I stops after one step


def test_the_tail_mean_of_the_singular_values_bounds_the_eigenvalues_of_a_real_block():
    # Weyl: the largest 10% of |mu - 1| sum to at most the largest 10% of sigma(J - I), so the SLQ tail mean (within
    # its error) lies at or above the exact 90th percentile of |mu - 1|, here at one example
    torch.manual_seed(3)
    net = create_model("preresnet20", depth=8, widths=(4, 8, 16), input_size=(8, 8), in_channels=1).double()
    x = torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    calibrate_batchnorm(net, x)
    spectra = sd.block_deviation_spectra(net, x[:1], probes=16, steps=30)
    block = net.stages[0].blocks[0]
    jac = block_jacobian(block, net.block_outputs(x[:1])["stem"]).numpy()
    dev = np.abs(np.linalg.eigvals(jac) - 1)
    sv = np.linalg.svd(jac - np.eye(len(jac)), compute_uv=False)
    slq = spectra.blocks["stages.0.blocks.0"].upper_tail_mean(0.1)
    assert slq == pytest.approx(uniform(sv).upper_tail_mean(0.1), rel=0.05)
    assert uniform(sv).upper_tail_mean(0.1) >= uniform(dev).upper_tail_mean(0.1) >= np.quantile(dev, 0.9)
    assert slq > np.quantile(dev, 0.9)


def test_misuse_is_a_clear_value_error():
    net = create_model("resmlp", depth=1, width=4, in_channels=3, num_classes=2)
    with pytest.raises(ValueError, match="probes"):
        sd.block_deviation_spectra(net, torch.randn(2, 3), probes=0)
    with pytest.raises(ValueError, match="skiplab Net"):
        sd.block_deviation_spectra(torch.nn.Linear(3, 3), torch.randn(2, 3))
    with pytest.raises(ValueError, match="shape-preserving"):
        sd.singular_value_density(lambda x: x[:, :2], torch.randn(2, 3), 1, 3)
    with pytest.raises(ValueError, match="lanczos"):
        sd.lanczos(lambda v: v, torch.randn(3), 3)


def exact_profile(lam, radii):
    return np.array([np.mean(np.log(np.maximum(np.abs(lam), r))) for r in radii])


def test_jensen_profile_counts_the_eigenvalues_of_a_far_from_normal_matrix():
    # A = S diag(lambda) S^-1 with cond(S) = 9: half the eigenvalues 0 (a ReLU-masked branch), half real and spread
    # over |lambda| in [0.1, 1.2]; its singular values overstate the eigenvalues ~3x, as on trained blocks
    d, rng = 200, np.random.default_rng(5)
    lam = np.concatenate([np.zeros(100), rng.choice([-1, 1], 100) * np.linspace(0.1, 1.2, 100)])
    q1, _ = np.linalg.qr(rng.standard_normal((d, d)))
    q2, _ = np.linalg.qr(rng.standard_normal((d, d)))
    s = q1 @ np.diag(np.geomspace(1 / 3, 3, d)) @ q2
    a = s @ np.diag(lam) @ np.linalg.inv(s)
    radii = (0.5 / np.sqrt(2), 0.5 * np.sqrt(2), np.sqrt(2))
    at = torch.tensor(a)
    phi = sd.jensen_profile(lambda x: x + x @ at.T, torch.zeros(32, d, dtype=torch.float64), radii, 40).mean(0)
    share, exact = np.diff(phi) / np.log(2), np.diff(exact_profile(lam, radii)) / np.log(2)
    np.testing.assert_allclose(share, exact, atol=0.025)
    assert 0.6 < exact[0] < 0.8 and 0.85 < exact[1] < 0.95  # the shares are not trivial
    sv = np.linalg.svd(a, compute_uv=False)
    assert uniform(sv).upper_tail_mean(0.1) > 2 * np.quantile(np.abs(lam), 0.9)  # far from normal indeed


def test_jensen_profile_of_the_identity_map_is_log_r_and_of_a_dead_layer_is_zero_below_1():
    radii = (0.3, 0.6, 1.2)
    same = sd.jensen_profile(lambda x: x, torch.randn(8, 20, dtype=torch.float64), radii, 10)
    np.testing.assert_allclose(same, np.tile(np.log(radii), (8, 1)), atol=1e-12)  # A = 0: Phi(r) = log r
    dead = sd.jensen_profile(lambda x: 0 * x, torch.randn(32, 20, dtype=torch.float64), radii, 10).mean(0)
    np.testing.assert_allclose(dead, [0.0, 0.0, np.log(1.2)], atol=1e-6)  # A = -I: Phi(r) = log max(1, r)
    with pytest.raises(ValueError, match="steps >= 2"):
        sd.jensen_profile(lambda x: x, torch.randn(2, 3), radii, 1)


def test_block_eigen_profile_matches_the_exact_eigenvalues_of_a_real_block():
    # the second block: the first block's input at init is the stem's output, on which J is far from normal in the
    # way the estimator resolves late (measure it trained; see the module docstring)
    torch.manual_seed(4)
    net = create_model("preresnet20", depth=14, widths=(4, 8, 16), input_size=(8, 8), in_channels=1).double()
    x = torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    note = calibrate_batchnorm(net, x)
    radii = (0.5 / np.sqrt(2), 0.5 * np.sqrt(2), np.sqrt(2))
    prof = sd.block_eigen_profile(net, x[:16], radii, steps=40, bn_mode=note)
    assert list(prof.blocks) == ["stages.0.blocks.0", "stages.0.blocks.1", "stages.1.blocks.1", "stages.2.blocks.1"]
    assert prof.mode == note and prof.examples == 16 and prof.dims["stages.2.blocks.1"] == 64
    inputs = net.block_outputs(x[:16])["stages.0.blocks.0"]
    lam = [np.linalg.eigvals(block_jacobian(net.stages[0].blocks[1], inputs[i:i + 1]).numpy() - np.eye(256))
           for i in range(16)]
    exact = np.mean([exact_profile(v, radii) for v in lam], 0)
    np.testing.assert_allclose(prof.blocks["stages.0.blocks.1"], exact, atol=0.05)  # 16 probes of 256 dimensions
    for i in (0, 1):
        share = (exact[i + 1] - exact[i]) / np.log(2)
        assert prof.fraction(radii[i], radii[i + 1], "stages.0.blocks.1") == pytest.approx(share, abs=0.03)
        assert 0.05 < share < 0.98  # not trivial
