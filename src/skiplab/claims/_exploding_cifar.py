"""The full-scale part of exploding-residuals: each variant as a CIFAR ResNet (He et al.'s family, norm-free
unless batch-normed), trained with He et al.'s recipe; the last epoch's training loss is reported beside the
verdict (the verdict itself rests on the MLP measurements, which run at both scales)."""

from __future__ import annotations

import math
from typing import Any

import torch

from .base import Context
from .exploding_residuals import VARIANTS, ExplodingScale, variant_args


def cifar_losses(ctx: Context, s: ExplodingScale) -> dict[str, Any]:
    """Each variant as the CIFAR ResNet `s.cifar_model` (norm-free, the plain twin, or batch-normed): the last
    epoch's training loss per seed (None: diverged). The family keeps its own He init."""
    from ..data import load_dataset
    from ..models import create_model, model_config
    from ..train import TrainConfig, fit
    data = load_dataset(ctx.data or s.cifar_data, root=ctx.data_root)
    mc = model_config(s.cifar_model)
    n_blocks = len(mc.widths) * mc.blocks_per_stage
    cfg = TrainConfig(epochs=s.cifar_epochs, max_steps=ctx.max_steps, eval_every=s.cifar_epochs,
                      batch_size=min(128, len(data.train_y)))  # smoke data sets can be smaller than a batch
    out: dict[str, Any] = {"model": s.cifar_model, "epochs": s.cifar_epochs, "loss": {}}
    for v in VARIANTS:
        preset, args = variant_args(v, n_blocks)
        args = {k: a for k, a in args.items() if k != "depth"}
        name = s.cifar_model.replace("resnet", "plain") if preset == "plainmlp" else s.cifar_model
        out["loss"][v] = []
        for seed in ctx.seed_list:
            torch.manual_seed(seed)
            hist = fit(create_model(name, **args, **data.model_kwargs()), data, cfg, seed=seed, verbose=False)
            loss = hist.last("train_loss")
            ok = hist.status != "diverged" and loss is not None and math.isfinite(loss)
            out["loss"][v].append(loss if ok else None)
    return out
