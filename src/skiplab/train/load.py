"""Load a finished (or interrupted) run back for dissection: its config, its data and its model with the weights
of the last checkpoint. Nothing is unpickled: config.json and safetensors only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .. import config as C
from ..data import Dataset
from ..errors import CheckpointError, ConfigError
from ..models import Net
from .checkpoint import CKPT, PREV, STATE, load_model_weights
from .experiment import RunConfig, build_model, load_data
from .loop import model_signature

CONFIG = "config.json"


def read_run_config(run_dir: str | Path) -> RunConfig:
    """The RunConfig saved in `run_dir/config.json` by `run_training`; any problem is one CheckpointError."""
    run_dir = Path(run_dir)
    path = run_dir / CONFIG
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir}: no such run folder")
    try:
        saved: Any = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing; {run_dir} is not a skiplab run folder") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: unreadable run config ({str(e).splitlines()[0]})") from None
    if not isinstance(saved, dict) or not isinstance(saved.get("run"), dict):
        raise CheckpointError(f"{path}: no 'run' section; not written by skiplab train")
    try:
        return C.from_dict(RunConfig, _current(saved["run"]), "run")
    except ConfigError as e:  # a config this version of skiplab no longer accepts
        raise CheckpointError(f"{path}: {e}") from None


def _current(run: dict[str, Any]) -> dict[str, Any]:
    """A saved run config in today's form. Runs saved before the model section was a ModelConfig wrote the model
    as `"model": name, "model_args": {...}`; today it is the section `"model": {"name": name, ...}`."""
    if not (isinstance(run.get("model"), str) and isinstance(run.get("model_args"), dict)):
        return run
    rest = {k: v for k, v in run.items() if k not in ("model", "model_args")}
    return {"model": {"name": run["model"], **run["model_args"]}, **rest}


def load_run(run_dir: str | Path, dataset: Dataset | None = None) -> tuple[Net, Dataset, RunConfig]:
    """(model, dataset, run config) of the run in `run_dir`.

    The model is rebuilt from the saved config, sized by the data, and given the weights of the run's last
    checkpoint (checked against the model's signature, as resuming does). It is on the CPU, in train mode as
    built; probes choose their own mode. Pass `dataset` when you already hold the run's data.
    A missing or corrupt run folder raises CheckpointError naming the path.
    """
    run_dir = Path(run_dir)
    cfg = read_run_config(run_dir)
    if not (run_dir / STATE).exists() or not ((run_dir / CKPT).exists() or (run_dir / PREV).exists()):
        raise CheckpointError(f"{run_dir}: no checkpoint yet (run it for at least one epoch)")
    data = dataset if dataset is not None else load_data(cfg.data)
    model = build_model(cfg, data)
    load_model_weights(run_dir, model, model_signature(model))
    return model, data, cfg
