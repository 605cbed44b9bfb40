"""Operator norms (largest singular values) of the linear layers of a net, as maps of whole inputs.

A convolution's operator norm depends on its stride, padding and input size: it is the largest singular value of
the (huge, sparse) matrix that the convolution applies to a flattened input, *not* that of the kernel reshaped to
(out, in * k * k), which can be off either way (Sedghi, Gupta & Long 2019). So power iteration runs on the
convolution itself: A v = conv(v), A^T u = conv_transpose(u) with the same stride, padding, dilation and groups and
the output padding that restores the input size. No well-kept library computes this for an arbitrary torch conv
(torch.nn.utils.spectral_norm uses the reshaped kernel), hence this file. Both the Lipschitz probe and the budget
constraint (models/families/lipschitz.py) use it, so the constraint enforces exactly the norm the certificate
multiplies.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

import torch
from torch import nn
from torch.nn import functional as Fn

CONVS = (nn.Conv1d, nn.Conv2d)


def _conv_args(conv: nn.Module) -> dict:
    if getattr(conv, "padding_mode", "zeros") != "zeros" or isinstance(conv.padding, str):
        raise ValueError(f"operator norm: only zero padding given as numbers is supported, got "
                         f"padding={conv.padding!r}, padding_mode={conv.padding_mode!r}")
    return {"stride": conv.stride, "padding": conv.padding, "dilation": conv.dilation, "groups": conv.groups}


def conv_args(conv: nn.Module) -> dict:
    """What the convolution's map depends on besides its kernel: stride, padding, dilation, groups."""
    if not isinstance(conv, CONVS):
        raise TypeError(f"expected Conv1d or Conv2d, got {type(conv).__name__}")
    return _conv_args(conv)


