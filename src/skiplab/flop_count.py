"""FLOPs of a model with torch's own counter (`torch.utils.flop_counter`), which counts FLOPs = 2 x multiply-adds
of matmuls and convolutions (elementwise ops, norms and activations are not counted).

Two corrections to torch's counter, both about the backward pass:
- Grouped and depthwise convolutions. torch's formula for `aten.convolution_backward` counts the weight gradient
  as if the convolution had one group, `groups` times too many (torch 2.13): a depthwise conv's backward came out
  c_in times its true cost. Here `conv_backward_flops` replaces it. Each multiply-add of the forward (one input
  value times one weight, into one output) has exactly one counterpart in the input gradient (grad_out times the
  weight, into grad_in) and one in the weight gradient (grad_out times the input, into grad_w), so each of the two
  costs what the forward does, grouped or not. The formula counts only the gradients autograd asks for
  (`output_mask`): the first layer's input needs no gradient, so its backward is the weight gradient alone.
- Nets that free their activations. A RevNet's memory-saving backward (`reversible=True`) runs inside a custom
  autograd Function, which the counter's module tracker cannot follow (it raises AssertionError). Its backward is
  counted with `reversible` off: ordinary backprop through the same weights, the same forward and the same
  gradients. The count is the model's FLOPs, as in "model FLOPs utilization" (Chowdhery et al. 2022, PaLM): the
  extra forward of the coupling blocks that the memory-saving backward runs to rebuild its inputs is not in it.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count

NOTE = "FLOPs = 2 x multiply-adds (matmuls and convolutions only), per example"


def conv_backward_flops(grad_out_shape: Sequence[int], x_shape: Sequence[int], w_shape: Sequence[int], _bias: Any,
                        _stride: Any, _padding: Any, _dilation: Any, transposed: bool, _output_padding: Any,
                        _groups: int, output_mask: Sequence[bool], out_shape: Any = None, **kwargs: Any) -> int:
    """FLOPs of `aten.convolution_backward` (shapes as torch's flop formulas get them): the forward's count once
    for the input gradient and once for the weight gradient, each when `output_mask` asks for it (see the module
    docstring). The weight's shape (c_out, c_in / groups, *k) already carries the groups, so the forward's count
    needs no `groups` of its own; the bias gradient is a sum, not counted."""
    forward = conv_flop_count(list(x_shape), list(w_shape), list(grad_out_shape), transposed=transposed)
    return forward * (int(bool(output_mask[0])) + int(bool(output_mask[1])))


_CUSTOM = {torch.ops.aten.convolution_backward: conv_backward_flops}


@contextlib.contextmanager
def _ordinary_backprop(model: nn.Module) -> Iterator[None]:
    """Every RevNet in `model` with its memory-saving backward switched off, restored on exit."""
    from .models.families.revnet import RevNet  # here: `import skiplab` loads this module before skiplab.models
    nets = [m for m in model.modules() if isinstance(m, RevNet) and m.reversible]
    for m in nets:
        m.reversible = False
    try:
        yield
    finally:
        for m in nets:
            m.reversible = True


def flops(model: nn.Module, input_shape: Sequence[int], backward: bool = True) -> dict[str, int | str]:
    """FLOPs of one example of shape `input_shape` (no batch dim): forward, and forward + backward.

    Runs in eval mode (so batch norm works on one example) and restores the model's mode afterwards. The
    backward counts the gradients of the parameters (and of every activation on the way to them), not of the
    input; grouped convolutions and RevNets are counted as the module docstring says.
    """
    was_training = model.training
    model.eval()
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    x = torch.zeros(1, *input_shape, device=device)
    try:
        with FlopCounterMode(display=False, custom_mapping=_CUSTOM) as counter:
            with torch.no_grad():
                model(x)
        out: dict[str, int | str] = {"forward": int(counter.get_total_flops()), "note": NOTE}
        if backward:
            with _ordinary_backprop(model), FlopCounterMode(display=False, custom_mapping=_CUSTOM) as counter:
                model(x).float().sum().backward()
            out["forward_backward"] = int(counter.get_total_flops())
            model.zero_grad(set_to_none=True)
    finally:
        model.train(was_training)
    return out
