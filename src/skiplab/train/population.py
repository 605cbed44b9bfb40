"""Population training: N seeds of one run (one architecture, one recipe) trained together on one device, as one
stacked net through `torch.func` (`stack_module_state` + `functional_call` under `torch.vmap`), each model with its
own inputs, batch-norm statistics, optimizer state and run folder.

Why it equals N separate fit() runs: the N models' parameters are disjoint, the loss is the sum of each model's own
mean loss, so each model's gradient is exactly its own; SGD and AdamW (momentum, weight decay, Adam moments) are
elementwise, so one optimizer over the stacked leaves makes each slice the step its own optimizer would make; the
schedule is a function of the step alone; every model reads the batches its own `Loaders.build(seed)` yields (data
order and augmentation as in its separate run); batch norm under vmap normalizes each model over its own batch and
updates its own slice of the stacked running statistics. What differs is float rounding: vmap runs the N models'
convolutions as one grouped convolution (and their reductions in another order), so the weights agree with
separate runs to float32 rounding (tests/train/test_population.py states the tolerance), not bit for bit.

Two ways to step the population (`strategy`): "vmap", the stacked net above, for GPUs, where one launch per layer
for N models is what makes it pay (the issue's goal: >= 3x on an H100, to be measured with
benchmarks/population.py --device cuda); and "loop", each model's own TrainStep in turn within each step,
bit-identical to separate runs: the CPU's default ("auto"), since on the CPU each model's convolutions already
keep the cores busy and vmap's grouped convolutions measured about half as fast as N separate models
(benchmarks/results/cpu-2026-12-05/population.txt; compiled vmap no better).

`fit_population` is fit()'s contract for each model: N ordinary run folders (metrics.jsonl, checkpoint.safetensors
+ state.json with that model's own optimizer state, result.json), written through fit()'s own RunFolder, so
load_checkpoint, read_weights, read_result, claims and probes cannot tell them from separate runs, and a folder
resumes with fit() alone as well as in a population. `run_population` is run_training for N configs that differ
only in seed.

Not supported (ConfigError): callbacks (claims with probe recorders keep the single-run path), torchrun (one
process, one device), models that draw random numbers in their forward pass (dropout, stochastic depth: separate
runs draw them from the global RNG one after another, which vmap cannot reproduce), models of different
architectures or pruned in different layers.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import shutil
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import nn
from torch.func import functional_call, stack_module_state

from .. import config as C
from .._atomic import write_json
from ..data.dataset import Dataset
from ..errors import ConfigError
from . import distributed as D
from .callbacks import History, TrainState
from .checkpoint import STATE, read_state
from .config import TrainConfig
from .experiment import (Existing, RunConfig, RunHooks, RunOutcome, build_model, hashed_config, training_device)
from .loop import (Loaders, RunFolder, distribute, epoch_line, epoch_metrics, model_signature, place_model,
                   resolve_device)
from .optim import build_schedule
from .progress import TrainProgress
from .runs import RESULT, read_result
from .step import TrainStep


def _stack_state(states: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One optimizer state entry of the stacked parameter from the N models' entries: tensors (momentum buffers,
    Adam moments) stacked along a new first axis; `step` (a count all models share) and non-tensors from the first."""
    out = {}
    for k, v in states[0].items():
        out[k] = torch.stack([s[k] for s in states]) if isinstance(v, torch.Tensor) and k != "step" else v
    return out


def _slice_state(state: dict[str, Any], i: int | torch.Tensor) -> dict[str, Any]:
    return {k: v[i] if isinstance(v, torch.Tensor) and k != "step" else v for k, v in state.items()}


def _skeleton(model: nn.Module) -> nn.Module:
    """A copy of `model` on the meta device (no memory): the module tree functional_call runs. Computed tensors
    held as plain attributes (a pruned layer's `weight = weight_orig * weight_mask`, part of autograd's graph, which
    deepcopy refuses) are copied detached; the prune hook recomputes them on every call."""
    held = [(m, k, v) for m in model.modules() for k, v in vars(m).items()
            if isinstance(v, torch.Tensor) and not v.is_leaf]
    try:
        for m, k, v in held:
            m.__dict__[k] = v.detach()
        return copy.deepcopy(model).to("meta")
    finally:
        for m, k, v in held:
            m.__dict__[k] = v


