"""`skiplab train`: one training run in its run folder (runs/train/<model>-<data>-<hash>/seed-<n>/)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .. import config as C
from ..errors import EXIT_DIVERGED, CheckpointError, ConfigError
from ..pruning import rewind_file
from ..train import SaveWeightsAt, distributed as D
from ..train.callbacks import TENSORBOARD, TensorBoardLog, tensorboard_writer
from ..train.checkpoint import read_state
from ..train.step import BLOWUP
from ..train.config import TrainConfig
from ..train.experiment import (DataConfig, Existing, ModelConfig, RunConfig, RunHooks, load_data, locate_run,
                                resolve_run_config, run_training, training_device)
from .common import err_console, out_console, user_errors
from .outputs import check_output

# Help text comes from the config fields' metadata, so flags and `skiplab list options` cannot drift apart.
_T, _D, _M, _R = (C.field_help(TrainConfig), C.field_help(DataConfig), C.field_help(ModelConfig),
                  C.field_help(RunConfig))


LOGS = ("tensorboard",)  # where --log sends the metrics besides metrics.jsonl, which every run writes


def _pct(x: object) -> str:
    return f"{x:.2%}" if isinstance(x, float) else "n/a"


def _logs(values: Optional[List[str]]) -> set[str]:
    """The --log targets (repeatable or comma-separated). Not part of the run's config: logging changes no result,
    so a run logged or not has the same hash and folder."""
    asked = {v.strip() for text in values or [] for v in text.split(",") if v.strip()}
    bad = sorted(asked - set(LOGS))
    if bad:
        raise ConfigError(f"--log: {bad[0]!r} is not one of {', '.join(LOGS)} (metrics.jsonl is always written)")
    if "tensorboard" in asked:
        tensorboard_writer()  # missing package: refuse before any data is read or anything written
    return asked


@user_errors
def train(
    model: Optional[str] = typer.Option(None, "--model", "-m", help=f"{_M['name']} (default {ModelConfig.name})"),
    data: Optional[str] = typer.Option(None, "--data", "-d",
                                       help=f"{_D['name']} (default {DataConfig.name})"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help=_D["root"]),
    download: bool = typer.Option(False, "--download", help=_D["download"]),
    epochs: Optional[int] = typer.Option(None, "--epochs", help=f"{_T['epochs']} (default {TrainConfig.epochs})"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size",
                                             help=f"{_T['batch_size']} (default {TrainConfig.batch_size})"),
    lr: Optional[float] = typer.Option(None, "--lr", help=f"{_T['lr']} (default {TrainConfig.lr})"),
    device: Optional[str] = typer.Option(None, "--device", help=_T["device"]),
    seed: Optional[int] = typer.Option(None, "--seed", help=f"{_R['seed']} (default 0)"),
    out: Path = typer.Option(Path("runs"), "--out", help="root of the run folders"),
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="use this run folder instead of the hashed one"),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML/JSON file with model/data/train"),
    set_: Optional[List[str]] = typer.Option(None, "--set", "-s",
                                             help="override any key, e.g. train.lr=0.05 or model.h=0.5 "
                                                  "(see `skiplab list options`)"),
    resume: bool = typer.Option(False, "--resume", help="continue an unfinished run from its last checkpoint"),
    force: bool = typer.Option(False, "--force", help="discard an existing run folder and start over"),
    save_weights_at: Optional[List[int]] = typer.Option(
        None, "--save-weights-at", help="also save the weights after K optimizer steps to rewind-K.safetensors in the "
                                        "run folder (repeatable; 0 is the initialization): what `skiplab prune "
                                        "--rewind-step K` rewinds to"),
    # the backslash keeps rich's help from reading [tensorboard] as a markup tag and dropping it
    log: Optional[List[str]] = typer.Option(
        None, "--log", help=f"also log each epoch's metrics to: tensorboard (event files in <run folder>/"
                            f"{TENSORBOARD}/, for `tensorboard --logdir`; needs pip install "
                            "'skiplab\\[tensorboard]'). metrics.jsonl is always written"),
) -> None:
    """Train a model. A finished run with the same config is found and reported, not redone.

    On several GPUs: `torchrun --nproc-per-node N -m skiplab train ...` trains one DDP run, each rank on its
    share of every global batch (train.batch_size is global); rank 0 writes and prints; --resume works as alone.

    Defaults follow He et al.'s CIFAR recipe (SGD 0.1, momentum 0.9, wd 1e-4, batch 128, lr/10 at 50% and 75%).
    """
    file_data = C.load_file(config) if config else {}
    flags = {"model.name": model, "data.name": data, "data.root": str(data_dir) if data_dir else None,
             "data.download": download or None, "train.epochs": epochs, "train.batch_size": batch_size,
             "train.lr": lr, "train.device": device, "seed": seed}
    cfg = resolve_run_config(file_data, flags, set_ or [])
    steps = sorted(set(save_weights_at or []))
    if steps and steps[0] < 0:
        raise ConfigError(f"--save-weights-at must be >= 0, got {steps[0]}")
    logs = _logs(log)
    hooks = RunHooks(callbacks=lambda d: [SaveWeightsAt(k, d / rewind_file(k)) for k in steps]
                     + ([TensorBoardLog(d / TENSORBOARD)] if "tensorboard" in logs else []))
    check_output(run_dir or out, "--run-dir" if run_dir else "--out", folder=True)  # before the data is read
    with D.from_torchrun(cfg.train.device):  # under torchrun: one rank of a DDP run; otherwise a no-op
        training_device(cfg.train)  # a device this machine lacks is refused before the data is read
        dataset = load_data(cfg.data)
        folder = run_dir or locate_run(cfg, dataset, out)
        existing: Existing = "restart" if force else "resume" if resume else "refuse"
        outcome = run_training(cfg, folder, dataset, existing=existing, hooks=hooks)
        if not D.is_main():
            return
    r = outcome.result
    final = r.get("final", {})
    if outcome.reused:
        err_console.print(f"already finished (same config): {outcome.run_dir}  (--force to train again)", markup=False)
        for k in (k for k in steps if not (outcome.run_dir / rewind_file(k)).exists()):
            err_console.print(f"  no {rewind_file(k)} in it: it was trained without --save-weights-at {k}",
                              markup=False)
        if "tensorboard" in logs:  # trained without --log: its metrics.jsonl becomes the event file now
            board = TensorBoardLog(outcome.run_dir / TENSORBOARD)
            board.backfill(outcome.run_dir)
            board.close()
    status = r.get("status")
    if status == "diverged":
        err_console.print(f"[{cfg.model.name}] diverged at step {r.get('diverged_step')} (its loss was not finite or "
                          f"above {BLOWUP:g}x a uniform guess's); {_kept(outcome.run_dir)}", markup=False)
    out_console.print(
        f"{cfg.model.name} on {cfg.data.name}: {status} after {final.get('epoch', 0)} epochs, "
        f"train error {_pct(final.get('train_err'))}, test error {_pct(final.get('test_err'))}"
        + (f" ({outcome.seconds:.1f}s)" if not outcome.reused else "")
        + f"\n  run folder: {outcome.run_dir}"
        + (f"\n  tensorboard: tensorboard --logdir {outcome.run_dir / TENSORBOARD}" if "tensorboard" in logs else ""),
        markup=False)  # paths and names in full: a bracket in them is text, not a style
    if status == "diverged":
        raise typer.Exit(EXIT_DIVERGED)  # its results are kept, but a script must not take it for a trained net


def _kept(run_dir: Path) -> str:
    """What a diverged run left to look at: the checkpoint of its last good epoch, if it got that far."""
    try:
        epoch = read_state(run_dir).get("epoch")
    except CheckpointError:
        epoch = None
    if not isinstance(epoch, int) or epoch < 1:
        return "it diverged in its first epoch, so no checkpoint was written (result.json records it)"
    return f"kept: the checkpoint of epoch {epoch}, its last good one, and result.json"
