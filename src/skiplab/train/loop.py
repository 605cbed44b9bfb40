"""`fit()`: the one training loop. Set up (device, model, loaders, step), resume, then epochs of steps
(skiplab.train.step), each read once on the host, evaluated, checkpointed; then the result. Plus what fit() shares
with other trainers: the device (`resolve_device`), the DDP/compile wrapper (`distribute`), `model_signature`."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import torch
from torch import nn

from .._atomic import write_json, write_text
from ..config import stable_hash, to_dict
from ..data.dataset import Dataset, spread
from ..data.loader import DeviceLoader
from ..errors import CheckpointError, ConfigError
from . import distributed as D
from .callbacks import Callback, History, TrainState
from .checkpoint import CKPT, PREV, STATE, load_checkpoint, paired_tensors, save_checkpoint
from .config import TrainConfig
from .lock import run_lock
from .progress import TrainProgress
from .runs import RESULT
from .step import TrainStep, evaluate


def resolve_device(spec: str) -> torch.device:
    """The device of `spec`; under torchrun a bare "cuda" (or "auto" on a GPU machine) is this rank's GPU."""
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise ConfigError(f"train.device: {spec!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device: {spec!r} asked for, but no CUDA device is available here")
    if device.type == "cuda" and device.index is None and D.is_distributed():
        device = torch.device("cuda", D.local_rank())
    return device


def check_sync_bn(cfg: TrainConfig, device: torch.device) -> None:
    if cfg.sync_bn and D.world_size() > 1 and device.type != "cuda":
        raise ConfigError("train.sync_bn: SyncBatchNorm needs CUDA devices (nccl); on the CPU (gloo) set "
                          "train.sync_bn=false (each rank then normalizes over its own slice of the batch)")


def distribute(model: nn.Module, cfg: TrainConfig, device: torch.device) -> nn.Module:
    """What runs the forward pass: the model itself in one process, wrapped in DistributedDataParallel (which
    all-reduces the gradients, averaging them over ranks) under torchrun; then compiled if asked."""
    forward: nn.Module = model
    if D.world_size() > 1:
        forward = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                                      else None)
    if cfg.compile:
        forward = torch.compile(forward, mode=None if cfg.compile_mode == "default" else cfg.compile_mode)
    return forward


def model_signature(model: nn.Module) -> str:
    """Identifies an architecture: a checkpoint only resumes into a model with the same signature."""
    name = getattr(model, "name", "") or type(model).__name__
    cfg = getattr(model, "config", None)
    return f"{name}:{stable_hash(to_dict(cfg)) if cfg is not None else 'noconfig'}"


@dataclass(frozen=True)
class Loaders:
    """The batches of one run: `train` (shuffled, augmented; this rank's share of every global batch), and for
    evaluation `test` and, with `eval_train`, `train_eval`, each over at most `max_eval_examples` spread over the
    split."""

    train: DeviceLoader
    test: DeviceLoader
    train_eval: DeviceLoader | None

    @classmethod
    def build(cls, data: Dataset, cfg: TrainConfig, seed: int, device: torch.device, channels_last: bool) -> Loaders:
        train = DeviceLoader(data.train_x, data.train_y, cfg.batch_size, seed=seed, augment=data.info.augment,
                             crop_padding=data.info.crop_padding, device=device, rank=D.rank(),
                             world_size=D.world_size(), channels_last=channels_last)
        eval_kw = dict(shuffle=False, drop_last=False, device=device, channels_last=channels_last)
        test_idx = spread(len(data.test_y), cfg.max_eval_examples)
        train_idx = spread(len(data.train_y), cfg.max_eval_examples)
        test = DeviceLoader(data.test_x[test_idx], data.test_y[test_idx], cfg.eval_batch_size, **eval_kw)
        train_eval = (DeviceLoader(data.train_x[train_idx], data.train_y[train_idx], cfg.eval_batch_size, **eval_kw)
                      if cfg.eval_train else None)
        return cls(train, test, train_eval)


