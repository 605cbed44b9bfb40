"""The claims skiplab checks, one module per claim id (see ../shared/CLAIMS.md), and `reproduce()`."""

from __future__ import annotations

from types import ModuleType

from ..config import suggest
from ..errors import ConfigError
from . import (boosting, degradation, degradation_cause, exploding_residuals, identity_is_easy,
               jacobian_near_identity, residual_aligns_with_error, vanishing_gradients)
from . import euler_discretization, euler_stability, neural_ode, path_lengths, unrolled_ensemble
from . import dense_shortcuts, highway_gates, long_range_links, reversible_memory
from . import robustness
from . import lottery_ticket, skips_help_tickets, ticket_transfer
from . import compound_scaling, efficient_blocks, width_vs_depth
from . import tddft_euler
from .base import Claim, Context, Verdict

# In the order of ../shared/CLAIMS.md within each issue that added them.
_MODULES: tuple[ModuleType, ...] = (degradation, degradation_cause, vanishing_gradients, jacobian_near_identity,
                                    exploding_residuals, identity_is_easy, residual_aligns_with_error, boosting)
_MODULES += (euler_discretization, euler_stability, neural_ode)
_MODULES += (unrolled_ensemble, path_lengths, dense_shortcuts, highway_gates, long_range_links)
_MODULES += (reversible_memory,)
_MODULES += (robustness,)
_MODULES += (lottery_ticket, skips_help_tickets, ticket_transfer)
_MODULES += (width_vs_depth, compound_scaling, efficient_blocks)
_MODULES += (tddft_euler,)
CLAIMS: dict[str, ModuleType] = {m.CLAIM.id: m for m in _MODULES}


def get_claim(claim_id: str) -> ModuleType:
    try:
        return CLAIMS[claim_id]
    except KeyError:
        raise ConfigError(f"unknown claim {claim_id!r}{suggest(claim_id, list(CLAIMS))}; "
                          f"valid: {', '.join(CLAIMS)}") from None


def list_claims() -> dict[str, str]:
    return {cid: f"[{m.CLAIM.kind}] {m.CLAIM.statement}" for cid, m in CLAIMS.items()}


__all__ = ["CLAIMS", "Claim", "Context", "Verdict", "get_claim", "list_claims"]