def conv_maps(weight: torch.Tensor, in_shape: Sequence[int], args: dict):
    """(A, A^T) of the convolution with kernel `weight` and `args` (conv_args; bias left out: it does not change
    the Lipschitz constant) on inputs of per-example shape `in_shape` = (C, *spatial).
    A maps (N, *in_shape) -> (N, C_out, *spatial_out); A^T maps back."""
    dims = weight.dim() - 2
    fwd = Fn.conv1d if dims == 1 else Fn.conv2d
    bwd = Fn.conv_transpose1d if dims == 1 else Fn.conv_transpose2d
    spatial = tuple(in_shape[1:])

    def A(v: torch.Tensor) -> torch.Tensor:
        return fwd(v, weight, None, **args)

    def At(u: torch.Tensor) -> torch.Tensor:
        # conv_transpose of an output of size o gives (o - 1) s - 2 p + d (k - 1) + 1; pad up to the input size
        k, s, p, d = weight.shape[2:], args["stride"], args["padding"], args["dilation"]
        o = u.shape[2:]
        extra = tuple(spatial[i] - ((o[i] - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + 1) for i in range(dims))
        return bwd(u, weight, None, stride=s, padding=p, output_padding=extra, groups=args["groups"], dilation=d)

    return A, At


def linear_maps(weight: torch.Tensor):
    """(A, A^T) of a linear layer with weight (out, in) on inputs (N, in)."""
    return (lambda v: v @ weight.T), (lambda u: u @ weight)


def power_iteration(A, At, v: torch.Tensor, iters: int, tol: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Up to `iters` steps of v <- A^T A v / ||A^T A v|| from `v` (shape (1, *in_shape)); stops early when sigma =
    ||A v|| changes by less than `tol` (relative). Returns (sigma, v) with ||v|| = 1. sigma never exceeds the true
    norm (it is ||A v|| for a unit v) and converges to it from below."""
    v = v / v.norm().clamp_min(1e-30)
    sigma = A(v).norm()
    for _ in range(iters):
        w = At(A(v))
        n = w.norm()
        if n == 0:  # A v = 0: v lies in the null space; the norm estimate is 0 for this start
            return torch.zeros((), dtype=v.dtype, device=v.device), v
        v = w / n
        new = A(v).norm()
        done = tol > 0 and abs(float(new - sigma)) <= tol * float(new)
        sigma = new
        if done:
            break
    return sigma, v


EXPLICIT_MAX = 64  # inputs up to this size: the explicit matrix and an exact SVD (Lanczos is 6x faster at 1024)


def top_singular(A, At, in_shape: Sequence[int], dtype: torch.dtype = torch.float64, device: Any = "cpu",
                 seed: int = 0, tol: float = 1e-10) -> tuple[float, torch.Tensor]:
    """(sigma_max, its right singular vector (1, *in_shape)) of the linear map A on inputs of shape in_shape.
    Small inputs: the explicit matrix (A applied to the identity) and an exact SVD. Larger: ARPACK's Lanczos on
    A^T A (scipy.sparse.linalg.svds), which converges where plain power iteration crawls (conv spectra are dense at
    the top), polished by power iteration (which can only raise the estimate)."""
    n = math.prod(in_shape)
    if n <= EXPLICIT_MAX:
        eye = torch.eye(n, dtype=dtype, device=device).view(n, *in_shape)
        M = A(eye).flatten(1).T  # (out, n)
        _, S, Vh = torch.linalg.svd(M, full_matrices=False)
        return float(S[0]), Vh[0].view(1, *in_shape)
    from scipy.sparse.linalg import LinearOperator, svds
    v0 = torch.randn((1, *in_shape), generator=torch.Generator().manual_seed(seed), dtype=dtype)
    m = A(v0.to(device)).numel()
    to_t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=device)  # noqa: E731
    op = LinearOperator((m, n), dtype=np.float64,
                        matvec=lambda a: A(to_t(a).view(1, *in_shape)).flatten().cpu().numpy(),
                        rmatvec=lambda b: At(to_t(b).view(A(v0.to(device)).shape)).flatten().cpu().numpy())
    _, _, vt = svds(op, k=1, tol=tol, random_state=seed)
    sigma, v = power_iteration(A, At, to_t(vt[0]).view(1, *in_shape), 20)
    return float(sigma), v


def operator_norm(module: nn.Module, in_shape: Sequence[int] | None = None, weight: torch.Tensor | None = None,
                  seed: int = 0) -> float:
    """Largest singular value of a Linear layer (exact SVD) or of a Conv1d/Conv2d layer as the map it applies to
    inputs of per-example shape `in_shape` = (C, *spatial), with its stride and padding (`top_singular`), in
    float64. `weight` overrides the module's weight (e.g. a parametrized layer's effective weight)."""
    w = (module.weight if weight is None else weight).detach().double()
    if isinstance(module, nn.Linear):
        return float(torch.linalg.matrix_norm(w, ord=2))
    if in_shape is None:
        raise ValueError("a convolution's operator norm needs its input shape (C, *spatial)")
    A, At = conv_maps(w, in_shape, conv_args(module))
    return top_singular(A, At, in_shape, device=w.device, seed=seed)[0]


def input_shapes(net: nn.Module, example: torch.Tensor) -> dict[nn.Module, tuple[int, ...]]:
    """Per-example input shape (C, *spatial) of every module called on a tensor (the first call counts), from one
    forward pass of `example` (one example with its batch dim) in eval mode, without gradients. Every module is
    hooked, not only leaves: a parametrized layer has children. The model's modes are restored."""
    shapes: dict[nn.Module, tuple[int, ...]] = {}

    def record(mod: nn.Module, args: tuple) -> None:
        if args and isinstance(args[0], torch.Tensor):
            shapes.setdefault(mod, tuple(args[0].shape[1:]))

    hooks = [m.register_forward_pre_hook(record) for m in net.modules()]
    modes = [(m, m.training) for m in net.modules()]
    try:
        net.eval()
        with torch.no_grad():
            net(example)
    finally:
        for h in hooks:
            h.remove()
        for m, t in modes:
            m.training = t
    return shapes
