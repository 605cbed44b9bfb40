"""What every tool that feeds a `Net` needs (the probes, the attacks, the claims that measure a net themselves):
check that it got a `Net` and an input it can feed it, feed it inputs as it sees them, leave it as found (frozen
parameters, buffers put back, modes restored), and say which batch-norm mode it ran in. Also the logit margin, the
quantity both the attacks and the Lipschitz certificate are about.

It sits below `probes` and `attacks` and above `models` and `data`, so both tool packages import it and neither
imports the other: the uint8 -> [0, 1] view of an input is `data`'s (`to_float`), the `Net` is `models`'."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

from .data.dataset import to_float
from .models import Net, has_batchnorm

TRAIN_MODE = "train (batch statistics)"
EVAL_MODE = "eval"
_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def check_net(model: object, probe: str) -> Net:
    if not isinstance(model, Net):
        raise ValueError(f"{probe} needs a skiplab Net (from skiplab.models.create_model), "
                         f"got {type(model).__name__}")
    return model


def check_single(x: torch.Tensor, probe: str) -> None:
    """One example with its batch dim: shape (1, *example_shape)."""
    if not isinstance(x, torch.Tensor) or x.dim() < 2 or x.shape[0] != 1:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{probe} needs a batch of exactly one example, shape (1, *example_shape); got {shape}")


def prepare(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """`x` as the module sees it: uint8 pixels scaled to [0, 1], on the module's device and in its float dtype
    (so a float64 model gets float64 inputs: the numerical checks run there)."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"expected a tensor input, got {type(x).__name__}")
    ref = next(iter(module.parameters()), None)
    if ref is None:
        ref = next(iter(module.buffers()), None)
    x = to_float(x) if not x.is_floating_point() else x
    if ref is None:
        return x
    return x.to(device=ref.device, dtype=ref.dtype if ref.is_floating_point() else x.dtype)


@contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Parameters do not require grad inside: probes differentiate with respect to activations only, so no
    graph is built for (and no .grad lands on) the weights. Flags are restored on exit, even on error."""
    params = list(module.parameters())
    flags = [p.requires_grad for p in params]
    try:
        for p in params:
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)


@contextmanager
def buffers_kept(module: nn.Module) -> Iterator[None]:
    """A forward pass in train mode updates batch-norm running statistics; a probe must not, so every buffer is
    put back as it was on exit (a probe run inside training then leaves training bit-identical)."""
    saved = [(b, b.detach().clone()) for b in module.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for b, copy in saved:
                b.copy_(copy)


def eval_mode_note(module: nn.Module, probe: str, bn_mode: str | None = None) -> str:
    """The batch-norm mode a single-example probe runs in; refuses batch statistics (DESIGN.md's policy)."""
    if not has_batchnorm(module):
        return "no batch norm (train and eval agree)"
    if any(isinstance(m, _BN) and m.training for m in module.modules()):
        raise ValueError(f"{probe} runs in eval mode with calibrated batch-norm statistics: call "
                         "skiplab.models.calibrate_batchnorm(net, train_x) first (it leaves the net in eval mode)")
    return bn_mode or "eval (running statistics)"


def logit_margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """z_y - max_{j != y} z_j per example: (N, K), (N,) -> (N,). Positive iff the example is classified right
    (up to ties)."""
    true = logits.gather(1, y[:, None]).squeeze(1)
    other = logits.scatter(1, y[:, None], float("-inf")).amax(1)
    return true - other


@contextmanager
def attack_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode (batch norm on its running statistics, so an example's output does not depend on its batch) and
    frozen parameters; every module's mode and every parameter's flag are restored on exit."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with frozen(model):
            yield
    finally:
        for m, t in modes:
            m.training = t
