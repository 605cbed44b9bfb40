"""Finite-difference orders, the soft-Coulomb LDA against its defining integrals, and v = de/dn (float64)."""

import numpy as np
import pytest
from scipy.integrate import quad

from skiplab.errors import ConfigError
from skiplab.physics import Grid
from skiplab.physics.functionals import correlation_lda, exchange_lda


@pytest.mark.parametrize("order", [2, 4, 8])
def test_kinetic_stencil_converges_at_its_order(order):
    errs = []
    for dx in (0.2, 0.1):
        g = Grid(8.0, dx, order)
        f = np.exp(-g.x ** 2)  # -1/2 f'' = (1 - 2 x^2) e^{-x^2}
        inner = slice(order, -order)  # away from the walls
        errs.append(np.max(np.abs(g.kinetic(f) - (1 - 2 * g.x ** 2) * f)[inner]))
    assert np.log2(errs[0] / errs[1]) == pytest.approx(order, abs=0.3)


def test_grid_rejects_bad_boxes():
    for kw in ({"dx": 0.0}, {"half_width": 1.0, "dx": 0.3}, {"order": 5}):
        with pytest.raises(ConfigError):
            Grid(**kw)


def _exchange_by_quadrature(n, polarized):
    """e_x = -(g/2) sum over spins int |gamma(r)|^2 w(r) dr with gamma = sin(k_F r) / (pi r): the definition."""
    g = 1 if polarized else 2
    kf = np.pi * n / g
    f = lambda r: (np.sin(kf * r) / (np.pi * r)) ** 2 / np.sqrt(r * r + 1)  # noqa: E731
    # the integrand is below 1 / (pi^2 r^3): the tail past r = 4000 is under 1 / (2 pi^2 4000^2) ~ 3e-9
    integral = 2 * sum(quad(f, a, a + 50, limit=400)[0] for a in range(0, 4000, 50))
    return -0.5 * g * integral


@pytest.mark.parametrize("polarized", [False, True])
def test_lda_exchange_matches_its_defining_integral(polarized):
    for n in (0.05, 0.4, 2.0):
        e, _ = exchange_lda(np.array([n]), polarized)
        assert e[0] == pytest.approx(_exchange_by_quadrature(n, polarized), rel=1e-6)
    # high density: a hole narrower than the softening, e_x -> -n/2
    assert exchange_lda(np.array([200.0]), polarized)[0][0] / 200 == pytest.approx(-0.5, rel=2e-2)


@pytest.mark.parametrize("part", [exchange_lda, correlation_lda])
@pytest.mark.parametrize("polarized", [False, True])
def test_lda_potential_is_the_density_derivative(part, polarized):
    n = np.array([1e-3, 0.02, 0.3, 1.0, 5.0])
    h = 1e-6 * n
    de = (part(n + h, polarized)[0] - part(n - h, polarized)[0]) / (2 * h)
    assert np.allclose(part(n, polarized)[1], de, rtol=1e-6, atol=1e-10)
    assert np.all(part(n, polarized)[0] < 0)
