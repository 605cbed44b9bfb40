"""Lipschitz bounds (L2) of a `Net` through the dissection interface: an upper bound per block and for the whole
net from layer operator norms, and an empirical lower bound from input gradients of the logit margin.

Upper: a layer chain's constant is at most the product of its layers' (models/parts/operator_norm.py: convolutions by
power iteration on the convolution with its stride and padding; eval-mode batch norm is the per-channel scale
gamma / sqrt(running_var + eps)); a block x -> shortcut(x) + h F(x) is at most Lip(shortcut) + |h| Lip(F)
(1 + |h| Lip(F) for an identity shortcut); a plain block is Lip(F); the net is normalize * stem * blocks * head.
Lower: for any x, ||grad_x m(x)|| <= sqrt(2) Lip(logits), m = z_y - max_{j != y} z_j (a difference of two logits),
so max over data of ||grad m|| / sqrt(2) bounds the logits' constant from below.
Certified: an example whose margin exceeds sqrt(2) * L * eps keeps its label in the whole L2 eps-ball (Tsuzuku,
Sato & Sugiyama 2018)."""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torch import nn

from ..guards import attack_mode, check_net, eval_mode_note, logit_margin, prepare
from ..models import Net
from ..models.blocks import PlainBlock, ResidualBlock
from ..models.parts.layers import Normalize, PadShortcut, ResidualScale
from ..models.parts.operator_norm import CONVS, input_shapes, operator_norm

GELU_LIP = 1.1289  # max |d/dx x Phi(x)| = 1 + 2 phi(sqrt 2) ~ 1.1289
_ONE = (nn.ReLU, nn.Identity, nn.Flatten, nn.Tanh, nn.Dropout, PadShortcut)  # 1-Lipschitz (eval mode)
_BN = (nn.BatchNorm1d, nn.BatchNorm2d)


def module_bound(m: nn.Module, shapes: dict[nn.Module, tuple[int, ...]], seed: int = 0) -> float:
    """An upper bound on the L2 Lipschitz constant of module `m` (eval mode) on inputs of its recorded shape."""
    if isinstance(m, nn.Sequential):
        return math.prod(module_bound(c, shapes, seed) for c in m)
    if isinstance(m, (*CONVS, nn.Linear)):
        return operator_norm(m, shapes.get(m), weight=m.weight, seed=seed)  # m.weight: the effective weight
    if isinstance(m, _BN):
        if m.training or m.running_var is None:
            raise ValueError("Lipschitz bounds need batch norm in eval mode with running statistics")
        scale = (m.running_var + m.eps).rsqrt() * (m.weight if m.affine else 1.0)
        return float(scale.detach().abs().max())
    if isinstance(m, _ONE):
        return 1.0
    if isinstance(m, nn.GELU):
        return GELU_LIP
    if isinstance(m, ResidualScale):
        return float(m.h.abs())
    if isinstance(m, Normalize):
        return float(m.std.min().reciprocal())
    if isinstance(m, (nn.MaxPool1d, nn.MaxPool2d)) and m.kernel_size == m.stride and m.padding in (0, (0, 0)):
        return 1.0  # disjoint windows: |max a - max b| <= ||a - b|| window by window
    if isinstance(m, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)) and m.output_size in (1, (1, 1)):
        return 1.0 / math.sqrt(math.prod(shapes[m][1:]))  # the mean of n numbers is (1/sqrt n)-Lipschitz in L2
    raise ValueError(f"no Lipschitz bound for a {type(m).__name__} layer")


def block_bound(block: nn.Module, shapes: dict[nn.Module, tuple[int, ...]], seed: int = 0) -> tuple[float, float]:
    """(Lip bound of the branch F, Lip bound of the block) for additive, additive-post and plain blocks."""
    if isinstance(block, ResidualBlock):
        f = module_bound(block.branch, shapes, seed)
        post = 1.0 if block.post is None else module_bound(block.post, shapes, seed)
        return f, post * (module_bound(block.shortcut, shapes, seed)
                          + module_bound(block.scale, shapes, seed) * f)
    if isinstance(block, PlainBlock):
        f = module_bound(block.branch, shapes, seed)
        return f, f * (1.0 if block.post is None else module_bound(block.post, shapes, seed))
    raise ValueError(f"no Lipschitz bound for a {block.kind!r} block")


def lipschitz_bounds(net: Net, example: torch.Tensor, seed: int = 0) -> dict[str, Any]:
    """Upper bounds of the logits' L2 Lipschitz constant (w.r.t. pixels) of `net` in eval mode. `example`
    (1, *input shape) fixes every layer's input size. Returns {"blocks": [{name, kind, branch, block}],
    "normalize", "stem", "head", "total" (the product), "mode"}."""
    net = check_net(net, "lipschitz_bounds")
    mode = eval_mode_note(net, "lipschitz_bounds")
    shapes = input_shapes(net, prepare(net, example))
    blocks = []
    for name, block in net.blocks():
        f, b = block_bound(block, shapes, seed)
        blocks.append({"name": name, "kind": block.kind, "branch": f, "block": b})
    ends = {k: module_bound(getattr(net, k), shapes, seed) for k in ("normalize", "stem", "head")}
    total = ends["normalize"] * ends["stem"] * math.prod(b["block"] for b in blocks) * ends["head"]
    return {"blocks": blocks, **ends, "total": total, "mode": mode}


def margin_gradients(net: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> dict[str, Any]:
    """Per example ||grad_x m(x)||_2 of the logit margin m = z_y - max_{j != y} z_j (eval mode). Returns {"norms"
    (N,), "max", "lower_bound" = max / sqrt 2 (<= the logits' Lipschitz constant), "mode"}."""
    mode = eval_mode_note(net, "margin_gradients")
    x = prepare(net, x)
    y = y.to(x.device)
    norms = []
    with attack_mode(net):
        for s in range(0, len(y), batch_size):
            xr = x[s:s + batch_size].clone().requires_grad_(True)
            grad, = torch.autograd.grad(logit_margin(net(xr), y[s:s + batch_size]).sum(), xr)
            norms.append(grad.flatten(1).norm(dim=1))
    n = torch.cat(norms)
    return {"norms": n.tolist(), "max": float(n.max()), "lower_bound": float(n.max()) / math.sqrt(2), "mode": mode}


def certified_accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor, bound: float,
                       eps: Sequence[float]) -> list[float]:
    """Fraction of examples whose margin exceeds sqrt(2) * bound * eps: provably right in the L2 eps-ball."""
    x = prepare(net, x)
    with attack_mode(net), torch.no_grad():
        m = logit_margin(net(x), y.to(x.device))
    return [float((m > math.sqrt(2) * bound * e).float().mean()) for e in eps]
