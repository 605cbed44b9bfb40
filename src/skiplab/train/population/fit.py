"""`fit_population`: fit() for N models of one architecture at once, each into its own run folder, each with its
own callbacks (hooks.py), stepped by one of the strategies (stacked.py: "vmap"; looped.py: "loop")."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Sequence

from torch import nn

from ...data.dataset import Dataset
from ...errors import ConfigError
from .. import distributed as D
from ..callbacks import Callback, History, TrainState
from ..config import TrainConfig
from ..lock import run_locks
from ..loop import (Loaders, RunFolder, distribute, epoch_line, epoch_metrics, model_signature, place_model,
                    resolve_device)
from ..progress import TrainProgress
from ..step import TrainStep
from .hooks import counts_in_forward, has_step_hook, per_model
from .looped import LoopStep
from .rng import RngState, RngStreams
from .stacked import PopulationStep

STRATEGIES = ("auto", "vmap", "loop")


def _check_population(models: Sequence[nn.Module], seeds: Sequence[int], run_dirs: Sequence[Any],
                      extra_results: Sequence[Any] | None) -> None:
    n = len(models)
    if n < 1:
        raise ConfigError("population: no models to train")
    if len(seeds) != n or len(run_dirs) != n or (extra_results is not None and len(extra_results) != n):
        raise ConfigError(f"population: {n} models need {n} seeds, run folders (and extra results), got "
                          f"{len(seeds)}, {len(run_dirs)}" + (f", {len(extra_results)}" if extra_results else ""))
    dirs = [Path(d).resolve() for d in run_dirs if d is not None]
    if len(set(dirs)) != len(dirs):
        raise ConfigError("population: two models share a run folder")
    if len({model_signature(m) for m in models}) != 1:
        raise ConfigError("population: the models are of different architectures; a population trains one")
    if D.world_size() > 1:
        raise ConfigError("population: trains on one device in one process; under torchrun train the runs "
                          "one by one (fit / run_training)")




def fit_population(models: Sequence[nn.Module], data: Dataset, cfg: TrainConfig, seeds: Sequence[int],
                   run_dirs: Sequence[str | Path | None], *, resume: bool = False, verbose: bool = True,
                   extra_results: Sequence[dict[str, Any] | None] | None = None,
                   callbacks: Sequence[Sequence[Callback]] | None = None, strategy: str = "auto",
                   rng_states: Sequence[RngState | None] | None = None) -> list[History]:
    """Train `models` (one architecture, each built by its own seed) on `data` with `cfg`, together: model i as
    fit(models[i], data, cfg, seed=seeds[i], run_dir=run_dirs[i], resume=resume, callbacks=callbacks[i]) would
    train it, to float rounding (see the package doc). Returns the N histories; each model ends holding its
    trained weights.

    A model whose loss diverges (skiplab.train.step.diverged) is stopped where fit() would stop it (at the epoch's
    end, or at a `log_every` read): its result says diverged at that step, its folder keeps the last good
    checkpoint, and the others go on. A model whose callback sets `state.stop` (or that reaches `max_steps`) ends
    its epoch there and ends "stopped", as in fit(); the others go on. `resume=True` loads each folder's checkpoint
    into its own model, optimizer and schedule and then stacks them; every folder must be at the same epoch
    (run_population groups folders by epoch for you).

    `callbacks`: None, or one list per model, called where fit() calls them on model i's own TrainState (the real
    model i, its own optimizer, its folder, its epoch and step); under vmap the model's slice of the stack is
    copied into it before its hooks and back after them (hooks.py). `rng_states`: the global RNG state each
    model's separate run would start fit() with (`rng.rng_state` after building it; run_population passes them),
    so that what model i's callbacks draw and its checkpoints save are its own run's; None: each starts from the
    global state at the call. The global RNG is left at the last model's stream.

    `strategy`: "vmap" (one stacked net, see PopulationStep), "loop" (each model's own step in turn, LoopStep:
    bit-identical to separate runs, no faster), or "auto": vmap on a GPU, loop on the CPU, where vmap measured
    slower than separate runs (benchmarks/population.py). Each run folder is locked for the whole training, as fit()
    locks its one (skiplab.train.lock)."""
    with run_locks(run_dirs):
        return _fit_population(models, data, cfg, seeds, run_dirs, resume=resume, verbose=verbose,
                               extra_results=extra_results, callbacks=callbacks, strategy=strategy,
                               rng_states=rng_states)


def _fit_population(models: Sequence[nn.Module], data: Dataset, cfg: TrainConfig, seeds: Sequence[int],
                    run_dirs: Sequence[str | Path | None], *, resume: bool, verbose: bool,
                    extra_results: Sequence[dict[str, Any] | None] | None,
                    callbacks: Sequence[Sequence[Callback]] | None, strategy: str,
                    rng_states: Sequence[RngState | None] | None) -> list[History]:
    if strategy not in STRATEGIES:
        raise ConfigError(f"population: strategy {strategy!r} is not one of {', '.join(STRATEGIES)}")
    models = list(models)
    _check_population(models, seeds, run_dirs, extra_results)
    n = len(models)
    hooks = per_model(callbacks, n)
    if rng_states is not None and len(rng_states) != n:
        raise ConfigError(f"population: {n} models need {n} RNG states, got {len(rng_states)}")
    device = resolve_device(cfg.device)
    if strategy == "auto":
        strategy = "loop" if device.type == "cpu" else "vmap"
    if strategy == "vmap" and any(hooks) and counts_in_forward(models[0]):
        raise ConfigError("population: the model counts its forward passes (ODE blocks' NFE), which under vmap "
                          "run through a stateless copy of the net that callbacks cannot see: use strategy 'loop' "
                          "or train these runs one by one")
    # The loaders and the real models are as fit() makes them (channels_last included, so evaluation and the
    # callbacks' probes match); the stacked training step runs in the default layout: under vmap the batches are
    # stacked (N, B, C, H, W) tensors, which have no channels_last form, and layout changes no value beyond rounding.
    channels_last = cfg.channels_last and data.train_x.dim() == 4
    models = [place_model(m, cfg, device, channels_last) for m in models]
    if data.train_x.device != device:  # one copy of the data on the device, not one per loader
        data = dataclasses.replace(data, train_x=data.train_x.to(device), train_y=data.train_y.to(device),
                                   test_x=data.test_x.to(device), test_y=data.test_y.to(device))
    loaders = [Loaders.build(data, cfg, s, device, channels_last) for s in seeds]
    steps = len(loaders[0].train)
    templates = [TrainStep(m, cfg, device, steps * cfg.epochs, steps, distribute(m, cfg, device)) for m in models]
    folders = [RunFolder(Path(d) if d is not None else None, model_signature(m), s)
               for m, s, d in zip(models, seeds, run_dirs)]
    states = [TrainState(m, t.opt, cfg, device, f.path, steps) for m, t, f in zip(models, templates, folders)]
    histories = [History() for _ in models]
    streams = RngStreams(device, n, rng_states)
    if resume:
        for i, (t, f, s, h) in enumerate(zip(templates, folders, states, histories)):
            with streams.of(i):  # the checkpoint's RNG becomes model i's stream
                f.resume(t, s, h)
        epochs = sorted({s.epoch for s in states})
        if len(epochs) > 1:
            at = ", ".join(f"{f.path}: epoch {s.epoch}" for f, s in zip(folders, states))
            raise ConfigError(f"population: the runs to resume are at different epochs ({at}); resume them in "
                              "groups of one epoch (run_population does) or one by one with fit()")
    for i in range(n):  # before the stack is built: it takes whatever these did to the models
        with streams.of(i):
            for cb in hooks[i]:
                cb.on_fit_start(states[i])
    start, step = states[0].epoch, states[0].step
    pop: PopulationStep | LoopStep = (PopulationStep(templates, cfg, device, steps * cfg.epochs, steps)
                                      if strategy == "vmap" else LoopStep(templates))
    stepping = [any(has_step_hook(cb) for cb in c) for c in hooks]
    name = getattr(models[0], "name", "") or "train"
    show = verbose and D.is_main()
    done = [False] * n

    def finish(i: int, status: str, bad: int | None = None) -> None:
        histories[i].status, histories[i].diverged_step = status, bad
        done[i] = True

    def call(j: int, i: int, hook: str, *args: Any, synced: bool = False) -> None:
        """Model i's (stack entry j's) callbacks' `hook`, synced out of the stack and back in around them."""
        if not hooks[i]:
            return
        if not synced:
            pop.unstack(j, templates[i])
        with streams.of(i):
            for cb in hooks[i]:
                getattr(cb, hook)(states[i], *args)
        pop.restack(j, templates[i].model)

    def drop_diverged(bad: list[int]) -> None:
        for j, b in enumerate(bad):
            if b >= 0:
                pop.unstack(j, templates[pop.slots[j]])  # the model holds its weights at the stop, as fit()'s does
                finish(pop.slots[j], "diverged", b)
        pop.keep([j for j, b in enumerate(bad) if b < 0])

    def end_epoch(j: int, i: int, loss: float, err: float, t0: float) -> bool:
        """fit()'s end of an epoch for model i (stack entry j): metrics, checkpoint, on_epoch_end. Whether it
        stopped there."""
        pop.unstack(j, templates[i])
        row = epoch_metrics(templates[i], loaders[i], states[i], loss, err, t0)
        histories[i].epochs.append(row)
        with streams.of(i):  # the checkpoint saves model i's RNG, as its own run's does
            folders[i].save_epoch(templates[i], states[i], histories[i])
        call(j, i, "on_epoch_end", row, synced=True)
        if show:
            progress.console.print(epoch_line(f"{name} seed {seeds[i]}", row, cfg.epochs))
        if states[i].stop:
            finish(i, "stopped")
        return states[i].stop

    def leave_now(t0: float) -> None:
        """The models with `state.stop` set end their epoch after this step, as fit() breaks out of it (diverged
        if the epoch's read says so); the others go on."""
        loss, err, bad = pop.read()
        gone = [j for j, i in enumerate(pop.slots) if states[i].stop]
        for j in gone:
            i = pop.slots[j]
            if bad[j] >= 0:
                pop.unstack(j, templates[i])
                finish(i, "diverged", bad[j])
            elif not end_epoch(j, i, loss[j], err[j], t0):
                finish(i, "stopped")  # a callback cleared stop in on_epoch_end: fit() would go on to the next
                # epoch from this step, out of step with the population; the run ends here instead
        pop.keep([j for j in range(pop.n) if j not in gone])

    with TrainProgress(steps * cfg.epochs, f"{name} x{n}", enabled=show) as progress:
        progress.skip_to(step)
        for epoch in range(start, cfg.epochs):
            t0 = time.perf_counter()
            for i in pop.slots:
                states[i].epoch = epoch
            pop.reset()
            its = {i: loaders[i].train.epoch(epoch) for i in pop.slots}
            for _ in range(steps):
                batches = [next(its[i]) for i in pop.slots]
                pop([b[0] for b in batches], [b[1] for b in batches], step)
                step += 1
                for i in pop.slots:
                    states[i].step = step
                info = None
                if cfg.log_every and step % cfg.log_every == 0:
                    loss, err, bad = pop.read()
                    info = f"loss {sum(loss) / len(loss):.3f} err {sum(err) / len(err):.1%}"
                    if any(b >= 0 for b in bad):
                        drop_diverged(bad)  # fit() breaks out of the epoch here (before on_step_end)
                        if not pop.slots:
                            break
                progress.advance(1, info)
                for j, i in enumerate(pop.slots):
                    if stepping[i]:
                        call(j, i, "on_step_end")
                    if cfg.max_steps is not None and step >= cfg.max_steps:
                        states[i].stop = True
                if any(states[i].stop for i in pop.slots):
                    leave_now(t0)
                    if not pop.slots:
                        break
            loss, err, bad = pop.read()
            drop_diverged(bad)
            ended = [j for j, i in enumerate(pop.slots) if end_epoch(j, i, loss[j], err[j], t0)]
            pop.keep([j for j in range(pop.n) if j not in ended])
            if not pop.slots:
                break
    for j, i in enumerate(pop.slots):
        finish(i, "finished")
        pop.unstack(j, templates[i])
    for i in range(n):
        folders[i].save_result(histories[i], extra_results[i] if extra_results is not None else None)
        with streams.of(i):
            for cb in hooks[i]:
                cb.on_fit_end(states[i], histories[i])
    streams.leave(n - 1)
    return histories
