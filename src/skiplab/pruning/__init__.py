"""Pruning and lottery tickets: magnitude masks through torch.nn.utils.prune (global or layer-wise), iterative
magnitude pruning with rewinding, the random re-init and layer-wise shuffled baselines, masks moved across
architectures, and mask I/O as safetensors beside a run's checkpoint. Pure functions of models and run folders;
the claims (lottery-ticket, skips-help-tickets, ticket-transfer) and `skiplab prune` drive them."""

from .imp import PruneConfig, imp, next_masks, reinit_weights, round_dir, shuffled, train_dense, train_masked
from .io import MASKS, load_masks, load_pruned, rewind_file, rewound_weights, save_masks
from .masks import (Masks, apply_masks, current_masks, density, effective_weight, effective_zeros, layer_density,
                    magnitude_masks, make_permanent, prunable, shuffle_masks)
from .transfer import transfer_masks

__all__ = ["MASKS", "Masks", "PruneConfig", "apply_masks", "current_masks", "density", "effective_weight",
           "effective_zeros", "imp", "layer_density", "load_masks", "load_pruned", "magnitude_masks",
           "make_permanent", "next_masks", "prunable", "reinit_weights", "rewind_file", "rewound_weights",
           "round_dir", "save_masks", "shuffle_masks", "shuffled", "train_dense", "train_masked",
           "transfer_masks"]
