"""Which `--set` assignments a claim with its own scale dataclass takes."""

from __future__ import annotations

from dataclasses import fields


def own_overrides(overrides: tuple[str, ...], cls: type) -> tuple[str, ...]:
    """The --set assignments for a claim with scale `cls`. One reproduce call shares them among all its claims, so
    keys only the depth ladder's scale has (e.g. jacobian_depth) are left to it; a key nobody has still raises."""
    from .ladder import LadderScale
    mine, ladder = {f.name for f in fields(cls)}, {f.name for f in fields(LadderScale)}
    key = lambda a: a.partition("=")[0].strip().split(".")[0]  # noqa: E731
    return tuple(a for a in overrides if key(a) in mine or key(a) not in ladder)
