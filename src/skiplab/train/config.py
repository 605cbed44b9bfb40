"""The training configuration. Defaults follow He et al. 2016's CIFAR recipe where it has one (SGD 0.1, momentum
0.9, weight decay 1e-4, batch 128, lr / 10 at 50% and 75% of training)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable, Literal

from ..config import option
from ..errors import ConfigError


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = option(30, "passes over the training set")
    batch_size: int = option(128, "global batch size (split across ranks under torchrun)")
    optimizer: Literal["sgd", "adamw"] = option("sgd", "sgd (with momentum) or adamw")
    lr: float = option(0.1, "peak learning rate")
    momentum: float = option(0.9, "SGD momentum (AdamW: beta1)")
    nesterov: bool = option(False, "Nesterov momentum for SGD")
    weight_decay: float = option(1e-4, "L2 weight decay (decoupled for AdamW)")
    schedule: Literal["multistep", "cosine", "onecycle", "constant"] = option(
        "multistep", "learning-rate schedule over the whole run")
    milestones: tuple[float, ...] = option((0.5, 0.75), "multistep: fractions of training where lr *= gamma")
    gamma: float = option(0.1, "multistep: the lr factor at each milestone")
    warmup_epochs: float = option(0.0, "linear warm-up from lr/10 (multistep, cosine) or lr/25 (onecycle)")
    label_smoothing: float = option(0.0, "label smoothing of the cross-entropy loss")
    precision: Literal["fp32", "bf16"] = option("fp32", "bf16 runs the forward pass under autocast")
    channels_last: bool = option(True, "NHWC memory layout for images (faster convolutions on CPU and GPU)")
    compile: bool = option(False, "torch.compile the model (slow first step, faster later ones)")
    compile_mode: Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"] = option(
        "default", "torch.compile mode when compile is on: default, reduce-overhead (CUDA graphs: pays on a GPU "
                   "when kernel launches dominate, i.e. small nets or batches), max-autotune (also tunes kernels: "
                   "longer compile), max-autotune-no-cudagraphs")
    sync_bn: bool = option(False, "under torchrun on GPUs: batch-norm statistics over the global batch "
                                  "(SyncBatchNorm); ignored in a single process; refused on the CPU (gloo), where "
                                  "PyTorch has no SyncBatchNorm kernel")
    device: str = option("auto", "auto (cuda if available, else cpu), cpu, cuda, cuda:N")
    eval_every: int = option(1, "evaluate on the test split every N epochs (and always at the end)")
    eval_train: bool = option(False, "also measure full-pass train error (eval mode, no augmentation)")
    eval_batch_size: int = option(1000, "batch size for evaluation")
    log_every: int = option(0, "read the loss every N steps to update progress (0: once per epoch)")
    grad_clip: float | None = option(None, "clip the global gradient norm to this value")
    max_eval_examples: int | None = option(None, "evaluate on at most this many examples of each split (smoke "
                                                 "tests; spread evenly, the same ones every time)")
    max_steps: int | None = option(None, "stop after this many steps in all (smoke tests); the schedule is "
                                         "still laid out over `epochs`")

    def __post_init__(self) -> None:
        # Every range is checked here, so a nonsense number (nan, a negative decay, a zero step count) is one
        # ConfigError before any data is read or anything written; `not (x > 0)` style tests also catch nan,
        # which compares false with everything.
        for name in ("epochs", "batch_size", "eval_every", "eval_batch_size"):
            _at_least(name, getattr(self, name), 1)
        for name in ("max_steps", "max_eval_examples"):
            if getattr(self, name) is not None:
                _at_least(name, getattr(self, name), 1)
        _at_least("log_every", self.log_every, 0)
        _finite("lr", self.lr, "a finite number > 0", lambda v: v > 0)
        _finite("gamma", self.gamma, "a finite number > 0", lambda v: v > 0)
        _finite("momentum", self.momentum, "in [0, 1)", lambda v: 0 <= v < 1)
        _finite("weight_decay", self.weight_decay, "a finite number >= 0", lambda v: v >= 0)
        _finite("label_smoothing", self.label_smoothing, "in [0, 1)", lambda v: 0 <= v < 1)
        if self.grad_clip is not None:  # a negative clip would reverse the gradient
            _finite("grad_clip", self.grad_clip, "a finite number > 0 (or null: no clipping)", lambda v: v > 0)
        _finite("warmup_epochs", self.warmup_epochs, f"in [0, epochs={self.epochs}]",
                lambda v: 0 <= v <= self.epochs)
        if any(not (isinstance(m, (int, float)) and 0 < m < 1) for m in self.milestones):
            raise ConfigError(f"train.milestones are fractions of training in (0, 1), got {list(self.milestones)}")
        if self.compile_mode not in COMPILE_MODES:
            raise ConfigError(f"train.compile_mode: {self.compile_mode!r} is not one of {', '.join(COMPILE_MODES)}")


def _at_least(name: str, value: int, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"train.{name} must be a whole number >= {low}, got {value!r}")


def _finite(name: str, value: float, valid: str, ok: Callable[[float], bool]) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not ok(value):
        raise ConfigError(f"train.{name} must be {valid}, got {value!r}")

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def scaled_lr(base_lr: float, batch_size: int, base_batch: int, rule: Literal["linear", "sqrt"] = "linear") -> float:
    """The learning rate for `batch_size` given one tuned at `base_batch`: linear (Goyal et al. 2017, "Accurate,
    large minibatch SGD": k times the batch, k times the lr) or square root (Krizhevsky 2014; keeps the gradient
    noise scale, gentler for short schedules)."""
    if batch_size < 1 or base_batch < 1:
        raise ConfigError(f"batch sizes must be >= 1, got {batch_size} and base {base_batch}")
    if rule not in ("linear", "sqrt"):
        raise ConfigError(f"lr scaling rule {rule!r} is not one of linear, sqrt")
    k = batch_size / base_batch
    return base_lr * (k if rule == "linear" else math.sqrt(k))


def large_batch(cfg: TrainConfig, batch_size: int, base_batch: int, *, rule: Literal["linear", "sqrt"] = "linear",
                warmup_epochs: float | None = None) -> TrainConfig:
    """`cfg` (tuned at `base_batch`, lr = cfg.lr) moved to `batch_size`: lr scaled by `rule` and, for a larger
    batch, a linear warm-up (Goyal et al. use 5 of 90 epochs; default here: the same 1/18 of training, at least
    one epoch) unless the schedule (onecycle) warms up itself or `warmup_epochs` says otherwise. Label smoothing
    and Nesterov momentum stay as `cfg` sets them; both are fields of TrainConfig."""
    if warmup_epochs is None:
        warmup_epochs = cfg.warmup_epochs
        if batch_size > base_batch and cfg.schedule != "onecycle":
            warmup_epochs = max(warmup_epochs, min(float(cfg.epochs), max(1.0, cfg.epochs / 18)))
    return dataclasses.replace(cfg, batch_size=batch_size, lr=scaled_lr(cfg.lr, batch_size, base_batch, rule),
                               warmup_epochs=warmup_epochs)
