"""The training configuration. Defaults follow He et al. 2016's CIFAR recipe where it has one (SGD 0.1, momentum
0.9, weight decay 1e-4, batch 128, lr / 10 at 50% and 75% of training)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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
        if self.epochs < 1 or self.batch_size < 1 or self.eval_every < 1 or self.eval_batch_size < 1:
            raise ConfigError("train: epochs, batch_size, eval_every and eval_batch_size must be >= 1")
        if self.lr <= 0:
            raise ConfigError(f"train.lr must be > 0, got {self.lr}")
        if any(not 0 < m < 1 for m in self.milestones):
            raise ConfigError(f"train.milestones are fractions of training in (0, 1), got {self.milestones}")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError("train.label_smoothing must be in [0, 1)")
        if self.warmup_epochs < 0 or self.warmup_epochs > self.epochs:
            raise ConfigError(f"train.warmup_epochs must be in [0, epochs], got {self.warmup_epochs}")
