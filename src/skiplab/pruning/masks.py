"""Pruning masks over a net's conv and linear weights, through `torch.nn.utils.prune` (its forward pre-hook
computes `weight = weight_orig * weight_mask` on every call, so a pruned weight stays exactly zero through any
optimizer step, and the mask is a buffer of the state dict, so checkpoints and resume carry it).

A mask set is `{module name: bool tensor of the weight's shape}`; True keeps a weight. Names are the module's
`named_modules()` names (e.g. `stages.1.blocks.0.branch.3`), stable across runs of one architecture."""

from __future__ import annotations

from typing import Iterable, Literal

import torch
from torch import nn
from torch.nn.utils import prune

from ..errors import ConfigError

Masks = dict[str, torch.Tensor]
PRUNABLE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def prunable(model: nn.Module, exclude: Iterable[str] = ()) -> dict[str, nn.Module]:
    """{name: module} of every conv and linear layer in registration (forward) order, except those whose name is
    in `exclude` or starts with `<prefix>.` for a prefix in `exclude` (e.g. "head": the classifier stays dense,
    as in Frankle & Carbin's ResNet and VGG runs)."""
    ex = tuple(exclude)
    return {n: m for n, m in model.named_modules() if isinstance(m, PRUNABLE)
            and not any(n == e or n.startswith(e + ".") for e in ex)}


def is_pruned(module: nn.Module) -> bool:
    return prune.is_pruned(module) and hasattr(module, "weight_mask")


def effective_weight(module: nn.Module) -> torch.Tensor:
    """The weight the forward pass uses: weight_orig * weight_mask when pruned. Computed here rather than read from
    `module.weight`, which the prune hook refreshes only at the next forward (stale after loading a state dict)."""
    return module.weight_orig * module.weight_mask if is_pruned(module) else module.weight


def current_masks(model: nn.Module, exclude: Iterable[str] = ()) -> Masks:
    """The model's masks (all-True for a layer not yet pruned), as bool tensors on the CPU."""
    out = {}
    for name, m in prunable(model, exclude).items():
        out[name] = (m.weight_mask.detach().cpu() != 0) if is_pruned(m) else torch.ones_like(m.weight, dtype=torch.bool,
                                                                                           device="cpu")
    return out


def apply_masks(model: nn.Module, masks: Masks) -> None:
    """Prune `model` with `masks` (names from `prunable`). A layer already pruned gets the new mask in place of
    its old one (its weight_orig is kept): masks here are always the whole mask, never an increment."""
    layers = dict(model.named_modules())
    for name, mask in masks.items():
        m = layers.get(name)
        if m is None or not isinstance(m, PRUNABLE):
            raise ConfigError(f"mask {name!r}: the model has no conv or linear layer of that name")
        shape = tuple(m.weight_orig.shape if is_pruned(m) else m.weight.shape)
        if tuple(mask.shape) != shape:
            raise ConfigError(f"mask {name!r}: shape {tuple(mask.shape)} does not fit the layer's weight {shape}")
        mask = mask.to(dtype=torch.float32, device=(m.weight_orig if is_pruned(m) else m.weight).device)
        if is_pruned(m):
            with torch.no_grad():
                m.weight_mask.copy_(mask)
            setattr(m, "weight", effective_weight(m))  # what prune's hook would set at the next forward
        else:
            prune.custom_from_mask(m, "weight", mask)


def smallest(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Bool mask of the `k` smallest entries of the 1-D `scores`, ties broken by lower index (deterministic).
    O(n) through kthvalue: topk with a k in the millions (a VGG-19's 20% round) is many times slower."""
    out = torch.zeros_like(scores, dtype=torch.bool)
    if k <= 0:
        return out
    t = torch.kthvalue(scores, k).values
    out = scores < t
    ties = torch.nonzero(scores == t).flatten()[:k - int(out.sum())]
    out[ties] = True
    return out


def magnitude_masks(model: nn.Module, fraction: float, scope: Literal["global", "layerwise"] = "global",
                    exclude: Iterable[str] = ()) -> Masks:
    """The masks after pruning `fraction` of the weights that are still unpruned, by smallest |effective weight|:
    over all layers together ("global", as Frankle & Carbin prune ResNets and VGGs) or the same fraction of each
    layer ("layerwise"). The model itself is left as it was."""
    if not 0 <= fraction < 1:
        raise ConfigError(f"prune fraction must be in [0, 1), got {fraction}")
    if scope not in ("global", "layerwise"):
        raise ConfigError(f"prune scope {scope!r} is not one of global, layerwise")
    layers = prunable(model, exclude)
    if not layers:
        raise ConfigError("the model has no conv or linear layer left to prune")
    old = current_masks(model, exclude)
    w = {n: effective_weight(m).detach().cpu().abs().flatten() for n, m in layers.items()}
    new = {}
    if scope == "global":
        scores = torch.cat([torch.where(old[n].flatten(), w[n], torch.inf) for n in layers])
        n_alive = int(sum(int(m.sum()) for m in old.values()))
        cut = smallest(scores, round(fraction * n_alive))
        i = 0
        for n in layers:
            size = w[n].numel()
            new[n] = old[n] & ~cut[i:i + size].view_as(old[n])
            i += size
        return new
    for n in layers:
        alive = old[n].flatten()
        cut = smallest(torch.where(alive, w[n], torch.inf), round(fraction * int(alive.sum())))
        new[n] = alive & ~cut
        new[n] = new[n].view_as(old[n])
    return new


def shuffle_masks(masks: Masks, generator: torch.Generator) -> Masks:
    """Each layer's mask with its entries permuted at random: the same number kept per layer (the per-layer
    sparsity of the ticket), none of its pattern (the layer-wise shuffled baseline, Frankle et al. 2021)."""
    out = {}
    for n, m in masks.items():
        flat = m.flatten()
        out[n] = flat[torch.randperm(flat.numel(), generator=generator)].view_as(m).clone()
    return out


def density(masks: Masks) -> float:
    """Share of the masked weights that are kept (1.0: dense)."""
    total = sum(m.numel() for m in masks.values())
    return sum(int(m.sum()) for m in masks.values()) / max(total, 1)


def layer_density(masks: Masks) -> dict[str, float]:
    return {n: float(m.float().mean()) for n, m in masks.items()}


def effective_zeros(model: nn.Module, exclude: Iterable[str] = ()) -> dict[str, int]:
    """Exact zeros of each prunable layer's effective weight (what the forward pass uses)."""
    return {n: int((effective_weight(m) == 0).sum()) for n, m in prunable(model, exclude).items()}


def make_permanent(model: nn.Module) -> None:
    """Fold each mask into its weight (`prune.remove`): the model has plain `weight` parameters again (zeros where
    pruned) and no hooks; the mask itself is then gone."""
    for m in model.modules():
        if isinstance(m, PRUNABLE) and is_pruned(m):
            prune.remove(m, "weight")
