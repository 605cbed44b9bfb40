"""Iterative magnitude pruning (Frankle & Carbin 2019): train, prune `fraction` of the remaining weights by
magnitude, rewind the survivors to their weights at init (or after `rewind_step` steps, Frankle et al. 2020),
train again; repeat. Plus the two baselines a ticket is judged against: the same mask on a fresh random init, and
a layer-wise shuffled mask (the same per-layer sparsity, none of the pattern) on the ticket's own weights.

Each retraining is an ordinary skiplab run (run_training) in its own folder, with masks.safetensors beside its
checkpoint; the masks are applied before training starts or resumes, and the checkpoint carries them as buffers,
so a resumed round continues with exactly its mask. A rewound run trains for the dense run's whole budget (the
schedule restarts rather than continuing from `rewind_step`): simpler, and at most a few percent more steps."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import torch

from .. import config as C
from ..data import Dataset
from ..errors import ConfigError
from ..models import Net
from ..train import Callback, SaveWeightsAt
from ..train import distributed as D
from ..train.experiment import RunConfig, RunHooks, RunOutcome, build_model, run_training
from ..train.runs import RESULT
from .io import MASKS, load_masks, load_pruned, rewind_file, rewound_weights, save_masks
from .masks import Masks, apply_masks, density, magnitude_masks, shuffle_masks

REINIT_SEED = 10_000  # the random re-init baseline of seed s is initialized as seed REINIT_SEED + s would be


@dataclass(frozen=True)
class PruneConfig:
    fraction: float = C.option(0.2, "share of the remaining weights pruned each round (Frankle & Carbin: 0.2)")
    scope: Literal["global", "layerwise"] = C.option("global", "rank weights over all layers together, or prune "
                                                               "the same share of each layer")
    exclude: tuple[str, ...] = C.option(("head",), "module names (or prefixes) left dense; the classifier, as "
                                                   "in Frankle & Carbin's ResNet and VGG runs")
    rewind_step: int = C.option(0, "rewind survivors to the dense run's weights after this many steps (0: init)")

    def __post_init__(self) -> None:
        if not 0 < self.fraction < 1:
            raise ConfigError(f"prune.fraction must be in (0, 1), got {self.fraction}")
        if self.scope not in ("global", "layerwise"):
            raise ConfigError(f"prune.scope: {self.scope!r} is not one of global, layerwise")
        if self.rewind_step < 0:
            raise ConfigError(f"prune.rewind_step must be >= 0, got {self.rewind_step}")


def train_dense(cfg: RunConfig, run_dir: Path, data: Dataset, rewind_step: int = 0, verbose: bool = False,
                extra: dict[str, Any] | None = None, callbacks: Sequence[Callback] = ()) -> RunOutcome:
    """The dense run an IMP chain starts from; it saves its weights after `rewind_step` steps for rewinding."""
    hooks = RunHooks(callbacks=lambda d: [SaveWeightsAt(rewind_step, d / rewind_file(rewind_step)), *callbacks])
    return run_training(cfg, Path(run_dir), data, existing="resume", hooks=hooks, verbose=verbose,
                        extra={"tickets": {"role": "dense", "rewind_step": rewind_step, **(extra or {})}})


def train_masked(cfg: RunConfig, run_dir: Path, data: Dataset, masks: Masks,
                 weights: dict[str, torch.Tensor] | None = None, verbose: bool = False,
                 extra: dict[str, Any] | None = None, callbacks: Sequence[Callback] = ()) -> RunOutcome:
    """Train `cfg`'s model with `masks`, starting from `weights` (a dense state dict; None: the model as
    `cfg.seed` builds it). The masks are written to run_dir/masks.safetensors before training."""

    def prepare(model: Net, directory: Path) -> None:
        if weights is not None:
            model.load_state_dict(weights)
        apply_masks(model, masks)
        if D.is_main():  # under torchrun every rank prunes its model, rank 0 writes the file
            save_masks(directory / MASKS, masks)

    hooks = RunHooks(callbacks=lambda d: callbacks, prepare=prepare)
    return run_training(cfg, Path(run_dir), data, existing="resume", hooks=hooks, verbose=verbose,
                        extra={"tickets": {"density": density(masks), **(extra or {})}})


def next_masks(trained_dir: Path, prune: PruneConfig, data: Dataset) -> Masks:
    """The masks of the next round: the trained run's masks (all-True if it is dense) less `prune.fraction` of
    its surviving weights, by magnitude of its trained weights."""
    model, _, _ = load_pruned(trained_dir, data)
    return magnitude_masks(model, prune.fraction, prune.scope, prune.exclude)


def round_dir(folder: Path, r: int, role: str = "round") -> Path:
    return Path(folder) / f"{role}-{r:02d}"


def imp(cfg: RunConfig, dense_dir: Path, folder: Path, rounds: int, prune: PruneConfig, data: Dataset,
        say: Callable[[str], None] = lambda s: None, verbose: bool = False) -> list[Path]:
    """Rounds 1..`rounds` of IMP from the finished dense run in `dense_dir`; round r trains in folder/round-rr.
    A finished round is reused and an interrupted one resumes. Returns the round folders."""
    if rounds < 1:
        raise ConfigError(f"rounds must be >= 1, got {rounds}")
    weights = rewound_weights(dense_dir, prune.rewind_step, cfg, data)
    prev, dirs = Path(dense_dir), []
    for r in range(1, rounds + 1):
        d = round_dir(folder, r)
        masks = load_masks(d / MASKS) if (d / RESULT).exists() else next_masks(prev, prune, data)
        out = train_masked(cfg, d, data, masks, weights, verbose,
                           extra={"role": "ticket", "round": r, "prune": C.to_dict(prune)})
        final = out.result.get("final", {})
        say(f"round {r}: {density(masks):.1%} of weights left, test error {final.get('test_err', float('nan')):.2%}"
            f"{' (reused)' if out.reused else ''}")
        prev = d
        dirs.append(d)
    return dirs


def reinit_weights(cfg: RunConfig, data: Dataset) -> dict[str, torch.Tensor]:
    """A fresh random initialization of `cfg`'s model (seed REINIT_SEED + cfg.seed): the re-init baseline."""
    other = dataclasses.replace(cfg, seed=REINIT_SEED + cfg.seed)
    return build_model(other, data).state_dict()


def shuffled(masks: Masks, seed: int, r: int) -> Masks:
    """The layer-wise shuffled baseline of round r's masks (its own generator: reproducible per seed and round)."""
    return shuffle_masks(masks, torch.Generator().manual_seed(1_000_003 * seed + r))
