"""FLOPs of a model with torch's own counter (`torch.utils.flop_counter`), which counts FLOPs = 2 x multiply-adds
of matmuls and convolutions (elementwise ops, norms and activations are not counted)."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

NOTE = "FLOPs = 2 x multiply-adds (matmuls and convolutions only), per example"


def flops(model: nn.Module, input_shape: Sequence[int], backward: bool = True) -> dict[str, int | str]:
    """FLOPs of one example of shape `input_shape` (no batch dim): forward, and forward + backward.

    Runs in eval mode (so batch norm works on one example) and restores the model's mode afterwards.
    """
    was_training = model.training
    model.eval()
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    x = torch.zeros(1, *input_shape, device=device)
    try:
        with FlopCounterMode(display=False) as counter:
            with torch.no_grad():
                model(x)
        out: dict[str, int | str] = {"forward": int(counter.get_total_flops()), "note": NOTE}
        if backward:
            with FlopCounterMode(display=False) as counter:
                model(x).float().sum().backward()
            out["forward_backward"] = int(counter.get_total_flops())
            model.zero_grad(set_to_none=True)
    finally:
        model.train(was_training)
    return out
