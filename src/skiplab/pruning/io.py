"""Masks and rewind weights on disk, as safetensors beside a run's checkpoint (nothing unpickled), and a pruned
run loaded back: the model rebuilt from its config, its masks applied, then its checkpoint's weights."""

from __future__ import annotations

from pathlib import Path

import torch

from .._atomic import atomic_path
from ..data import Dataset
from ..errors import CheckpointError
from ..models import Net
from ..train.checkpoint import load_model_weights, read_tensors, read_weights, write_tensors
from ..train.experiment import RunConfig, build_model, load_data
from ..train.load import read_run_config
from ..train.loop import model_signature
from .masks import Masks, apply_masks

MASKS = "masks.safetensors"


def rewind_file(step: int) -> str:
    """The file a dense run saves its weights to after `step` steps (skiplab.train.SaveWeightsAt)."""
    return f"rewind-{step}.safetensors"


def save_masks(path: Path, masks: Masks) -> None:
    """Masks as bool tensors, written atomically."""
    with atomic_path(path) as tmp:
        write_tensors({n: m.to(torch.bool).contiguous().cpu() for n, m in masks.items()}, tmp, path,
                      {"format": "skiplab-masks-1"})


def load_masks(path: Path) -> Masks:
    return {n: t.to(torch.bool) for n, t in read_tensors(path, "masks file", "no masks file").items()}


def rewound_weights(dense_dir: Path, step: int, cfg: RunConfig, data: Dataset) -> dict[str, torch.Tensor]:
    """The dense run's weights after `step` steps: its saved rewind file, or for step 0 without one (a run
    trained before rewinding was asked for) its initialization rebuilt from the run's seed, which `build_model`
    makes deterministic."""
    path = Path(dense_dir) / rewind_file(step)
    if path.exists():
        return read_weights(path)
    if step == 0:
        return {k: v.detach().clone() for k, v in build_model(cfg, data).state_dict().items()}
    raise CheckpointError(f"{path}: missing; the dense run did not save its weights at step {step} (train it with "
                          f"a SaveWeightsAt({step}) callback, or rewind to step 0, the initialization)")


def load_pruned(run_dir: Path, data: Dataset | None = None) -> tuple[Net, Dataset, RunConfig]:
    """(model, data, config) of a run in `run_dir`, pruned with its masks.safetensors if it has one, with the
    weights of its last checkpoint. CPU, train mode as built."""
    run_dir = Path(run_dir)
    cfg = read_run_config(run_dir)
    data = data if data is not None else load_data(cfg.data)
    model = build_model(cfg, data)
    if (run_dir / MASKS).exists():
        apply_masks(model, load_masks(run_dir / MASKS))
    load_model_weights(run_dir, model, model_signature(model))
    return model, data, cfg
