"""Gradient flow through depth: for the stem output x_0 and every block output x_l, the loss gradient dL/dx_l.

The raw norm ||dL/dx_l|| is not comparable across layers or nets: with batch norm downstream, scaling x_l by c
leaves the loss unchanged and divides dL/dx_l by c. The product g_l = ||dL/dx_l|| * ||x_l|| is invariant to that
rescaling, so it is the signal the claims compare (vanishing-gradients, degradation-cause); the raw norms come
along for the record.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch.nn import functional as F

from ..models import Net
from ..train.callbacks import Callback, TrainState
from ._common import EVAL_MODE, TRAIN_MODE, buffers_kept, check_net, frozen, prepare

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _norm(t: torch.Tensor) -> float:
    """Frobenius norm over the whole batch, accumulated in float64 (deep nets' tiny gradients underflow less)."""
    return float(torch.linalg.vector_norm(t.detach().double()))


def gradient_signal(model: Net, x: torch.Tensor, y: torch.Tensor, loss: Loss = F.cross_entropy) -> dict[str, Any]:
    """The gradient signal of `model` on the batch (x, y), in whatever mode the model is in.

    x: (N, *example_shape) inputs (uint8 pixels are scaled to [0, 1]); y: (N,) targets for `loss(logits, y)`,
    a scalar (default: mean cross-entropy). Returns a JSON-ready dict:

        mode       "train (batch statistics)" or "eval": the mode the model was in
        loss       L at this batch
        examples   N
        names      ["stem", <block names of net.blocks()>]: x_0 is the stem output, x_l block l's output
        grad_norm  ||dL/dx_l|| per name (Frobenius over the batch)
        act_norm   ||x_l|| per name
        signal     g_l = grad_norm * act_norm per name

    The model is left as found: same mode, same `requires_grad` flags, no `.grad` added to its parameters, and
    batch-norm running statistics restored (a train-mode forward would otherwise update them).
    """
    net = check_net(model, "gradient_signal")
    if not isinstance(y, torch.Tensor) or not isinstance(x, torch.Tensor) or x.dim() < 2:
        raise ValueError("gradient_signal needs a batch: x of shape (N, *example_shape) and y of shape (N,)")
    if x.shape[0] != y.shape[0] or x.shape[0] < 1:
        raise ValueError(f"gradient_signal: {x.shape[0]} inputs but {y.shape[0]} targets")
    x = prepare(net, x)
    y = y.to(x.device)
    mode = TRAIN_MODE if net.training else EVAL_MODE
    with frozen(net), buffers_kept(net), torch.enable_grad():
        # The input requires grad only so that every intermediate joins the graph; autograd.grad below stops at
        # the requested activations, so no gradient is computed for the input itself.
        inter = net.forward_intermediates(x.detach().requires_grad_(True))
        logits = net.forward_head(next(reversed(inter.values())))
        value = loss(logits, y)
        if value.dim() != 0:
            raise ValueError(f"gradient_signal: the loss must be a scalar, got shape {tuple(value.shape)}")
        acts = list(inter.values())
        grads = torch.autograd.grad(value, acts, allow_unused=True)
    names = list(inter.keys())
    grad_norm = [0.0 if g is None else _norm(g) for g in grads]
    act_norm = [_norm(a) for a in acts]
    return {"mode": mode, "loss": float(value.detach()), "examples": int(x.shape[0]), "names": names,
            "grad_norm": grad_norm, "act_norm": act_norm,
            "signal": [g * a for g, a in zip(grad_norm, act_norm)]}


class GradientSignalCallback(Callback):
    """Records `gradient_signal` on a fixed batch during `fit`, in train mode (batch statistics, as training sees
    the net): at fit start (epoch 0 = initialization), at the end of every `every`-th epoch, and at the end of
    the last epoch (so the trained net is always there).

    x: (N, *example_shape), y: (N,). Results stay in memory in `.records`, a list of {"epoch": e, "signal": dict}
    sorted by epoch, where e counts finished epochs; the caller persists them. When resuming, set `.records` to
    what was saved before `fit`: an epoch already recorded is never recomputed.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, every: int = 1, loss: Loss = F.cross_entropy) -> None:
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"GradientSignalCallback: every must be an integer >= 1, got {every!r}")
        if x.dim() < 2 or x.shape[0] != y.shape[0] or x.shape[0] < 1:
            raise ValueError("GradientSignalCallback needs x of shape (N, *example_shape) and y of shape (N,)")
        self.x, self.y, self.every, self.loss = x, y, every, loss
        self.records: list[dict[str, Any]] = []

    def _due(self, epoch: int, last: int) -> bool:
        return epoch % self.every == 0 or epoch == last

    def _record(self, state: TrainState, epoch: int) -> None:
        if any(r["epoch"] == epoch for r in self.records) or not self._due(epoch, state.cfg.epochs):
            return
        model = state.model
        was_training = model.training
        model.train()
        try:
            signal = gradient_signal(model, self.x.to(state.device), self.y.to(state.device), self.loss)
        finally:
            model.train(was_training)
        self.records.append({"epoch": epoch, "signal": signal})
        self.records.sort(key=lambda r: r["epoch"])

    def on_fit_start(self, state: TrainState) -> None:
        # A fresh run starts at epoch 0 (initialization); a resumed one at its last finished epoch, whose weights
        # are those the record of that epoch saw, so computing a missing record there is still correct.
        self._record(state, state.epoch)

    def on_epoch_end(self, state: TrainState, metrics: dict[str, Any]) -> None:
        self._record(state, int(metrics["epoch"]))
