"""One optimization step (`TrainStep`) and one evaluation pass (`evaluate`): what fit() repeats. A step never
waits on the host: loss sums, error counts and the first diverged step live on the device until `read()`."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..data.loader import DeviceLoader
from . import distributed as D
from .config import TrainConfig
from .optim import build_optimizer, build_schedule


# The divergence rule (PROTOCOL 3): a step diverges when its mean training loss is not finite, or exceeds BLOWUP
# times the loss of a uniform guess over the C classes (ln C: 2.30 for 10 classes, so the bar is 2,303). A net whose
# loss has exploded to a finite 7e14 has left training as surely as a NaN one, and finishing it as "finished" would
# let its error count as a trained net's. A uniform guess is where a net starts; a net that still learns stays
# within a small multiple of it, so 1000x leaves room for every recoverable spike.
BLOWUP = 1000.0


def diverged(loss: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Elementwise: whether each loss (a step's mean cross-entropy over `num_classes`) breaks the divergence rule."""
    return ~torch.isfinite(loss) | (loss > BLOWUP * math.log(max(num_classes, 2)))


class TrainStep:
    """One optimization step of `model` (through `forward`, which may be a compiled or DDP wrapper)."""

    def __init__(self, model: nn.Module, cfg: TrainConfig, device: torch.device, total_steps: int,
                 steps_per_epoch: int, forward: nn.Module | None = None) -> None:
        self.model, self.cfg, self.device = model, cfg, device
        self.forward = forward if forward is not None else model
        self.opt = build_optimizer(model, cfg)
        self.sched = build_schedule(self.opt, cfg, total_steps, steps_per_epoch)
        self.loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        self.bf16 = cfg.precision == "bf16"
        self.reset()

    def reset(self) -> None:
        self.sums = torch.zeros(2, device=self.device)  # loss * n, misclassified
        self.first_bad = torch.full((), -1, dtype=torch.int64, device=self.device)
        self.count = 0

    def __call__(self, x: torch.Tensor, y: torch.Tensor, step: int) -> None:
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            out = self.forward(x)
        loss = self.loss_fn(out.float(), y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.opt.step()
        self.sched.step()
        with torch.no_grad():
            lo = loss.detach()
            self.first_bad = torch.where((self.first_bad < 0) & diverged(lo, out.shape[1]), step, self.first_bad)
            self.sums += torch.stack([lo * y.shape[0], (out.argmax(1) != y).sum().float()])
        self.count += y.shape[0]

    def read(self) -> tuple[float, float, int]:
        """(mean loss, error rate, first diverged step or -1) since the last reset: the one host sync."""
        sums = D.all_reduce_sum(self.sums.clone())
        count = D.all_reduce_sum(torch.tensor(float(self.count), device=self.device)).item()
        bad = self.first_bad.clone()
        if D.is_distributed():  # any rank's divergence counts; take the largest as "some rank saw it"
            torch.distributed.all_reduce(bad, op=torch.distributed.ReduceOp.MAX)
        loss_sum, wrong = sums.tolist()
        return loss_sum / max(count, 1), wrong / max(count, 1), int(bad.item())


@torch.no_grad()
def evaluate(model: nn.Module, loader: DeviceLoader, precision: str = "fp32") -> dict[str, float]:
    """Mean cross-entropy and error rate over every example of `loader`, in eval mode (restored after)."""
    was_training = model.training
    model.eval()
    sums = torch.zeros(2, device=loader.device)
    n = 0
    for x, y in loader.epoch(0):
        with torch.autocast(loader.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            out = model(x)
        out = out.float()
        sums += torch.stack([nn.functional.cross_entropy(out, y, reduction="sum"), (out.argmax(1) != y).sum()])
        n += y.shape[0]
    model.train(was_training)
    loss, wrong = sums.tolist()
    return {"loss": loss / max(n, 1), "err": wrong / max(n, 1)}
