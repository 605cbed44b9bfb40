"""What every attack shares: the L-inf / L2 geometry (a step direction, the projection onto the epsilon-ball, a
random start inside it). The logit margin and the attack-time model mode are in `skiplab.guards`, which the
Lipschitz probe uses too."""

from __future__ import annotations

from typing import Literal

import torch

Norm = Literal["linf", "l2"]
NORMS = ("linf", "l2")


def check(eps: float, norm: str) -> None:
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")
    if not eps >= 0:
        raise ValueError(f"epsilon must be >= 0, got {eps}")


def _flat_norm(t: torch.Tensor) -> torch.Tensor:
    """Per-example L2 norm, shaped to broadcast over t: (N, ...) -> (N, 1, ...)."""
    return t.flatten(1).norm(dim=1).view(-1, *([1] * (t.dim() - 1)))


def direction(grad: torch.Tensor, norm: Norm) -> torch.Tensor:
    """The steepest-ascent direction of unit `norm` for a linear approximation: sign(g) for L-inf, g / ||g|| for
    L2 (0 where the gradient is 0)."""
    if norm == "linf":
        return grad.sign()
    return grad / _flat_norm(grad).clamp_min(1e-30)


def project(delta: torch.Tensor, eps: float, norm: Norm) -> torch.Tensor:
    """The closest point to each delta in the eps-ball of `norm`."""
    if norm == "linf":
        return delta.clamp(-eps, eps)
    n = _flat_norm(delta)
    return delta * torch.where(n > eps, eps / n.clamp_min(1e-30), torch.ones_like(n))


def random_start(x: torch.Tensor, eps: float, norm: Norm, g: torch.Generator) -> torch.Tensor:
    """A random point of the eps-ball around each example. L-inf: uniform in the cube. L2: a direction uniform on
    the sphere and a radius uniform in [0, eps], the start of torchattacks' PGDL2 (and advertorch's). Not uniform in
    volume: in d dimensions that puts the radius near eps (mean d / (d + 1) eps), a start on the sphere's shell that
    measurably weakened PGD (robust accuracy 0.160 against torchattacks' 0.127 on the same net, issue 21)."""
    if norm == "linf":
        u = torch.rand(x.shape, generator=g, dtype=x.dtype)
        return ((2 * u - 1) * eps).to(x.device)
    z = torch.randn(x.shape, generator=g, dtype=x.dtype)
    r = torch.rand((x.shape[0],), generator=g, dtype=x.dtype)
    z = z / _flat_norm(z).clamp_min(1e-30) * (eps * r).view(-1, *([1] * (x.dim() - 1)))
    return z.to(x.device)


def boundary_start(x: torch.Tensor, eps: float, norm: Norm, g: torch.Generator) -> torch.Tensor:
    """A random point on the eps-ball's boundary, APGD's start (Croce & Hein 2020, as in their autoattack code):
    L-inf, uniform noise scaled so its largest entry is eps; L2, a direction uniform on the sphere of radius eps."""
    shape = (-1,) + (1,) * (x.dim() - 1)
    if norm == "linf":
        t = 2 * torch.rand(x.shape, generator=g, dtype=x.dtype) - 1
        return (eps * t / t.flatten(1).abs().amax(1).clamp_min(1e-30).view(shape)).to(x.device)
    z = torch.randn(x.shape, generator=g, dtype=x.dtype)
    return (eps * z / _flat_norm(z).clamp_min(1e-30)).to(x.device)