@dataclass(frozen=True)
class RunFolder:
    """What fit() keeps in `path`: metrics.jsonl and the checkpoint (checkpoint.safetensors + state.json) after
    every epoch, result.json at the end. Rank 0 writes; every rank resumes from the same files."""

    path: Path | None
    signature: str  # model_signature: a checkpoint only resumes into the same architecture
    seed: int

    def resume(self, stepper: TrainStep, state: TrainState, history: History) -> None:
        """Load the last checkpoint, if there is one: weights, optimizer, schedule, RNG, epoch and history."""
        if self.path is None or not (self.path / STATE).exists():
            return
        saved = load_checkpoint(self.path, stepper.model, stepper.opt, stepper.sched, self.signature)
        if saved["epoch"] > state.cfg.epochs:  # not this run's checkpoint: it would be called finished untrained
            raise CheckpointError(f"{self.path / STATE}: at epoch {saved['epoch']}, past this run's "
                                  f"{state.cfg.epochs} epochs; not a checkpoint of this run (use --force to start "
                                  "over)")
        if D.is_main() and paired_tensors(self.path, saved) == self.path / CKPT:
            (self.path / PREV).unlink(missing_ok=True)  # a kill after the last state.json write left it
        state.epoch, state.step = saved["epoch"], saved["epoch"] * state.steps_per_epoch
        history.epochs = saved["history"]

    def save_epoch(self, stepper: TrainStep, state: TrainState, history: History) -> None:
        if self.path is None or not D.is_main():
            return
        write_text(self.path / "metrics.jsonl", "".join(json.dumps(m) + "\n" for m in history.epochs))
        save_checkpoint(self.path, stepper.model, stepper.opt, stepper.sched,
                        {"model": self.signature, "epoch": state.epoch + 1, "step": state.step, "seed": self.seed,
                         "history": history.epochs})

    def save_result(self, history: History, extra: dict[str, Any] | None) -> None:
        if self.path is None or not D.is_main():
            return
        write_json(self.path / RESULT, {"status": history.status, "diverged_step": history.diverged_step,
                                        "seed": self.seed, "model": self.signature, "epochs": len(history.epochs),
                                        "final": history.final, **(extra or {})})


def place_model(model: nn.Module, cfg: TrainConfig, device: torch.device, channels_last: bool) -> nn.Module:
    """`model` ready to train on `device` (with SyncBatchNorm under torchrun when asked), and the backend set up."""
    if device.type == "cpu":
        torch.set_flush_denormal(True)  # denormals make CPU kernels crawl as weights decay toward zero
    else:
        # Every step has the same shapes (drop_last), so cuDNN's one-off search for the fastest convolution
        # algorithm per shape pays back within the first epoch.
        torch.backends.cudnn.benchmark = True
    check_sync_bn(cfg, device)
    if cfg.sync_bn and D.world_size() > 1:
        # In place for our nets (the root is never a BatchNorm), before the optimizer takes the parameters.
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    return model


def train_epoch(stepper: TrainStep, loader: DeviceLoader, state: TrainState, callbacks: list[Callback],
                progress: TrainProgress) -> tuple[float, float, int]:
    """The steps of epoch `state.epoch`, until its batches run out, `max_steps` is reached, a callback sets
    `state.stop`, or a `log_every` read sees a diverged loss (step.diverged). Returns (mean train loss, error rate,
    first diverged step or -1) over its steps."""
    cfg = stepper.cfg
    stepper.model.train()
    stepper.reset()
    for xb, yb in loader.epoch(state.epoch):
        stepper(xb, yb, state.step)
        state.step += 1
        info = None
        if cfg.log_every and state.step % cfg.log_every == 0:
            loss, err, bad = stepper.read()
            info = f"loss {loss:.3f} err {err:.1%}"
            if bad >= 0:
                break
        progress.advance(1, info)
        for cb in callbacks:
            cb.on_step_end(state)
        if cfg.max_steps is not None and state.step >= cfg.max_steps:
            state.stop = True
        if state.stop:
            break
    return stepper.read()  # the epoch's one host sync: the device has finished its steps