class PopulationStep:
    """One optimization step of N models of one architecture at once, and their stacked state: parameters `P`
    and buffers `B` ({name: tensor with the models on axis 0}), one optimizer and schedule over the stacked leaves
    built like each model's own (`templates[i]`, a TrainStep of model i: its optimizer's param groups, so weight
    decay falls where optim.param_groups puts it; its schedule). `slots[j]` is the model index of stack entry j: a
    model that diverged is dropped from the stack (`keep`), so it neither costs compute nor touches the others.

    Loss sums, error counts and the first non-finite step live on the device per model until `read()`, as in
    TrainStep."""

    def __init__(self, templates: Sequence[TrainStep], cfg: TrainConfig, device: torch.device, total_steps: int,
                 steps_per_epoch: int) -> None:
        models = [t.model for t in templates]
        self.cfg, self.device, self.total, self.per_epoch = cfg, device, total_steps, steps_per_epoch
        self.slots = list(range(len(models)))
        names = [n for n, _ in models[0].named_parameters()]
        if any([n for n, _ in m.named_parameters()] != names or
               [n for n, _ in m.named_buffers()] != [n for n, _ in models[0].named_buffers()] for m in models):
            raise ConfigError("population: the models differ in their parameters or buffers (another architecture, "
                              "or pruned in other layers); a population trains one architecture")
        # A meta copy of model 0 is the stateless skeleton functional_call runs; its forward pre-hooks come along, so
        # a pruned layer (torch.nn.utils.prune) computes weight = weight_orig * weight_mask from the swapped-in
        # slices, as in a separate run.
        self.base = _skeleton(models[0]).train()  # batch norm on batch statistics, as in fit()'s steps
        params, buffers = stack_module_state(list(models))
        self.P = {k: v.detach().requires_grad_(dict(models[0].named_parameters())[k].requires_grad)
                  for k, v in params.items()}
        self.B = {k: v.detach() for k, v in buffers.items()}
        # the optimizer's groups, by parameter name, in the order of model 0's own optimizer (state indices match)
        opt0 = templates[0].opt
        name_of = {id(p): n for n, p in models[0].named_parameters()}
        self.groups = [([name_of[id(p)] for p in g["params"]],
                        {k: v for k, v in g.items() if k not in ("params", "lr", "initial_lr")})
                       for g in opt0.param_groups]
        # the constructor's own arguments among its defaults (AdamW's defaults also hold Adam's
        # decoupled_weight_decay, which AdamW's constructor does not take)
        self.opt_cls = type(opt0)
        accepted = inspect.signature(self.opt_cls).parameters
        self.defaults = {k: v for k, v in opt0.defaults.items() if k in accepted}
        self._build_optimizer()
        # optimizer and schedule state (a resumed run's, or a fresh one's) from the models' own
        sds = [t.opt.state_dict() for t in templates]
        stacked = {idx: _stack_state([sd["state"][idx] for sd in sds]) for idx in sds[0]["state"]}
        if any(set(sd["state"]) != set(stacked) for sd in sds):
            raise ConfigError("population: the models' optimizer states differ in shape (resumed from different "
                              "steps?)")
        self.opt.load_state_dict({"state": stacked, "param_groups": sds[0]["param_groups"]})
        self.sched.load_state_dict(templates[0].sched.state_dict())
        self.loss_fn = torch.vmap(nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing))
        self.bf16 = cfg.precision == "bf16"

        def one(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
            return functional_call(self.base, (p, b), (x,))
        # randomness="error": a forward pass that draws random numbers cannot equal separate runs (see __call__)
        self.forward = torch.vmap(one, randomness="error")
        if cfg.compile:
            self.forward = torch.compile(self.forward, mode=None if cfg.compile_mode == "default"
                                         else cfg.compile_mode)
        self.reset()

    def _build_optimizer(self) -> None:
        groups = [{**hyper, "params": [self.P[n] for n in names]} for names, hyper in self.groups]
        self.opt = self.opt_cls(groups, **self.defaults)
        self.sched = build_schedule(self.opt, self.cfg, self.total, self.per_epoch)

    @property
    def n(self) -> int:
        return len(self.slots)

    def reset(self) -> None:
        self.sums = torch.zeros(self.n, 2, device=self.device)  # per model: loss * batch, misclassified
        self.first_bad = torch.full((self.n,), -1, dtype=torch.int64, device=self.device)
        self.count = 0

    def __call__(self, xs: torch.Tensor | Sequence[torch.Tensor], ys: torch.Tensor | Sequence[torch.Tensor],
                 step: int) -> None:
        """One step: xs (N, B, ...) and ys (N, B) (or their N slices), entry j the batch of model `slots[j]`."""
        if not isinstance(xs, torch.Tensor):
            xs, ys = torch.stack(list(xs)), torch.stack(list(ys))
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            try:
                out = self.forward(self.P, self.B, xs)
            except RuntimeError as e:
                if "randomness" not in str(e):
                    raise
                raise ConfigError(RANDOM) from e
        out = out.float()
        losses = self.loss_fn(out, ys)  # (N,): each model's mean loss over its own batch
        self.opt.zero_grad(set_to_none=True)
        losses.sum().backward()  # disjoint parameters: each model's gradient is that of its own loss
        if self.cfg.grad_clip is not None:
            self._clip(self.cfg.grad_clip)
        self.opt.step()
        self.sched.step()
        with torch.no_grad():
            lo = losses.detach()
            self.first_bad = torch.where((self.first_bad < 0) & ~torch.isfinite(lo), step, self.first_bad)
            self.sums += torch.stack([lo * ys.shape[1], (out.argmax(-1) != ys).sum(1).float()], 1)
        self.count += ys.shape[1]

    @torch.no_grad()
    def _clip(self, max_norm: float) -> None:
        """clip_grad_norm_ for each model on its own: its global gradient norm over all its parameters."""
        grads = [p.grad for p in self.P.values() if p.grad is not None]
        if not grads:
            return
        norms = torch.stack([torch.linalg.vector_norm(g.reshape(self.n, -1), 2, dim=1) for g in grads])
        total = torch.linalg.vector_norm(norms, 2, dim=0)  # (N,)
        coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
        for g in grads:
            g.mul_(coef.view(-1, *([1] * (g.dim() - 1))).to(g.dtype))

    def read(self) -> tuple[list[float], list[float], list[int]]:
        """Per stack entry: (mean loss, error rate, first non-finite step or -1) since the last reset."""
        sums, bad = self.sums.tolist(), self.first_bad.tolist()
        c = max(self.count, 1)
        return [s[0] / c for s in sums], [s[1] / c for s in sums], [int(b) for b in bad]

    @torch.no_grad()
    def unstack(self, j: int, template: TrainStep) -> None:
        """Stack entry j into its model, optimizer and schedule (`template`, a TrainStep): to evaluate it, save its
        checkpoint, or hand the trained model back."""
        own = dict(template.model.named_parameters())
        for k, v in self.P.items():
            own[k].copy_(v[j])
        bufs = dict(template.model.named_buffers())
        for k, v in self.B.items():
            bufs[k].copy_(v[j])
        sd = self.opt.state_dict()
        template.opt.load_state_dict({"state": {idx: _slice_state(s, j) for idx, s in sd["state"].items()},
                                      "param_groups": sd["param_groups"]})
        template.sched.load_state_dict(self.sched.state_dict())

    def keep(self, entries: list[int]) -> None:
        """Keep only these stack entries (the others diverged), with their optimizer state and the schedule."""
        if entries == list(range(self.n)):
            return
        if not entries:
            self.slots, self.sums, self.first_bad = [], self.sums[:0], self.first_bad[:0]
            return
        sel = torch.tensor(entries, dtype=torch.long, device=self.device)
        sd, sched_sd = self.opt.state_dict(), self.sched.state_dict()
        with torch.no_grad():
            self.P = {k: v.detach()[sel].clone().requires_grad_(v.requires_grad) for k, v in self.P.items()}
            self.B = {k: v[sel].clone() for k, v in self.B.items()}
        self._build_optimizer()
        self.opt.load_state_dict({"state": {idx: _slice_state(s, sel) for idx, s in sd["state"].items()},
                                  "param_groups": sd["param_groups"]})
        self.sched.load_state_dict(sched_sd)
        self.sums, self.first_bad = self.sums[sel], self.first_bad[sel]
        self.slots = [self.slots[j] for j in entries]


def _rng_states(device: torch.device) -> list[torch.Tensor]:
    return [torch.get_rng_state()] + ([torch.cuda.get_rng_state(device)] if device.type == "cuda" else [])


RANDOM = ("population: the model draws random numbers in its forward pass (dropout, stochastic depth); separate "
          "runs draw them from the global RNG one after another, which a population cannot reproduce: train these "
          "runs separately")


class LoopStep:
    """PopulationStep's interface over the models' own TrainSteps, one after another in each step: no stacking, so
    bit-identical to separate runs, and as fast as they are. The CPU's choice: there each model's convolutions
    already keep every core busy, and the stacked (grouped) convolutions of vmap are slower than N dense ones
    (benchmarks/population.py)."""

    def __init__(self, templates: Sequence[TrainStep]) -> None:
        self.templates = list(templates)
        self.slots = list(range(len(self.templates)))
        self.checked = False

    def reset(self) -> None:
        for i in self.slots:
            self.templates[i].model.train()
            self.templates[i].reset()

    def __call__(self, xs: Sequence[torch.Tensor], ys: Sequence[torch.Tensor], step: int) -> None:
        for i, x, y in zip(self.slots, xs, ys):
            if not self.checked:  # a separate run draws from the global RNG in its own order; N interleaved cannot
                before = _rng_states(self.templates[i].device)
                self.templates[i](x, y, step)
                if any(not torch.equal(a, b) for a, b in zip(before, _rng_states(self.templates[i].device))):
                    raise ConfigError(RANDOM)
                self.checked = True
            else:
                self.templates[i](x, y, step)

    def read(self) -> tuple[list[float], list[float], list[int]]:
        loss, err, bad = zip(*(self.templates[i].read() for i in self.slots)) if self.slots else ((), (), ())
        return list(loss), list(err), list(bad)

    def unstack(self, j: int, template: TrainStep) -> None:
        pass  # each model trains in place

    def keep(self, entries: list[int]) -> None:
        self.slots = [self.slots[j] for j in entries]


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
                   callbacks: Sequence[Any] = (), strategy: str = "auto") -> list[History]:
    """Train `models` (one architecture, each built by its own seed) on `data` with `cfg`, together: model i as
    fit(models[i], data, cfg, seed=seeds[i], run_dir=run_dirs[i], resume=resume) would train it, to float rounding
    (see the module doc). Returns the N histories; each model ends holding its trained weights.

    A model whose loss goes non-finite is stopped where fit() would stop it (at the epoch's end, or at a
    `log_every` read): its result says diverged at that step, its folder keeps the last good checkpoint, and the
    others go on. `resume=True` loads each folder's checkpoint into its own model, optimizer and schedule and then
    stacks them; every folder must be at the same epoch (run_population groups folders by epoch for you).
    Callbacks are refused: claims that record probes train their runs one by one.

    `strategy`: "vmap" (one stacked net, see PopulationStep), "loop" (each model's own step in turn, LoopStep:
    bit-identical to separate runs, no faster), or "auto": vmap on a GPU, loop on the CPU, where vmap measured
    slower than separate runs (benchmarks/population.py)."""
    if list(callbacks):
        raise ConfigError("population: callbacks are not supported (a callback sees one model); train runs that "
                          "record probes one by one with fit()")
    if strategy not in STRATEGIES:
        raise ConfigError(f"population: strategy {strategy!r} is not one of {', '.join(STRATEGIES)}")
    models = list(models)
    _check_population(models, seeds, run_dirs, extra_results)
    n = len(models)
    device = resolve_device(cfg.device)
    # The loaders and the real models are as fit() makes them (channels_last included, so evaluation matches);
    # the stacked training step runs in the default layout: under vmap the batches are stacked (N, B, C, H, W)
    # tensors, which have no channels_last form, and layout changes no value beyond rounding.
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
    if resume:
        for t, f, s, h in zip(templates, folders, states, histories):
            f.resume(t, s, h)
        epochs = sorted({s.epoch for s in states})
        if len(epochs) > 1:
            at = ", ".join(f"{f.path}: epoch {s.epoch}" for f, s in zip(folders, states))
            raise ConfigError(f"population: the runs to resume are at different epochs ({at}); resume them in "
                              "groups of one epoch (run_population does) or one by one with fit()")
    start, step = states[0].epoch, states[0].step
    if strategy == "auto":
        strategy = "loop" if device.type == "cpu" else "vmap"
    pop: PopulationStep | LoopStep = (PopulationStep(templates, cfg, device, steps * cfg.epochs, steps)
                                      if strategy == "vmap" else LoopStep(templates))
    name = getattr(models[0], "name", "") or "train"
    show = verbose and D.is_main()
    done = [False] * n

    def finish(i: int, status: str, bad: int | None = None) -> None:
        histories[i].status, histories[i].diverged_step = status, bad
        done[i] = True

    def drop_diverged(bad: list[int]) -> None:
        for j, b in enumerate(bad):
            if b >= 0:
                pop.unstack(j, templates[pop.slots[j]])  # the model holds its weights at the stop, as fit()'s does
                finish(pop.slots[j], "diverged", b)
        pop.keep([j for j, b in enumerate(bad) if b < 0])

    stop = False
    with TrainProgress(steps * cfg.epochs, f"{name} x{n}", enabled=show) as progress:
        progress.skip_to(step)
        for epoch in range(start, cfg.epochs):
            t0 = time.perf_counter()
            pop.reset()
            its = {i: loaders[i].train.epoch(epoch) for i in pop.slots}
            for _ in range(steps):
                batches = [next(its[i]) for i in pop.slots]
                pop([b[0] for b in batches], [b[1] for b in batches], step)
                step += 1
                info = None
                if cfg.log_every and step % cfg.log_every == 0:
                    loss, err, bad = pop.read()
                    info = f"loss {sum(loss) / len(loss):.3f} err {sum(err) / len(err):.1%}"
                    if any(b >= 0 for b in bad):
                        drop_diverged(bad)  # fit() breaks out of the epoch here and reports divergence
                        if not pop.slots:
                            break
                progress.advance(1, info)
                if cfg.max_steps is not None and step >= cfg.max_steps:
                    stop = True
                    break
            loss, err, bad = pop.read()
            drop_diverged(bad)
            for j, i in enumerate(pop.slots):
                pop.unstack(j, templates[i])
                states[i].epoch, states[i].step, states[i].stop = epoch, step, stop
                row = epoch_metrics(templates[i], loaders[i], states[i], loss[j], err[j], t0)
                histories[i].epochs.append(row)
                folders[i].save_epoch(templates[i], states[i], histories[i])
                if show:
                    progress.console.print(epoch_line(f"{name} seed {seeds[i]}", row, cfg.epochs))
            if stop:
                for i in pop.slots:
                    finish(i, "stopped")
            if all(done):
                break
    for i in pop.slots:
        if not done[i]:
            finish(i, "finished")
    for j, i in enumerate(pop.slots):
        pop.unstack(j, templates[i])
    for i in range(n):
        folders[i].save_result(histories[i], extra_results[i] if extra_results is not None else None)
    return histories


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
    on each freshly built model; `hooks.callbacks` must give none. An outcome's `seconds` is the wall time of the
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
    if any(hooks.callbacks(f) for f in folders):
        raise ConfigError("population: callbacks are not supported; runs that record probes train one by one")
    if D.world_size() > 1:
        raise ConfigError("population: trains in one process; under torchrun use run_training")
    training_device(cfgs[0].train)  # bad input: refuse it before anything is written
    for f in folders:  # every check before anything is cleared or written
        if existing == "restart" and f.exists() and not any((f / x).exists() for x in ("config.json", STATE, RESULT)):
            raise ConfigError(f"{f}: --force would delete a folder that holds no skiplab run; refusing (remove it "
                              "yourself or choose another --run-dir)")
        if existing == "refuse" and read_result(f) is None and (f / STATE).exists():
            state = read_state(f)
            raise ConfigError(f"{f}: an unfinished run is there (epoch {state.get('epoch')} of "
                              f"{cfgs[0].train.epochs}); pass --resume to continue it or --force to start over")
    outcomes: dict[int, RunOutcome] = {}
    todo: list[int] = []
    for i, f in enumerate(folders):
        if existing == "restart" and f.exists():
            shutil.rmtree(f)
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
        models = [build_model(cfgs[i], data) for i in members]
        for i, model in zip(members, models):
            folders[i].mkdir(parents=True, exist_ok=True)
            write_json(folders[i] / "config.json", {"run": C.to_dict(cfgs[i]),
                                                    "resolved": hashed_config(cfgs[i], data, extras[i])})
            if hooks.prepare is not None:
                hooks.prepare(model, folders[i])
        t0 = time.perf_counter()
        histories = fit_population(models, data, cfgs[members[0]].train, [cfgs[i].seed for i in members],
                                   [folders[i] for i in members], resume=existing == "resume", verbose=verbose,
                                   strategy=strategy,
                                   extra_results=[{"dataset": data.summary(), "params": m.num_parameters()}
                                                  for m in models])
        seconds = time.perf_counter() - t0
        for i, h in zip(members, histories):
            result = read_result(folders[i]) or {"status": h.status, "final": h.final}
            outcomes[i] = RunOutcome(folders[i], result, reused=False, seconds=seconds)
    return [outcomes[i] for i in range(len(cfgs))]
