"""The "vmap" strategy: N models of one architecture stepped as one stacked net (`torch.func.stack_module_state`
+ `functional_call` under `torch.vmap`), with one optimizer over the stacked leaves. See the package doc for why
it equals N separate runs to float rounding."""

from __future__ import annotations

import copy
import inspect
from typing import Any, Sequence

import torch
from torch import nn
from torch.func import functional_call, stack_module_state

from ...errors import ConfigError
from ..config import TrainConfig
from ..optim import build_schedule
from ..step import TrainStep, diverged
from .rng import RANDOM


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

    Loss sums, error counts and the first diverged step live on the device per model until `read()`, as in
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
            self.first_bad = torch.where((self.first_bad < 0) & diverged(lo, out.shape[-1]), step, self.first_bad)
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
        """Per stack entry: (mean loss, error rate, first diverged step or -1) since the last reset."""
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

    @torch.no_grad()
    def restack(self, j: int, model: nn.Module) -> None:
        """Model `slots[j]`'s own parameters and buffers back into stack entry j: after its callbacks ran on it
        (a probe's train-mode forward, a callback that changes weights). The optimizer is not copied back: a
        callback reads the model's own optimizer (`unstack` gave it its slice) but does not change it."""
        own = dict(model.named_parameters())
        for k, v in self.P.items():
            v[j].copy_(own[k])
        bufs = dict(model.named_buffers())
        for k, v in self.B.items():
            v[j].copy_(bufs[k])

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