def epoch_metrics(stepper: TrainStep, loaders: Loaders, state: TrainState, loss: float, err: float,
                  t0: float) -> dict[str, Any]:
    """The epoch's row of metrics.jsonl: its training loss and error, and held-out loss and error every
    `eval_every` epochs and after the last one."""
    cfg, epoch = stepper.cfg, state.epoch + 1
    metrics: dict[str, Any] = {"epoch": epoch, "step": state.step, "lr": stepper.opt.param_groups[0]["lr"],
                               "train_loss": loss, "train_err": err, "train_time": time.perf_counter() - t0}
    if epoch % cfg.eval_every == 0 or epoch == cfg.epochs or state.stop:
        test = evaluate(stepper.model, loaders.test, cfg.precision)
        metrics.update(test_loss=test["loss"], test_err=test["err"])
        if loaders.train_eval is not None:
            full = evaluate(stepper.model, loaders.train_eval, cfg.precision)
            metrics.update(train_full_loss=full["loss"], train_full_err=full["err"])
    metrics["time"] = time.perf_counter() - t0
    return metrics


def epoch_line(desc: str, metrics: dict[str, Any], epochs: int) -> str:
    test = f"  test err {metrics['test_err']:.2%}" if "test_err" in metrics else ""
    return (f"[{desc}] epoch {metrics['epoch']}/{epochs}  train loss {metrics['train_loss']:.4f}  "
            f"train err {metrics['train_err']:.2%}{test}  ({metrics['time']:.1f}s)")


def fit(model: nn.Module, data: Dataset, cfg: TrainConfig, *, seed: int = 0, run_dir: str | Path | None = None,
        resume: bool = False, callbacks: Iterable[Callback] = (), verbose: bool = True,
        extra_result: dict[str, Any] | None = None) -> History:
    """Train `model` on `data`. With `run_dir`, rank 0 writes metrics.jsonl, checkpoints every epoch and
    result.json; `resume=True` continues from the checkpoint there (on the CPU bit-identically). The folder is
    locked for the whole training (skiplab.train.lock): a second writer is refused while this one lives."""
    with run_lock(run_dir):  # before anything is read or written there
        return _fit(model, data, cfg, seed=seed, run_dir=run_dir, resume=resume, callbacks=callbacks,
                    verbose=verbose, extra_result=extra_result)


def _fit(model: nn.Module, data: Dataset, cfg: TrainConfig, *, seed: int, run_dir: str | Path | None, resume: bool,
         callbacks: Iterable[Callback], verbose: bool, extra_result: dict[str, Any] | None) -> History:
    callbacks = list(callbacks)
    device = resolve_device(cfg.device)
    channels_last = cfg.channels_last and data.train_x.dim() == 4
    model = place_model(model, cfg, device, channels_last)
    loaders = Loaders.build(data, cfg, seed, device, channels_last)
    steps = len(loaders.train)
    stepper = TrainStep(model, cfg, device, steps * cfg.epochs, steps, distribute(model, cfg, device))
    folder = RunFolder(Path(run_dir) if run_dir is not None else None, model_signature(model), seed)
    state, history = TrainState(model, stepper.opt, cfg, device, folder.path, steps), History()
    if resume:
        folder.resume(stepper, state, history)
    for cb in callbacks:
        cb.on_fit_start(state)
    desc, show = getattr(model, "name", "") or "train", verbose and D.is_main()
    with TrainProgress(steps * cfg.epochs, desc, enabled=show) as progress:
        progress.skip_to(state.step)
        for epoch in range(state.epoch, cfg.epochs):
            state.epoch, t0 = epoch, time.perf_counter()
            loss, err, bad = train_epoch(stepper, loaders.train, state, callbacks, progress)
            if bad >= 0:
                history.status, history.diverged_step = "diverged", bad
                break
            metrics = epoch_metrics(stepper, loaders, state, loss, err, t0)
            history.epochs.append(metrics)
            folder.save_epoch(stepper, state, history)
            for cb in callbacks:
                cb.on_epoch_end(state, metrics)
            if show:
                progress.console.print(epoch_line(desc, metrics, cfg.epochs))
            if state.stop:
                history.status = "stopped"
                break
        else:
            history.status = "finished"
    folder.save_result(history, extra_result)
    for cb in callbacks:
        cb.on_fit_end(state, history)
    return history
