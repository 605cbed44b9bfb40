"""The checks of the standard RevNet (float32 weights, compute and residual stream) that reversible-memory judges:
the reconstructing backward's gradient error against SGD's own minibatch noise (`verify`, at init), and a training
comparison, the reconstructing backward against ordinary backprop from the same init on the same batches
(`train_revnet`, a FunctionRun per arm and seed). `verify` also measures what is reported beside them: the
reconstruction error, float32 backprop's own rounding error (against float64 backprop) and the float64-stream
remedy.

The net is one stage of `blocks` invertible coupling blocks at RevNet-38's first-stage width (32 channels), so every
block is in one reconstructing run: the longest chain of inverses a RevNet of that depth can have.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from skiplab.claims.core.datasets import dataset
from skiplab.models.parts.reversible import reconstruction_error

WIDTH = 32  # RevNet-38's first stage: 16 channels per half


def build_net(blocks: int, stream: str, seed: int, data_kwargs: dict[str, Any], reversible: bool = True) -> Any:
    """The one-stage RevNet of `blocks` coupling blocks, initialised from `seed`, in train mode."""
    from skiplab.models import create_model
    torch.manual_seed(seed)
    return create_model("revnet38", widths=(WIDTH,), stem_width=WIDTH, depth=12 * blocks + 2, stream=stream,
                        reversible=reversible, **data_kwargs).train()


def param_grad(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The gradient of the mean cross-entropy on (x, y) over every parameter of `net`, as one vector."""
    net.zero_grad(set_to_none=True)
    nn.functional.cross_entropy(net(x), y).backward()
    return torch.cat([p.grad.flatten() for p in net.parameters()])


def minibatch_noise(grads: Sequence[torch.Tensor]) -> float:
    """The RMS deviation of K minibatch gradients from their mean, sqrt(sum_k ||g_k - mean||^2 / (K - 1)): an
    unbiased estimate (squared) of E||g_B - E g_B||^2, the noise an SGD step at that batch size carries."""
    g = torch.stack([v.double() for v in grads])
    return float(((g - g.mean(0)) ** 2).sum().div(len(grads) - 1).sqrt())


def _recon(net: Any, x: torch.Tensor) -> float:
    with torch.no_grad():
        h = net.stem(net.normalize(x))
    return reconstruction_error(net._runs[0], h)


def verify(job: tuple[Any, int, str | None]) -> dict[str, float]:
    """Per seed (`job` = (scale, seed, data_root); a ctx.map job): at init, on `noise_batches` disjoint training
    batches of `train_batch` examples, the standard net's gradient error on the first batch (relative, and over the
    minibatch noise of all of them), its reconstruction error, float32 backprop's own error (against the same
    weights in float64) and the float64 stream's reconstruction and gradient errors."""
    from skiplab.data import to_float
    from skiplab.train.loop import resolve_device
    s, seed, root = job
    dev = resolve_device("auto")
    data = dataset(s.train_data, root)
    if len(data.train_y) < s.noise_batches * s.train_batch:
        raise ValueError(f"{s.train_data}: {len(data.train_y)} training examples, the gradient checks need "
                         f"{s.noise_batches} batches of {s.train_batch}")
    g = torch.Generator().manual_seed(20_000 + seed)
    idx = torch.randperm(len(data.train_y), generator=g)[: s.noise_batches * s.train_batch]
    xs = to_float(data.train_x[idx]).to(dev).split(s.train_batch)
    ys = data.train_y[idx].to(dev).split(s.train_batch)
    net = build_net(s.verify_blocks, "float32", seed, data.model_kwargs()).to(dev)
    ref = copy.deepcopy(net)
    ref.reversible = False
    f64 = copy.deepcopy(ref).double()
    wide = build_net(s.verify_blocks, "float64", seed, data.model_kwargs()).to(dev)  # the remedy, same weights
    wide.load_state_dict(net.state_dict())
    g_rev = param_grad(net, xs[0], ys[0])
    bp = [param_grad(ref, x, y) for x, y in zip(xs, ys)]
    g64 = param_grad(f64, xs[0].double(), ys[0]).float()
    w_rev = param_grad(wide, xs[0], ys[0])
    wide.reversible = False
    w_bp = param_grad(wide, xs[0], ys[0])
    err, noise, norm = float((g_rev - bp[0]).norm()), minibatch_noise(bp), float(bp[0].norm())
    return {"recon": _recon(net, xs[0]), "grad": err / norm, "noise": noise / norm, "ratio": err / noise,
            "fp32_floor": float((bp[0] - g64).norm() / g64.norm()),
            "remedy_recon": _recon(wide, xs[0]), "remedy_grad": float((w_rev - w_bp).norm() / w_bp.norm())}


@dataclass(frozen=True)
class TrainRun:
    """One arm of the training comparison: the standard net of `blocks` coupling blocks trained `steps` SGD steps
    (momentum 0.9, constant lr, batches drawn with replacement from a generator of the seed) on `data`, with the
    reconstructing backward (`reversible`) or ordinary backprop."""

    reversible: bool
    blocks: int
    data: str
    data_root: str | None
    steps: int
    batch: int
    lr: float
    seed: int


def train_revnet(run: TrainRun) -> dict[str, Any]:
    """The arm's run (a FunctionRun): the training loss per step, then the held-out cross-entropy and accuracy on the
    whole test split (loss and acc None if a step's loss was not finite). Batch norm evaluates with the statistics
    of the evaluated examples (1,000 at a time), not running averages: after a few dozen steps of batch 8 those
    still trail the moving weights, and through 102 blocks the mismatch put both arms at chance (a smoke run)."""
    from skiplab.data import to_float
    from skiplab.train.loop import resolve_device
    dev = resolve_device("auto")
    data = dataset(run.data, run.data_root)
    x, y = to_float(data.train_x).to(dev), data.train_y.to(dev)
    net = build_net(run.blocks, "float32", run.seed, data.model_kwargs(), run.reversible).to(dev)
    opt = torch.optim.SGD(net.parameters(), lr=run.lr, momentum=0.9)
    g = torch.Generator().manual_seed(10_000 + run.seed)
    curve: list[float] = []
    for step in range(run.steps):
        idx = torch.randint(0, len(y), (run.batch,), generator=g).to(dev)
        loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
        if not torch.isfinite(loss):
            return {"loss": None, "acc": None, "curve": curve, "diverged_step": step}
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        curve.append(loss.item())
    total, correct, n = 0.0, 0, len(data.test_y)
    with torch.no_grad():
        for tx, ty in zip(data.test_x.split(1000), data.test_y.split(1000)):
            out = net(to_float(tx).to(dev))
            total += float(nn.functional.cross_entropy(out, ty.to(dev), reduction="sum"))
            correct += int((out.argmax(1) == ty.to(dev)).sum())
    loss_v = total / n
    return {"loss": loss_v if math.isfinite(loss_v) else None, "acc": correct / n, "curve": curve,
            "diverged_step": None}
