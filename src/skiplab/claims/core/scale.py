"""Which `--set` assignments a claim with its own scale dataclass takes, and the scale they resolve to."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

from skiplab import config as C

S = TypeVar("S")


def own_overrides(overrides: tuple[str, ...], cls: type) -> tuple[str, ...]:
    """The --set assignments for a claim with scale `cls`. One reproduce call shares them among all its claims, so
    keys only the depth ladder's scale has (e.g. jacobian_depth) are left to it; a key nobody has still raises."""
    from skiplab.claims.depth.ladder import LadderScale
    mine, ladder = {f.name for f in fields(cls)}, {f.name for f in fields(LadderScale)}
    key = lambda a: a.partition("=")[0].strip().split(".")[0]  # noqa: E731
    return tuple(a for a in overrides if key(a) in mine or key(a) not in ladder)


def resolve_scale(ctx: Any, quick: S, full: S, *, data_key: str | None = None, steps_key: str | None = None) -> S:
    """The claim's scale for `ctx`: QUICK or FULL, the --data override into field `data_key`, a smoke run's step
    cap (ctx.max_steps) on field `steps_key`, then the claim's own --set assignments."""
    d = C.to_dict(quick if ctx.scale == "quick" else full)
    if data_key and ctx.data:
        d[data_key] = ctx.data
    if steps_key and ctx.max_steps is not None:
        d[steps_key] = min(d[steps_key], ctx.max_steps)
    cls = type(quick)
    return C.from_dict(cls, C.apply_overrides(d, own_overrides(ctx.overrides, cls)), "scale")
