"""Optimizers and per-step learning-rate schedules (a LambdaLR over the total step count)."""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import TrainConfig


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """No weight decay on norms, biases and scalars (residual scales): decaying them only fights their role."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.dim() > 1 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    groups = param_groups(model, cfg.weight_decay)
    # On a GPU the fused kernels update every parameter in one launch instead of several per tensor (foreach).
    params = [p for g in groups for p in g["params"]]
    fused = (bool(params) and all(p.is_cuda and p.is_floating_point() for p in params)) or None
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0,
                               fused=fused)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.momentum, 0.999), fused=fused)


def lr_factor(cfg: TrainConfig, step: int, total: int, warmup: int) -> float:
    """The lr multiplier at `step` of `total` steps, with `warmup` linear warm-up steps."""
    if cfg.schedule == "onecycle":
        # Linear up from lr/25 over the warm-up (30% of training if none is set), then cosine down to ~0.
        up = warmup or max(1, int(0.3 * total))
        if step < up:
            return 1 / 25 + (1 - 1 / 25) * step / up
        return 0.5 * (1 + math.cos(math.pi * (step - up) / max(1, total - up)))
    if step < warmup:
        return 0.1 + 0.9 * step / warmup
    if cfg.schedule == "constant":
        return 1.0
    if cfg.schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))
    return cfg.gamma ** sum(step >= m * total for m in cfg.milestones)


def build_schedule(opt: torch.optim.Optimizer, cfg: TrainConfig, total: int, steps_per_epoch: int):
    warmup = int(round(cfg.warmup_epochs * steps_per_epoch))
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(cfg, step, total, warmup))
