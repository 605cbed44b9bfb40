"""`fit()`: the one training loop. A step never waits on the host: loss sums, error counts and the first
non-finite step live on the device and are read once per epoch (or every `log_every` steps)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterable

import torch
from torch import nn

from .._atomic import write_json, write_text
from ..config import stable_hash, to_dict
from ..data.dataset import Dataset, spread
from ..data.loader import DeviceLoader
from ..errors import ConfigError
from . import distributed as D
from .callbacks import Callback, History, TrainState
from .checkpoint import STATE, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .optim import build_optimizer, build_schedule
from .progress import TrainProgress
from .runs import RESULT


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


class TrainStep:
    """One optimization step of `model` (through `forward`, which may be a compiled or DDP wrapper)."""

    def __init__(self, model: nn.Module, cfg: TrainConfig, device: torch.device, total_steps: int,
                 steps_per_epoch: int, forward: nn.Module | None = None) -> None:
        self.model, self.cfg, self.device = model, cfg, device
        self.forward = forward if forward is not None else model
        self.opt = build_optimizer(model, cfg)
        self.sched = build_schedule(self.opt, cfg, total_steps, steps_per_epoch)
        self.loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        self.bf16 = cfg.precision == "bf16"
        self.reset()

    def reset(self) -> None:
        self.sums = torch.zeros(2, device=self.device)  # loss * n, misclassified
        self.first_bad = torch.full((), -1, dtype=torch.int64, device=self.device)
        self.count = 0

    def __call__(self, x: torch.Tensor, y: torch.Tensor, step: int) -> None:
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            out = self.forward(x)
        loss = self.loss_fn(out.float(), y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.opt.step()
        self.sched.step()
        with torch.no_grad():
            lo = loss.detach()
            self.first_bad = torch.where((self.first_bad < 0) & ~torch.isfinite(lo), step, self.first_bad)
            self.sums += torch.stack([lo * y.shape[0], (out.argmax(1) != y).sum().float()])
        self.count += y.shape[0]

    def read(self) -> tuple[float, float, int]:
        """(mean loss, error rate, first non-finite step or -1) since the last reset: the one host sync."""
        sums = D.all_reduce_sum(self.sums.clone())
        count = D.all_reduce_sum(torch.tensor(float(self.count), device=self.device)).item()
        bad = self.first_bad.clone()
        if D.is_distributed():  # any rank's divergence counts; take the largest as "some rank saw it"
            torch.distributed.all_reduce(bad, op=torch.distributed.ReduceOp.MAX)
        loss_sum, wrong = sums.tolist()
        return loss_sum / max(count, 1), wrong / max(count, 1), int(bad.item())


@torch.no_grad()
def evaluate(model: nn.Module, loader: DeviceLoader, precision: str = "fp32") -> dict[str, float]:
    """Mean cross-entropy and error rate over every example of `loader`, in eval mode (restored after)."""
    was_training = model.training
    model.eval()
    sums = torch.zeros(2, device=loader.device)
    n = 0
    for x, y in loader.epoch(0):
        with torch.autocast(loader.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            out = model(x)
        out = out.float()
        sums += torch.stack([nn.functional.cross_entropy(out, y, reduction="sum"), (out.argmax(1) != y).sum()])
        n += y.shape[0]
    model.train(was_training)
    loss, wrong = sums.tolist()
    return {"loss": loss / max(n, 1), "err": wrong / max(n, 1)}


def fit(model: nn.Module, data: Dataset, cfg: TrainConfig, *, seed: int = 0, run_dir: str | Path | None = None,
        resume: bool = False, callbacks: Iterable[Callback] = (), verbose: bool = True,
        extra_result: dict[str, Any] | None = None) -> History:
    """Train `model` on `data`. With `run_dir`, rank 0 writes metrics.jsonl, checkpoints every epoch and
    result.json; `resume=True` continues from the checkpoint there (on the CPU bit-identically)."""
    device = resolve_device(cfg.device)
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
    run_dir = Path(run_dir) if run_dir is not None else None
    main = D.is_main()
    callbacks = list(callbacks)
    images = data.train_x.dim() == 4
    channels_last = cfg.channels_last and images
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    info = data.info
    loader = DeviceLoader(data.train_x, data.train_y, cfg.batch_size, seed=seed, augment=info.augment,
                          crop_padding=info.crop_padding, device=device, rank=D.rank(),
                          world_size=D.world_size(), channels_last=channels_last)
    eval_kw = dict(shuffle=False, drop_last=False, device=device, channels_last=channels_last)
    test_idx, train_idx = spread(len(data.test_y), cfg.max_eval_examples), spread(len(data.train_y), cfg.max_eval_examples)
    test_loader = DeviceLoader(data.test_x[test_idx], data.test_y[test_idx], cfg.eval_batch_size, **eval_kw)
    train_eval = (DeviceLoader(data.train_x[train_idx], data.train_y[train_idx], cfg.eval_batch_size, **eval_kw)
                  if cfg.eval_train else None)
    spe = len(loader)
    total = spe * cfg.epochs
    stepper = TrainStep(model, cfg, device, total, spe, distribute(model, cfg, device))
    signature = model_signature(model)
    history = History()
    start_epoch = 0
    if resume and run_dir is not None and (run_dir / STATE).exists():
        saved = load_checkpoint(run_dir, model, stepper.opt, stepper.sched, signature)
        start_epoch, history.epochs = saved["epoch"], saved["history"]
    state = TrainState(model, stepper.opt, cfg, device, run_dir, spe, epoch=start_epoch, step=start_epoch * spe)
    for cb in callbacks:
        cb.on_fit_start(state)
    desc = getattr(model, "name", "") or "train"
    with TrainProgress(total, desc, enabled=verbose and main) as progress:
        progress.skip_to(state.step)
        for epoch in range(start_epoch, cfg.epochs):
            state.epoch = epoch
            model.train()
            stepper.reset()
            t0 = time.perf_counter()
            for i, (xb, yb) in enumerate(loader.epoch(epoch)):
                stepper(xb, yb, state.step)
                state.step += 1
                info_text = None
                if cfg.log_every and state.step % cfg.log_every == 0:
                    loss, err, bad = stepper.read()
                    info_text = f"loss {loss:.3f} err {err:.1%}"
                    if bad >= 0:
                        break
                progress.advance(1, info_text)
                for cb in callbacks:
                    cb.on_step_end(state)
                if cfg.max_steps is not None and state.step >= cfg.max_steps:
                    state.stop = True
                if state.stop:
                    break
            loss, err, bad = stepper.read()  # the epoch's one host sync: the device has finished its steps
            train_time = time.perf_counter() - t0
            if bad >= 0:
                history.status, history.diverged_step = "diverged", bad
                break
            metrics: dict[str, Any] = {"epoch": epoch + 1, "step": state.step, "lr": stepper.opt.param_groups[0]["lr"],
                                       "train_loss": loss, "train_err": err, "train_time": train_time}
            last = epoch + 1 == cfg.epochs or state.stop
            if (epoch + 1) % cfg.eval_every == 0 or last:
                test = evaluate(model, test_loader, cfg.precision)
                metrics.update(test_loss=test["loss"], test_err=test["err"])
                if train_eval is not None:
                    full = evaluate(model, train_eval, cfg.precision)
                    metrics.update(train_full_loss=full["loss"], train_full_err=full["err"])
            metrics["time"] = time.perf_counter() - t0
            history.epochs.append(metrics)
            if main and run_dir is not None:
                write_text(run_dir / "metrics.jsonl", "".join(json.dumps(m) + "\n" for m in history.epochs))
                save_checkpoint(run_dir, model, stepper.opt, stepper.sched,
                                {"model": signature, "epoch": epoch + 1, "step": state.step, "seed": seed,
                                 "history": history.epochs})
            for cb in callbacks:
                cb.on_epoch_end(state, metrics)
            if verbose and main:
                test_txt = f"  test err {metrics['test_err']:.2%}" if "test_err" in metrics else ""
                progress.console.print(f"[{desc}] epoch {epoch + 1}/{cfg.epochs}  train loss {loss:.4f}  "
                                       f"train err {err:.2%}{test_txt}  ({metrics['time']:.1f}s)")
            if state.stop:
                history.status = "stopped"
                break
        else:
            history.status = "finished"
    if history.status == "running":  # left the loop by divergence
        history.status = "diverged"
    if main and run_dir is not None:
        result = {"status": history.status, "diverged_step": history.diverged_step, "seed": seed,
                  "model": signature, "epochs": len(history.epochs), "final": history.final,
                  **(extra_result or {})}
        write_json(run_dir / RESULT, result)
    for cb in callbacks:
        cb.on_fit_end(state, history)
    return history
