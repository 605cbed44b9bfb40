"""The callback protocol the probes hook into, and the state and history a run exposes to them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from . import distributed as D
from .config import TrainConfig


@dataclass
class TrainState:
    """What a callback sees. Set `stop = True` to end training after the current step."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    cfg: TrainConfig
    device: torch.device
    run_dir: Path | None
    steps_per_epoch: int
    epoch: int = 0
    step: int = 0
    stop: bool = False


@dataclass
class History:
    """Per-epoch metrics (train loss/error over the epoch's batches; test loss/error when evaluated), and how the
    run ended: "finished", "stopped" (by a callback) or "diverged" (at `diverged_step`)."""

    epochs: list[dict[str, Any]] = field(default_factory=list)
    status: str = "running"
    diverged_step: int | None = None

    @property
    def final(self) -> dict[str, Any]:
        return self.epochs[-1] if self.epochs else {}

    def last(self, key: str) -> Any:
        for row in reversed(self.epochs):
            if key in row:
                return row[key]
        return None


class Callback:
    """Override what you need; every hook is a no-op by default."""

    def on_fit_start(self, state: TrainState) -> None:
        pass

    def on_step_end(self, state: TrainState) -> None:
        pass

    def on_epoch_end(self, state: TrainState, metrics: dict[str, Any]) -> None:
        pass

    def on_fit_end(self, state: TrainState, history: History) -> None:
        pass


class SaveWeightsAt(Callback):
    """Saves the model's state dict after `step` optimizer steps (0: at init, before any step) to `path`, once:
    the weights a lottery ticket rewinds to (Frankle et al. 2020). A resumed run that is already past `step` keeps
    the file it wrote; on the CPU a resumed run replays bit-identically, so writing it again would not change it."""

    def __init__(self, step: int, path: Path) -> None:
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        self.step, self.path = step, Path(path)

    def _save(self, state: TrainState) -> None:
        from .checkpoint import save_weights
        if state.step == self.step and not self.path.exists():
            save_weights(self.path, state.model, {"step": str(self.step)})

    def on_fit_start(self, state: TrainState) -> None:
        self._save(state)

    def on_step_end(self, state: TrainState) -> None:
        self._save(state)


class WeightSnapshots(Callback):
    """Every `every` steps (0: only at the start and the end), at the start and after the last step: the model's
    accuracy on the held-out batch (x, y) in eval mode, and its weights, saved to `folder`/step-<s>.safetensors; the
    index (steps, accuracies) goes to `folder`/index.json after every epoch and at the end. Evaluation draws no
    random numbers and leaves batch-norm statistics alone, so training is the same as without it.

    Resuming: `on_fit_start` reads the index and keeps the snapshots up to the step the run resumes from; later ones
    are taken again (bit-identical on the CPU) as training replays them. A diverged run takes no final snapshot."""

    INDEX = "index.json"

    def __init__(self, x: torch.Tensor, y: torch.Tensor, every: int, folder: Path) -> None:
        if every < 0:
            raise ValueError(f"every must be >= 0, got {every}")
        self.x, self.y, self.every, self.folder = x, y, every, Path(folder)
        self.steps: list[int] = []
        self.acc: list[float] = []

    @staticmethod
    def file(step: int) -> str:
        return f"step-{step:07d}.safetensors"

    def _take(self, state: TrainState) -> None:
        from .checkpoint import save_weights
        if self.steps and self.steps[-1] == state.step:
            return
        model, was = state.model, state.model.training
        model.eval()
        with torch.no_grad():
            right = sum(int((model(self.x[s:s + 500].to(state.device)).argmax(1).cpu() == self.y[s:s + 500]).sum())
                        for s in range(0, len(self.y), 500))
        model.train(was)
        save_weights(self.folder / self.file(state.step), model)
        self.steps.append(state.step)
        self.acc.append(right / len(self.y))

    def _save_index(self) -> None:
        from .._atomic import write_json
        write_json(self.folder / self.INDEX, {"steps": self.steps, "acc": self.acc})

    def on_fit_start(self, state: TrainState) -> None:
        import json
        index = self.folder / self.INDEX
        if index.exists():
            saved = json.loads(index.read_text())
            keep = [i for i, s in enumerate(saved["steps"]) if s <= state.step]
            self.steps, self.acc = [saved["steps"][i] for i in keep], [saved["acc"][i] for i in keep]
        self._take(state)

    def on_step_end(self, state: TrainState) -> None:
        if self.every and state.step % self.every == 0:
            self._take(state)

    def on_epoch_end(self, state: TrainState, metrics: dict[str, Any]) -> None:
        self._save_index()

    def on_fit_end(self, state: TrainState, history: History) -> None:
        if history.status != "diverged":
            self._take(state)
        self._save_index()


TENSORBOARD = "tensorboard"  # the folder of a run the event files go to
TENSORBOARD_INSTALL = "pip install 'skiplab[tensorboard]'"


def tensorboard_writer() -> Any:
    """torch's SummaryWriter class; a ConfigError naming the extra to install when the tensorboard package is
    missing (torch ships the writer, the event-file format lives in tensorboard)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(f"--log tensorboard needs the tensorboard package, an optional extra: "
                          f"{TENSORBOARD_INSTALL}") from None
    return SummaryWriter


def tensorboard_tag(key: str) -> str:
    """The scalar's name for a metrics.jsonl key: its first underscore becomes a slash, so TensorBoard shows
    train/loss beside train/err and test/loss beside test/err (train_loss -> train/loss, lr -> lr)."""
    return key.replace("_", "/", 1)


class TensorBoardLog(Callback):
    """Writes every epoch's row of metrics.jsonl (train and test loss and error, lr, times; the epoch is the step)
    as TensorBoard scalars into `folder`, flushed after every epoch, so an interrupted run keeps what it logged.
    Only rank 0 writes under torchrun, as it alone writes metrics.jsonl. Each training session adds an event file
    (TensorBoard reads a folder's files together); a run that resumes or is reused without any event file yet gets
    its earlier epochs from metrics.jsonl first (`backfill`). Checks at construction that tensorboard is installed,
    so a run that cannot log refuses to start."""

    SKIP = ("epoch",)  # the step axis, not a scalar

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._writer_class = tensorboard_writer()
        self.writer: Any = None

    def has_events(self) -> bool:
        return any(self.folder.glob("events.out.tfevents.*"))

    def _open(self) -> None:
        if self.writer is None:
            self.writer = self._writer_class(log_dir=str(self.folder))

    def backfill(self, run_dir: Path, epochs: int | None = None) -> int:
        """Logs the first `epochs` rows (all: None) of run_dir/metrics.jsonl, unless `folder` already holds event
        files (they would be logged twice). Returns how many rows it logged."""
        import json
        metrics = Path(run_dir) / "metrics.jsonl"
        if self.has_events() or not metrics.exists():
            return 0
        rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()][:epochs]
        self._open()
        for row in rows:
            self.on_epoch_end(None, row)  # type: ignore[arg-type]  (the state is not read)
        return len(rows)

    def on_fit_start(self, state: TrainState) -> None:
        if not D.is_main():
            return
        if state.epoch > 0 and state.run_dir is not None:  # resuming a run first trained without --log
            self.backfill(state.run_dir, state.epoch)
        self._open()

    def on_epoch_end(self, state: TrainState, metrics: dict[str, Any]) -> None:
        if self.writer is None:
            return
        for key, value in metrics.items():
            if key not in self.SKIP and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(tensorboard_tag(key), value, global_step=metrics["epoch"])
        self.writer.flush()

    def on_fit_end(self, state: TrainState, history: History) -> None:
        self.close()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
