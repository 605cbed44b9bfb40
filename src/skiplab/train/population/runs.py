"""`run_population`: run_training for N configs that differ only in seed, trained together by fit_population."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from ... import config as C
from ..._atomic import write_json
from ...data.dataset import Dataset
from ...errors import ConfigError
from .. import distributed as D
from ..checkpoint import STATE, read_state
from ..lock import clear_run_folder, only_lock_left, run_locks
from ..run_identity import CONFIG, check_same_run
from ..experiment import Existing, RunConfig, RunHooks, RunOutcome, build_model, hashed_config, training_device
from ..runs import RESULT, read_result
from .fit import fit_population
from .rng import rng_state


def _seedless(cfg: RunConfig) -> RunConfig:
    return dataclasses.replace(cfg, seed=0)


def run_population(cfgs: Sequence[RunConfig], folders: Sequence[str | Path], data: Dataset, *,
                   existing: Existing = "resume", hooks: RunHooks = RunHooks(), verbose: bool = True,
                   extras: Sequence[Mapping[str, Any] | None] | Mapping[str, Any] | None = None,
                   strategy: str = "auto") -> list[RunOutcome]:
    """run_training for N configs that differ only in seed, trained together: each folder ends as run_training
    would leave it (config.json, the run's files), so locate_run finds it and claims read it as a separate run.
    Finished folders are reused; the unfinished ones train together (resumed ones grouped by the epoch they are
    at: each group one population). `extras` is run_training's `extra` (what the folder's hash covers besides
    the config): one mapping for all runs or one per run; `strategy` as fit_population's. `hooks.prepare` runs
    on each freshly built model; `hooks.callbacks(folder)` gives each run its callbacks, as run_training's does
    (each run's own objects: it is called once per folder). An outcome's `seconds` is the wall time of the
    population it trained in."""
    if existing not in ("refuse", "resume", "restart"):
        raise ValueError(f"existing must be refuse, resume or restart, got {existing!r}")
    cfgs, folders = list(cfgs), [Path(f) for f in folders]
    if len(cfgs) != len(folders):
        raise ConfigError(f"population: {len(cfgs)} configs but {len(folders)} folders")
    if not cfgs:
        return []
    odd = [c for c in cfgs if _seedless(c) != _seedless(cfgs[0])]
    if odd:
        raise ConfigError(f"population: the runs must differ only in seed; seed {odd[0].seed}'s config differs from "
                          f"seed {cfgs[0].seed}'s in more (train them separately)")
    if len({f.resolve() for f in folders}) != len(folders):
        raise ConfigError("population: two runs share a folder (the same seed twice?)")
    if extras is None or isinstance(extras, Mapping):
        extras = [extras] * len(cfgs)
    extras = list(extras)
    if len(extras) != len(cfgs):
        raise ConfigError(f"population: {len(cfgs)} configs but {len(extras)} extras")
    if D.world_size() > 1:
        raise ConfigError("population: trains in one process; under torchrun use run_training")
    device = training_device(cfgs[0].train)  # bad input: refuse it before anything is written
    for f in folders:  # every check before anything is cleared or written
        if (existing == "restart" and f.exists() and not only_lock_left(f)
                and not any((f / x).exists() for x in ("config.json", STATE, RESULT))):
            raise ConfigError(f"{f}: --force would delete a folder that holds no skiplab run; refusing (remove it "
                              "yourself or choose another --run-dir)")
    # Each folder to train is locked (as run_training locks its one) before it is looked at further or written; a
    # finished one that is only reused is not.
    with run_locks(f for f in folders if existing == "restart" or read_result(f) is None):
        return _train_locked(cfgs, folders, data, extras, existing, hooks, verbose, strategy, device)


def _train_locked(cfgs: list[RunConfig], folders: list[Path], data: Dataset, extras: list[Any], existing: Existing,
                  hooks: RunHooks, verbose: bool, strategy: str, device: Any) -> list[RunOutcome]:
    for i, f in enumerate(folders):
        if existing != "restart":  # as run_training: a folder is only resumed or reused by the config it records
            check_same_run(f, hashed_config(cfgs[i], data, extras[i]), "resume" if existing == "resume" else "reuse")
        if existing == "refuse" and read_result(f) is None and (f / STATE).exists():
            state = read_state(f)
            raise ConfigError(f"{f}: an unfinished run is there (epoch {state.get('epoch')} of "
                              f"{cfgs[0].train.epochs}); pass --resume to continue it or --force to start over")
    outcomes: dict[int, RunOutcome] = {}
    todo: list[int] = []
    for i, f in enumerate(folders):
        if existing == "restart" and f.exists():
            clear_run_folder(f)
        done = read_result(f)
        if done is not None:
            outcomes[i] = RunOutcome(f, done, reused=True, seconds=0.0)
        else:
            todo.append(i)
    groups: dict[int, list[int]] = {}
    for i in todo:
        at = read_state(folders[i]).get("epoch", 0) if existing == "resume" and (folders[i] / STATE).exists() else 0
        groups.setdefault(int(at), []).append(i)
    for _, members in sorted(groups.items()):
        models, callbacks, starts = [], [], []
        for i in members:  # each as run_training sets it up, in this order: build, config.json, prepare, callbacks
            model = build_model(cfgs[i], data)
            folders[i].mkdir(parents=True, exist_ok=True)
            if not (folders[i] / CONFIG).exists():  # one already there is this config's (checked): never rewritten
                write_json(folders[i] / CONFIG, {"run": C.to_dict(cfgs[i]),
                                                 "resolved": hashed_config(cfgs[i], data, extras[i])})
            if hooks.prepare is not None:
                hooks.prepare(model, folders[i])
            callbacks.append(list(hooks.callbacks(folders[i])))
            starts.append(rng_state(device))  # where the global RNG stands when run_training would call fit()
            models.append(model)
        t0 = time.perf_counter()
        histories = fit_population(models, data, cfgs[members[0]].train, [cfgs[i].seed for i in members],
                                   [folders[i] for i in members], resume=existing == "resume", verbose=verbose,
                                   strategy=strategy, callbacks=callbacks, rng_states=starts,
                                   extra_results=[{"dataset": data.summary(), "params": m.num_parameters()}
                                                  for m in models])
        seconds = time.perf_counter() - t0
        for i, h in zip(members, histories):
            result = read_result(folders[i]) or {"status": h.status, "final": h.final}
            outcomes[i] = RunOutcome(folders[i], result, reused=False, seconds=seconds)
    return [outcomes[i] for i in range(len(cfgs))]
