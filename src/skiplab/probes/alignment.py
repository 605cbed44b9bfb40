"""Residual/error alignment (Jastrzebski et al. 2018): does each block's increment F_l(x_l) point along the
loss-reducing direction at its output?

For an additive (pre-activation) block x_{l+1} = x_l + F_l(x_l), the first-order change of the loss caused by the
block is <dL/dx_{l+1}, F_l(x_l)>, so "F_l reduces the loss" means cos(F_l(x_l), -g_{l+1}) > 0 with
g_{l+1} = dL/dx_{l+1}, the gradient at the block's *output* (the point the increment is added to). The cosine is
taken per example (each example's tensors flattened) and averaged over the batch.

The null: the same cosine with F and g paired across *different* examples (a fixed derangement). It keeps each
side's marginal statistics (e.g. a shared mean direction, ReLU-positive features) while breaking the per-example
pairing, so "aligned" means above the null, not merely above 0.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

from ..guards import EVAL_MODE, TRAIN_MODE, buffers_kept, check_net, frozen, prepare
from ..models import Net
from .recorder import Loss, ProbeRecorder


_EPS = 1e-30  # a zero vector gets cosine 0 (it points nowhere), not NaN

# Why `alignment` skips a block of each kind, in words for the user: it needs x_{l+1} = x_l + F(x_l), where the
# residual F is exactly what the block adds to its input (DESIGN.md's table of kinds).
SKIP_REASONS = {
    "additive-post": "additive-post (original ResNet: relu after the sum), where the residual F is not what the "
                     "block adds",
    "plain": "plain (no shortcut): its output replaces its input, so no residual is added",
    "gated": "gated (highway): it mixes T(x) H(x) with (1 - T(x)) x instead of adding a residual",
    "coupling": "a coupling block (reversible): F and G are added to different halves of its input",
    "concat": "a concat (dense) layer: it appends its branch's output to its input instead of adding it",
    "continuous": "continuous (an ODE or integrator block): its update is a solver's step, not one residual F",
}
NEEDS = "alignment needs pre-activation residual blocks (x + F(x))"


def skip_reason(kind: str) -> str:
    """Why `alignment` skips a block of `kind` (SKIP_REASONS; a kind it does not know by name: "<kind>, not
    additive")."""
    return SKIP_REASONS.get(kind, f"{kind}, not additive")


def cosine_rows(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine between matching rows. a, b: (N, *shape) of equal shape -> (N,) in float64 (each row flattened)."""
    if a.shape != b.shape:
        raise ValueError(f"cosine_rows: shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}")
    a, b = a.detach().reshape(a.shape[0], -1).double(), b.detach().reshape(b.shape[0], -1).double()
    den = torch.linalg.vector_norm(a, dim=1) * torch.linalg.vector_norm(b, dim=1)
    return torch.where(den > _EPS, (a * b).sum(1) / den.clamp_min(_EPS), torch.zeros_like(den))


def derangement(n: int, seed: int = 0) -> torch.Tensor:
    """A permutation of range(n) with no fixed point (n >= 2): a random order, each element sent to the next one
    in it. A fixed point would pair an example with itself and leak the real alignment into the null."""
    if n < 2:
        raise ValueError("a shuffled-pairing null needs at least 2 examples")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    perm = torch.empty(n, dtype=torch.long)
    perm[order] = order.roll(-1)
    return perm


def _check_batch(x: Any, y: Any, probe: str) -> None:
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor) or x.dim() < 2:
        raise ValueError(f"{probe} needs a batch: x of shape (N, *example_shape) and y of shape (N, ...)")
    if x.shape[0] != y.shape[0] or x.shape[0] < 2:
        raise ValueError(f"{probe}: needs >= 2 examples with one target each, got {x.shape[0]} and {y.shape[0]}")


def _summ(c: torch.Tensor) -> tuple[float, float]:
    return float(c.mean()), float(c.std()) if c.numel() > 1 else 0.0


def alignment(model: Net, x: torch.Tensor, y: torch.Tensor, loss: Loss = F.cross_entropy,
              null_seed: int = 0) -> dict[str, Any]:
    """cos(F_l(x_l), -dL/dx_{l+1}) for every additive block, in whatever mode the model is in.

    x: (N, *example_shape), N >= 2; y: (N,) class labels (or (N, *target) for a regression loss); `loss` maps
    (logits, y) to a scalar. Returns a JSON-ready dict:

        mode, loss, examples   as in gradient_signal
        names      additive blocks probed, in forward order
        cos        per block: mean over the batch of the per-example cosine
        cos_std    per block: its std over the examples
        null       per block: the same mean with F and g paired across examples (derangement seeded by null_seed)
        null_std   per block: its std over the examples
        skipped    {block name: kind} of blocks without an additive increment (plain, post-activation, ...);
                   `skip_reason(kind)` says why in words

    The model is left as found (mode, requires_grad flags, no parameter .grad, batch-norm buffers).
    """
    net = check_net(model, "alignment")
    _check_batch(x, y, "alignment")
    x = prepare(net, x)
    y = y.to(x.device)
    mode = TRAIN_MODE if net.training else EVAL_MODE
    perm = derangement(x.shape[0], null_seed).to(x.device)
    out: dict[str, Any] = {"mode": mode, "examples": int(x.shape[0]), "names": [], "cos": [], "cos_std": [],
                           "null": [], "null_std": [], "skipped": {}}
    with frozen(net), buffers_kept(net), torch.enable_grad():
        inter = net.block_outputs(x.detach().requires_grad_(True))
        value = loss(net.forward_head(next(reversed(inter.values()))), y)
        if value.dim() != 0:
            raise ValueError(f"alignment: the loss must be a scalar, got shape {tuple(value.shape)}")
        acts = list(inter.values())
        grads = torch.autograd.grad(value, acts[1:], allow_unused=True)
        inputs = dict(zip(net.block_names(), acts[:-1]))  # x_l: the stem output or the previous block's output
        for (name, block), g in zip(net.blocks(), grads):
            if block.kind != "additive":
                out["skipped"][name] = block.kind
                continue
            with torch.no_grad():  # in train mode the branch sees the same batch statistics as the forward did
                inc = block.increment(inputs[name])
            g = torch.zeros_like(inc) if g is None else -g
            real, null = cosine_rows(inc, g), cosine_rows(inc, g[perm])
            out["names"].append(name)
            for key, c in (("cos", real), ("null", null)):
                m, s = _summ(c)
                out[key].append(m)
                out[f"{key}_std"].append(s)
    out["loss"] = float(value.detach())
    return out


def identity_alignment(model: Net, x: torch.Tensor, y: torch.Tensor, null_seed: int = 0) -> dict[str, Any]:
    """cos(F_l(x_l), y - x_l) literally, for additive blocks whose x_l has the target's shape: on a regression
    y = x + small(x) with an identity stem, y - x_l is the error left before block l (does F correct it?).

    x: (N, *example_shape), y: (N, *target_shape). Returns {"mode", "examples", "names", "cos", "cos_std",
    "null", "null_std", "skipped"} as `alignment` (skipped: {name: reason}). Model left as found.
    """
    net = check_net(model, "identity_alignment")
    _check_batch(x, y, "identity_alignment")
    x = prepare(net, x)
    y = y.to(device=x.device, dtype=x.dtype)
    perm = derangement(x.shape[0], null_seed).to(x.device)
    out: dict[str, Any] = {"mode": TRAIN_MODE if net.training else EVAL_MODE, "examples": int(x.shape[0]),
                           "names": [], "cos": [], "cos_std": [], "null": [], "null_std": [], "skipped": {}}
    with frozen(net), buffers_kept(net), torch.no_grad():
        inter = list(net.block_outputs(x).values())
        for (name, block), x_l in zip(net.blocks(), inter[:-1]):
            if block.kind != "additive" or x_l.shape != y.shape:
                out["skipped"][name] = block.kind if block.kind != "additive" else "shape differs from the target"
                continue
            inc, err = block.increment(x_l), y - x_l
            out["names"].append(name)
            for key, c in (("cos", cosine_rows(inc, err)), ("null", cosine_rows(inc, err[perm]))):
                m, s = _summ(c)
                out[key].append(m)
                out[f"{key}_std"].append(s)
    return out


class AlignmentCallback(ProbeRecorder):
    """Records `alignment` during `fit` (see ProbeRecorder); records are {"epoch": e, "alignment": dict}."""

    key = "alignment"

    def __init__(self, x: torch.Tensor, y: torch.Tensor, every: int = 1, loss: Loss = F.cross_entropy) -> None:
        _check_batch(x, y, "AlignmentCallback")  # the shuffled null needs >= 2 examples
        super().__init__(x, y, every, loss)

    def probe(self, model: Any, x: torch.Tensor, y: torch.Tensor, loss: Loss) -> dict[str, Any]:
        return alignment(model, x, y, loss)
