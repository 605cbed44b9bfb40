"""Which `--set` assignments a claim with its own scale dataclass takes, and the scale they resolve to.

One reproduce call shares its `--set` assignments among all its claims. A scale whose keys every claim should
tolerate (the depth ladder's, which several chapters read) is marked `@shared`: a claim leaves those keys to it. Any
other key must be a field of the claim's own scale, so a key no claim has raises."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

from skiplab import config as C
from skiplab.errors import ConfigError

S = TypeVar("S")
T = TypeVar("T", bound=type)
SHARED: list[type] = []  # scale classes marked @shared


def shared(cls: T) -> T:
    """Mark a scale dataclass as shared: its `--set` keys are left to it by every other claim's scale."""
    SHARED.append(cls)
    return cls


def own_overrides(overrides: tuple[str, ...], cls: type) -> tuple[str, ...]:
    """The --set assignments for a claim with scale `cls`: those naming its fields, and those naming no shared
    scale's field (so that an unknown key raises); keys only a shared scale has (e.g. the ladder's jacobian_depth)
    are left to it."""
    mine = {f.name for f in fields(cls)}
    others = {f.name for s in SHARED if s is not cls for f in fields(s)}
    key = lambda a: a.partition("=")[0].strip().split(".")[0]  # noqa: E731
    return tuple(a for a in overrides if key(a) in mine or key(a) not in others)


def resolve_scale(ctx: Any, quick: S, full: S, *, cifar: S | None = None, data_key: str | None = None,
                  steps_key: str | None = None) -> S:
    """The claim's scale for `ctx`: QUICK, CIFAR (only where the claim has one) or FULL, the --data override into
    field `data_key`, a smoke run's step cap (ctx.max_steps) on field `steps_key`, then the claim's own --set
    assignments."""
    if ctx.scale == "cifar" and cifar is None:
        raise ConfigError(f"scale cifar: {type(quick).__name__} has no cifar setting (see SCALES in the claims)")
    d = C.to_dict({"quick": quick, "cifar": cifar, "full": full}[ctx.scale])
    if data_key and ctx.data:
        d[data_key] = ctx.data
    if steps_key and ctx.max_steps is not None:
        d[steps_key] = min(d[steps_key], ctx.max_steps)
    cls = type(quick)
    return C.from_dict(cls, C.apply_overrides(d, own_overrides(ctx.overrides, cls)), "scale")


DEFAULT_SCALES = ("quick", "full")


def scales_of(claim: Any) -> tuple[str, ...]:
    """The scales a claim module runs at: its SCALES, else quick and full. The cifar scale is the depth ladder's
    (claims/depth/ladder.py): the claims that read only the ladder's runs declare it."""
    return tuple(getattr(claim, "SCALES", DEFAULT_SCALES))
