"""Gradient flow through depth: for the stem output x_0 and every block output x_l, the loss gradient dL/dx_l.

The raw norm ||dL/dx_l|| is not comparable across layers or nets: with batch norm downstream, scaling x_l by c
leaves the loss unchanged and divides dL/dx_l by c. The product g_l = ||dL/dx_l|| * ||x_l|| is invariant to that
rescaling, so it is the signal the claims compare (vanishing-gradients, degradation-cause); the raw norms come
along for the record.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

from ..guards import EVAL_MODE, TRAIN_MODE, buffers_kept, check_net, frozen, prepare
from ..models import Net
from .recorder import Loss, ProbeRecorder


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
        inter = net.block_outputs(x.detach().requires_grad_(True))
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


class GradientSignalCallback(ProbeRecorder):
    """Records `gradient_signal` during `fit` (see ProbeRecorder); records are {"epoch": e, "signal": dict}."""

    key = "signal"

    def probe(self, model: Any, x: torch.Tensor, y: torch.Tensor, loss: Loss) -> dict[str, Any]:
        return gradient_signal(model, x, y, loss)
