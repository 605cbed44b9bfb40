"""Callbacks in a population: each model has its own list, called where fit() calls them, on its own TrainState
(the real model i, its own optimizer, its run folder), in its own global RNG stream (rng.py).

The sync (fit_population's `call`): under vmap the weights live in the stack, not in model i, so before model i's
hooks run its slice of the stacked parameters, buffers, optimizer state and schedule is copied into the real model
and optimizer ("sync out", PopulationStep.unstack), and after them the model's parameters and buffers go back into
the stack ("sync in", PopulationStep.restack): a probe's train-mode forward may move batch-norm statistics (ours
restore them) and a callback may change weights. Under "loop" the real model is the one that trains: both are
no-ops. Per step only the models whose callbacks do something on_step_end are synced (`has_step_hook`), so runs
that record probes once an epoch pay nothing per step."""

from __future__ import annotations

from typing import Any, Sequence

from ...errors import ConfigError
from ..callbacks import Callback


def has_step_hook(cb: Any) -> bool:
    """Whether `cb` does anything on_step_end: its class overrides Callback.on_step_end. A wrapper that holds the
    callback it forwards to as `.recorder` (claims.core.runspec.PersistedRecorder, which persists a probe recorder's
    records) has one when that callback has."""
    if type(cb).on_step_end is Callback.on_step_end:
        return False
    inner = getattr(cb, "recorder", None)
    return has_step_hook(inner) if isinstance(inner, Callback) else True


def per_model(callbacks: Sequence[Sequence[Callback]] | None, n: int) -> list[list[Callback]]:
    """fit_population's `callbacks`: None (or empty) for none, else one list of callbacks per model."""
    if callbacks is None or (not isinstance(callbacks, Callback) and len(callbacks) == 0):
        return [[] for _ in range(n)]
    if isinstance(callbacks, Callback) or any(isinstance(c, Callback) or not isinstance(c, Sequence)
                                              for c in callbacks):
        raise ConfigError("population: callbacks are one list of callbacks per model (model i's own), e.g. "
                          "[[probe_0], [probe_1]]; a callback sees one model")
    if len(callbacks) != n:
        raise ConfigError(f"population: {n} models need {n} lists of callbacks, got {len(callbacks)}")
    lists = [list(c) for c in callbacks]
    seen: dict[int, int] = {}
    for i, c in enumerate(lists):
        for cb in c:
            if seen.setdefault(id(cb), i) != i:
                raise ConfigError("population: one callback object is in the lists of two models; a callback "
                                  "records one model (give each its own)")
    return lists


def counts_in_forward(model: Any) -> bool:
    """Whether the model keeps Python-side counts of its forward passes (ODE blocks' NFE, `reset_nfe`): under vmap
    the training forward runs through the population's stateless copy of the net, so those counts never reach the
    model a callback sees."""
    return any(hasattr(m, "reset_nfe") for m in model.modules())
