"""Boosting view of a residual net: read the output off after every block.

Head readout. For a pre-activation net x_{l+1} = shortcut(x_l) + F_l(x_l), so the partial sum after l blocks,
carried to the end by the identity/shortcut paths alone, is exactly `forward_features(x, skip=<blocks l..L-1>)`:
lesioning the later blocks leaves only their shortcuts. The net's own head applied to it gives the prediction of
the first l "boosting stages"; l = 0 is the stem alone, l = L the whole net. For a plain twin the same lesions
exist only where every later block preserves the shape; other partial sums are reported as unavailable.

Batch norm: the head normalizes whatever reaches it, and its running statistics were fitted to x_L, not to a
partial sum. With `calibrate_x` every lesioned net gets its batch-norm statistics re-estimated on those training
examples first (eval mode then), so each readout is judged with a head that has seen its own input scale.

Linear-probe readout. A logistic regression on each block output, globally average-pooled over space, fit on a
training batch and scored on a held-out batch: what is linearly decodable after each block, whatever the head.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..guards import EVAL_MODE, TRAIN_MODE, buffers_kept, check_net, frozen, prepare
from ..models import Net

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def _recalibrate(net: Net, skip: frozenset[str], x: torch.Tensor, batch_size: int = 256) -> None:
    """Re-estimate every batch-norm layer's statistics as exact averages over `x` with `skip` lesioned."""
    layers = [m for m in net.modules() if isinstance(m, _BN)]
    momenta = [m.momentum for m in layers]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: every calibration batch weighs the same
    net.train()
    try:
        for start in range(0, x.shape[0], batch_size):
            net.forward_head(net.forward_features(x[start:start + batch_size], skip=skip))
    finally:
        for m, mom in zip(layers, momenta):
            m.momentum = mom
        net.eval()


def readout(model: Net, x: torch.Tensor, y: torch.Tensor, loss: Loss = F.cross_entropy,
            calibrate_x: torch.Tensor | None = None) -> dict[str, Any]:
    """The net's own head applied to the partial sum after l = 0..L blocks.

    x: (N, *example_shape) held-out inputs, y: (N,) labels; calibrate_x: (M, *example_shape) training inputs
    (optional, see the module docstring; without it the model runs in its current mode). Returns:

        mode       the batch-norm mode used
        names      ["stem", <block names>]: entry l is the readout after the first l blocks
        kinds      [None, <block kinds>]
        available  per entry: False where a later block cannot be lesioned (plain, shape-changing)
        loss       per entry: loss(head(partial sum), y), None where unavailable
        error      per entry: fraction of wrong argmax predictions, None where unavailable

    The model is left as found (mode, flags, batch-norm buffers restored even after recalibration).
    """
    net = check_net(model, "readout")
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor) or x.shape[0] != y.shape[0]:
        raise ValueError("readout needs x of shape (N, *example_shape) and y of shape (N,)")
    x = prepare(net, x)
    y = y.to(x.device)
    cal = None if calibrate_x is None else prepare(net, calibrate_x)
    was_training = net.training
    mode = (f"eval (batch norm recalibrated for each partial sum on {cal.shape[0]} training examples)"
            if cal is not None else TRAIN_MODE if was_training else EVAL_MODE)
    blocks = list(net.blocks())
    names = ["stem"] + [n for n, _ in blocks]
    out: dict[str, Any] = {"mode": mode, "examples": int(x.shape[0]), "names": names,
                           "kinds": [None] + [b.kind for _, b in blocks], "available": [], "loss": [], "error": []}
    try:
        with frozen(net), buffers_kept(net), torch.no_grad():
            for l in range(len(blocks) + 1):
                later = blocks[l:]
                if not all(b.lesionable for _, b in later):
                    out["available"].append(False)
                    out["loss"].append(None)
                    out["error"].append(None)
                    continue
                skip = frozenset(n for n, _ in later)
                if cal is not None:
                    _recalibrate(net, skip, cal)
                logits = net.forward_head(net.forward_features(x, skip=skip))
                out["available"].append(True)
                out["loss"].append(float(loss(logits, y)))
                out["error"].append(float((logits.argmax(1) != y).double().mean()))
    finally:
        net.train(was_training)
    return out


def pooled_intermediates(model: Net, x: torch.Tensor) -> "dict[str, np.ndarray]":
    """{"stem" | block name: (N, C) float64}: each intermediate averaged over its spatial dims (vectors as is),
    in the model's current mode; model left as found."""
    net = check_net(model, "pooled_intermediates")
    x = prepare(net, x)
    with frozen(net), buffers_kept(net), torch.no_grad():
        inter = net.block_outputs(x)
    return {k: (v.flatten(2).mean(2) if v.dim() > 2 else v).double().cpu().numpy() for k, v in inter.items()}


def linear_readout(model: Net, x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor,
                   y_test: torch.Tensor, c: float = 1.0) -> dict[str, Any]:
    """A logistic-regression probe per intermediate (globally pooled, standardized on the training batch, L2
    penalty 1/c), fit on (x_train, y_train) and scored on (x_test, y_test).

    x_*: (N, *example_shape), y_*: (N,) labels. Returns {"names", "loss" (held-out mean cross-entropy),
    "error" (held-out error), "train_error"}, one entry per name ("stem", then every block)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    tr, te = pooled_intermediates(model, x_train), pooled_intermediates(model, x_test)
    ytr, yte = y_train.cpu().numpy(), y_test.cpu().numpy()
    labels = np.unique(ytr)
    out: dict[str, Any] = {"names": list(tr), "loss": [], "error": [], "train_error": []}
    for name in tr:
        mu, sd = tr[name].mean(0), tr[name].std(0) + 1e-8  # standardize: pooled channels differ wildly in scale
        a, b = (tr[name] - mu) / sd, (te[name] - mu) / sd
        clf = LogisticRegression(C=c, max_iter=500).fit(a, ytr)
        out["loss"].append(float(log_loss(yte, clf.predict_proba(b), labels=labels)))
        out["error"].append(float((clf.predict(b) != yte).mean()))
        out["train_error"].append(float((clf.predict(a) != ytr).mean()))
    return out
