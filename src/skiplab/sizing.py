"""Sizing a model to a FLOPs budget: find the value of one config field (a width, depth or resolution multiplier)
at which a registered model's FLOPs (skiplab.flop_count: 2 x multiply-adds of convs and matmuls, per example) come
closest to a budget, and refuse when the closest is more than `tolerance` away.

FLOPs are a step function of a multiplier (channels, blocks and pixels are integers), so the search brackets the
budget on a coarse geometric grid, narrows the bracket down to the step by log-log interpolation, and returns the
best value it evaluated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from .errors import ConfigError
from .flop_count import flops
from .models import create_model, model_config

TOLERANCE = 0.05  # the claims' fairness rule: FLOPs matched within 5%


@dataclass(frozen=True)
class Sized:
    overrides: dict[str, Any]  # the fixed overrides plus the knob's value: create_model(name, **overrides)
    flops: int  # forward FLOPs per example at that value
    budget: float

    @property
    def error(self) -> float:
        """Relative distance from the budget, (flops - budget) / budget."""
        return self.flops / self.budget - 1


def model_flops(name: str, input_shape: Sequence[int], **overrides: Any) -> int:
    """Forward FLOPs of one example of shape `input_shape` (C, H, W) for preset `name` with `overrides`."""
    kw = {"in_channels": input_shape[0], "input_size": tuple(input_shape[1:]), **overrides}
    # On the CPU, not the meta device: meta decomposes batch norm op by op, 2-3x slower for these small nets.
    # fork_rng: drawing the throw-away weights must not move the caller's random stream.
    with torch.random.fork_rng(devices=[]), torch.device("cpu"):
        return int(flops(create_model(name, **kw), tuple(input_shape), backward=False)["forward"])


def size_to_budget(name: str, budget: float, input_shape: Sequence[int], knob: str = "width_mult",
                   lo: float = 0.25, hi: float = 4.0, tolerance: float = TOLERANCE, **fixed: Any) -> Sized:
    """The value of config field `knob` in [lo, hi] whose forward FLOPs are closest to `budget` (with the other
    overrides `fixed`); ConfigError if even the closest misses by more than `tolerance` (relative). An int field
    (e.g. `resolution`) is searched over integers. Values the config refuses are skipped."""
    sized = closest_to_budget(name, budget, input_shape, knob, lo, hi, **fixed)
    if abs(sized.error) > tolerance:
        raise ConfigError(f"size_to_budget: {name} cannot reach {budget:.4g} FLOPs within {tolerance:.0%} by "
                          f"{knob} in [{lo}, {hi}]; closest {sized.flops:.4g} at {knob}={sized.overrides[knob]:.4g}")
    return sized


def closest_to_budget(name: str, budget: float, input_shape: Sequence[int], knob: str = "width_mult",
                      lo: float = 0.25, hi: float = 4.0, **fixed: Any) -> Sized:
    """As `size_to_budget`, but returns the closest value however far it is (the caller judges the miss)."""
    if budget <= 0 or not 0 < lo < hi:
        raise ConfigError(f"size_to_budget: need budget > 0 and 0 < lo < hi, got {budget}, {lo}, {hi}")
    if not hasattr(model_config(name), knob):
        raise ConfigError(f"size_to_budget: {name} has no config field {knob!r}")
    default = getattr(model_config(name), knob)
    integer = isinstance(default, int) and not isinstance(default, bool)
    seen: dict[float, int | None] = {}

    def at(v: float) -> int | None:
        v = int(round(v)) if integer else v
        if v not in seen:
            try:
                seen[v] = model_flops(name, input_shape, **{**fixed, knob: v})
            except ConfigError:  # a value the config refuses (e.g. too narrow): skipped
                seen[v] = None
        return seen[v]

    # A bracket [a, b] with f(a) <= budget < f(b), narrowed by interpolating log FLOPs against log knob (FLOPs
    # are ~ a power of a multiplier: width^2, resolution^2, depth^1), so a few model builds land on the step.
    points = [lo * (hi / lo) ** (i / 3) for i in range(4)]
    valid = [(p, f) for p in points if (f := at(p)) is not None]
    if not valid:
        raise ConfigError(f"size_to_budget: no valid {knob} in [{lo}, {hi}] for {name}")
    below = [(p, f) for p, f in valid if f <= budget]
    above = [(p, f) for p, f in valid if f > budget]
    if below and above:
        (a, fa), (b, fb) = max(below), min(above)
        for _ in range(24):  # stop at the step (a bracket of 1e-3), or once within 1% (a fifth of the tolerance)
            if (integer and b - a <= 1) or (not integer and b - a <= 1e-3 * b) or abs(fa / budget - 1) < 0.01:
                break
            t = math.log(budget / fa) / math.log(fb / fa) if fa > 0 and fb > fa else 0.5
            t = min(max(t, 0.1), 0.9)  # keep inside the bracket so it always shrinks
            v = a * (b / a) ** t
            f = at(v)
            if f is None or abs(f / budget - 1) < 0.01:
                break
            if integer:
                v = int(round(v))
            (a, fa), (b, fb) = ((v, f), (b, fb)) if f <= budget else ((a, fa), (v, f))
    best = min(((v, f) for v, f in seen.items() if f is not None), key=lambda vf: abs(math.log(vf[1] / budget)))
    return Sized({**fixed, knob: best[0]}, best[1], float(budget))
