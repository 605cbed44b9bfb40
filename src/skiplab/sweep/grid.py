"""A sweep's grid: axes of dotted config keys, each with its values (`model.depth=8,14,20`), and the points of
their product, each a {key: value} to lay over the base config of the runs."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from skiplab import config as C
from skiplab.errors import ConfigError


@dataclass(frozen=True)
class Axis:
    key: str  # a dotted config key, as `--set` takes it: model.depth, train.lr, data.name
    values: tuple[Any, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key.strip() or self.key.strip() != self.key:
            raise ConfigError(f"grid: a key must be a dotted config key such as model.depth, got {self.key!r}")
        if self.key == "seed":
            raise ConfigError("grid: seeds are not a grid axis; give --seeds N (seeds 0..N-1 at every point)")
        if not self.values:
            raise ConfigError(f"grid {self.key}: give at least one value, e.g. {self.key}=1,2")
        if len({C.stable_hash(v) for v in self.values}) != len(self.values):
            raise ConfigError(f"grid {self.key}: a value is listed twice ({', '.join(map(str, self.values))})")


def split_top_level(text: str) -> list[str]:
    """`text` split at commas outside brackets and braces: "1,[2,3],4" -> ["1", "[2,3]", "4"]."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts]


def parse_axis(text: str) -> Axis:
    """`KEY=V1,V2,...` (values parsed as `--set` parses one: YAML scalars and lists) -> Axis."""
    key, sep, values = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--grid {text!r}: expected KEY=V1,V2,..., e.g. model.depth=8,14,20")
    parts = split_top_level(values)
    if any(not p for p in parts):
        raise ConfigError(f"--grid {text!r}: an empty value (two commas, or one at an end)")
    return Axis(key.strip(), tuple(C.parse_value(p) for p in parts))


def axes_from(grid: Mapping[str, Sequence[Any]] | Sequence[Axis]) -> list[Axis]:
    """Axes from {key: values} (the Python call) or as they are; each key once."""
    axes = [Axis(k, tuple(v)) for k, v in grid.items()] if isinstance(grid, Mapping) else list(grid)
    keys = [a.key for a in axes]
    if not axes:
        raise ConfigError("grid: give at least one axis, e.g. --grid model.depth=8,14,20")
    dup = next((k for k in keys if keys.count(k) > 1), None)
    if dup:
        raise ConfigError(f"grid: {dup} is given twice; list all its values in one --grid {dup}=...")
    return axes


def points(axes: Sequence[Axis]) -> list[dict[str, Any]]:
    """Every combination of the axes' values, the first axis varying slowest."""
    return [dict(zip((a.key for a in axes), combo)) for combo in itertools.product(*(a.values for a in axes))]
