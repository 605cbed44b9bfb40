"""The claims skiplab checks, grouped in chapters by topic (docs/design.md has the map), and `reproduce()`.

A claim is one module, or one package (rule / measure / present) when it is big; every one satisfies the contract in
core/contract.py. This module is the registry: the claims in the order of the claims table."""

from __future__ import annotations

from skiplab.config import suggest
from skiplab.errors import ConfigError

from .adversarial import robustness
from .blocks import boosting, jacobian_near_identity, residual_aligns_with_error
from .core.contract import Claim, ClaimModule, Context, Verdict, check_claim_module
from .depth import degradation, degradation_cause, exploding_residuals, identity_is_easy, vanishing_gradients
from .memory import reversible_memory
from .ode import euler_discretization, euler_stability, neural_ode, tddft_euler
from .paths import path_lengths, unrolled_ensemble
from .scaling import compound_scaling, efficient_blocks, width_vs_depth
from .shortcuts import dense_shortcuts, highway_gates, long_range_links
from .tickets import lottery_ticket, skips_help_tickets, ticket_transfer

_ORDER = (
    degradation, degradation_cause, vanishing_gradients, jacobian_near_identity, exploding_residuals,
    identity_is_easy, residual_aligns_with_error, boosting,
    euler_discretization, euler_stability, neural_ode,
    unrolled_ensemble, path_lengths, dense_shortcuts, highway_gates, long_range_links,
    reversible_memory, robustness,
    lottery_ticket, skips_help_tickets, ticket_transfer,
    width_vs_depth, compound_scaling, efficient_blocks,
    tddft_euler,
)
CLAIMS: dict[str, ClaimModule] = {}
for _claim in _ORDER:
    check_claim_module(_claim)
    if _claim.CLAIM.id in CLAIMS:
        raise ValueError(f"claim {_claim.CLAIM.id!r} is registered twice")
    CLAIMS[_claim.CLAIM.id] = _claim


def get_claim(claim_id: str) -> ClaimModule:
    try:
        return CLAIMS[claim_id]
    except KeyError:
        raise ConfigError(f"unknown claim {claim_id!r}{suggest(claim_id, list(CLAIMS))}; "
                          f"valid: {', '.join(CLAIMS)}") from None


def list_claims() -> dict[str, str]:
    from .core.scale import scales_of
    return {cid: f"[{m.CLAIM.kind}; scales {'/'.join(scales_of(m))}] {m.CLAIM.statement}" for cid, m in CLAIMS.items()}


__all__ = ["CLAIMS", "Claim", "ClaimModule", "Context", "Verdict", "get_claim", "list_claims"]
