"""Checkpoints without pickle: tensors (model, optimizer state, RNG) in `checkpoint.safetensors`, everything else
in `state.json`. Both are written atomically, tensors first. The tensors' metadata and `state.json` both name the
step they were saved at, and loading checks the two agree. Until the new `state.json` is written, the tensors it
still names are kept as `checkpoint.prev.safetensors`, so a process killed between the two writes leaves a whole
pair behind (state.json + the kept tensors), which loading takes: the run resumes from its previous epoch, exactly.
A pair that matches in neither way is refused in one line (resuming from it would silently train an epoch twice).
`state.json` is schema-checked on every read."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from .._atomic import atomic_path, write_json
from ..errors import CheckpointError

CKPT, STATE = "checkpoint.safetensors", "state.json"
PREV = "checkpoint.prev.safetensors"  # the tensors state.json names while a new checkpoint is being written


def _split_optimizer(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = opt.state_dict()
    tensors, plain = {}, {}
    for idx, state in sd["state"].items():
        for k, v in state.items():
            if isinstance(v, torch.Tensor):
                tensors[f"optim.{idx}.{k}"] = v.detach().cpu().contiguous()
            else:
                plain[f"{idx}.{k}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": plain}


def _join_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, v in tensors.items():
        if key.startswith("optim."):
            _, idx, k = key.split(".", 2)
            state.setdefault(int(idx), {})[k] = v
    for key, v in meta["scalars"].items():
        idx, k = key.split(".", 1)
        state.setdefault(int(idx), {})[k] = v
    return {"state": state, "param_groups": meta["param_groups"]}


def write_tensors(tensors: dict[str, torch.Tensor], tmp: Path, dest: Path, metadata: dict[str, str] | None) -> None:
    """safetensors' save_file into `tmp` (an atomic_path for `dest`). Its I/O failures (a full disk) arrive as
    SafetensorError; they are the machine's, not a bug, so they go on as the OSError they are, naming `dest`."""
    try:
        save_file(tensors, str(tmp), metadata=metadata)
    except SafetensorError as e:
        raise OSError(errno.EIO, f"cannot write ({' '.join(str(e).split())})", str(dest)) from None


def save_checkpoint(run_dir: Path, model: nn.Module, opt: torch.optim.Optimizer, sched: Any,
                    state: dict[str, Any]) -> None:
    """Write model + optimizer + scheduler + RNG at `state["step"]`; `state` also holds the model signature."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    seen: set[int] = set()
    for k, v in tensors.items():  # shared weights (e.g. share_weights=True) appear under several names;
        if v.data_ptr() in seen:  # safetensors refuses aliased tensors, so later names get a copy
            tensors[k] = v.clone()
        seen.add(v.data_ptr())
    opt_tensors, opt_meta = _split_optimizer(opt)
    tensors.update(opt_tensors)
    tensors["rng.cpu"] = torch.get_rng_state()
    step = str(state["step"])
    ckpt, prev = run_dir / CKPT, run_dir / PREV
    with atomic_path(ckpt) as tmp:
        write_tensors(tensors, tmp, ckpt, {"step": step, "model": state.get("model", "")})
        if ckpt.exists():  # keep the tensors the current state.json names until it names the new ones
            os.replace(ckpt, prev)
    write_json(run_dir / STATE, {**state, "optimizer": opt_meta, "scheduler": sched.state_dict()})
    prev.unlink(missing_ok=True)


def save_weights(path: Path, model: nn.Module, metadata: dict[str, str] | None = None) -> None:
    """The model's state dict alone (weights and buffers, no optimizer), atomically, as safetensors: the weights a
    lottery ticket rewinds to (skiplab.pruning)."""
    tensors = {k: v.detach().cpu().clone().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        write_tensors(tensors, tmp, path, metadata)


def read_tensors(path: Path, what: str, missing: str = "missing") -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file; a missing one is CheckpointError "<path>: <missing>", an unreadable one
    "<path>: corrupt <what> (<reason>)"."""
    try:
        return load_file(str(path))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: {missing}") from None
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: corrupt {what} ({str(e).splitlines()[0]})") from None


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """A state dict written by `save_weights`; a missing or corrupt file is one CheckpointError."""
    return read_tensors(path, "weights file")


# What save_checkpoint writes into state.json and what resuming uses, with the type each must have. `bool` is an
# int to Python, so it is refused separately below.
_SCHEMA: dict[str, tuple[type, str]] = {
    "model": (str, "a model signature string"), "epoch": (int, "an integer"), "step": (int, "an integer"),
    "seed": (int, "an integer"), "history": (list, "a list of epoch rows"),
    "optimizer": (dict, "a mapping with param_groups and scalars"), "scheduler": (dict, "a mapping"),
}


def _schema_problem(state: dict[str, Any]) -> str | None:
    for key, (kind, what) in _SCHEMA.items():
        if key not in state:
            return f"{key!r} is missing"
        value = state[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            return f"{key!r} must be {what}, got {value!r}"[:200]
        if kind is int and key != "seed" and value < 0:
            return f"{key!r} must not be negative, got {value}"
    opt = state["optimizer"]
    if not isinstance(opt.get("param_groups"), list) or not isinstance(opt.get("scalars"), dict):
        return "'optimizer' must be a mapping with param_groups (a list) and scalars (a mapping)"
    return None


def read_state(run_dir: Path) -> dict[str, Any]:
    """The checkpoint state in `run_dir` as a JSON object (for a look at its epoch: `checked_state` is what loading
    uses); a missing or unreadable one, or one that is no object, is one CheckpointError naming the file."""
    path = run_dir / STATE
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no checkpoint state to resume from") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: unreadable checkpoint state ({e})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: malformed checkpoint state (expected a JSON object, got "
                              f"{type(state).__name__}); use --force to start over")
    return state


def checked_state(run_dir: Path) -> dict[str, Any]:
    """`read_state`, with every key that save_checkpoint writes and resuming uses there with its type; otherwise
    one CheckpointError naming the file and what is wrong."""
    state = read_state(run_dir)
    problem = _schema_problem(state)
    if problem is not None:
        raise CheckpointError(f"{run_dir / STATE}: malformed checkpoint state ({problem}); use --force to start over")
    return state


def tensors_step(path: Path) -> str | None:
    """The step recorded in a checkpoint's safetensors metadata (None if it records none), read from the header
    alone; a missing file is CheckpointError "missing", an unreadable one "corrupt checkpoint"."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return (f.metadata() or {}).get("step")
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing (state.json is there but its tensors are not)") from None
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: corrupt checkpoint ({str(e).splitlines()[0]})") from None


def paired_tensors(run_dir: Path, state: dict[str, Any]) -> Path:
    """The tensors file whose step is `state`'s: checkpoint.safetensors, or, where a write was cut off between the
    two files, the kept previous tensors (PREV); otherwise one CheckpointError."""
    path, prev, want = run_dir / CKPT, run_dir / PREV, str(state["step"])
    step = tensors_step(path) if path.exists() or not prev.exists() else None
    if step == want:
        return path
    if prev.exists() and tensors_step(prev) == want:
        return prev
    # Not recoverable: the tensors of state.json's step are gone, and these have no state to go with them.
    raise CheckpointError(f"{path} is at step {step} but {STATE} at step {want}: the pair does not belong together "
                          "(copied or edited files?); it cannot be resumed, use --force to start over")


def _read_checked(run_dir: Path, signature: str) -> tuple[dict[str, Any], Path, dict[str, torch.Tensor]]:
    """state.json, and the path and tensors of the checkpoint made by the model with `signature` at the step
    state.json names; or one CheckpointError."""
    state = checked_state(run_dir)
    if state["model"] != signature:
        raise CheckpointError(f"{run_dir / CKPT}: made by model {state['model']!r}, not {signature!r}; "
                              "use another --out or start a fresh run")
    path = paired_tensors(run_dir, state)
    return state, path, read_tensors(path, "checkpoint", "missing (state.json is there but its tensors are not)")


def _apply_model(path: Path, model: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    model_sd = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    own = model.state_dict()
    bad = [k for k in own if k not in model_sd or model_sd[k].shape != own[k].shape]
    if bad or len(model_sd) != len(own):
        where = bad[0] if bad else "(extra tensors)"
        raise CheckpointError(f"{path}: tensors do not fit this architecture (first mismatch: {where})")
    model.load_state_dict(model_sd)


def _fold_masks(tensors: dict[str, torch.Tensor], own: set[str]) -> dict[str, torch.Tensor]:
    """A pruned run's `X.weight_orig` and `X.weight_mask` (torch.nn.utils.prune) as the effective `X.weight`,
    where the model to load into is not pruned: probes then see exactly the weights the pruned net computed with."""
    out = dict(tensors)
    for key in [k for k in tensors if k.endswith(".weight_orig")]:
        base = key[:-len("_orig")]
        if base[len("model."):] in own and f"{base}_mask" in tensors:
            out[base] = out.pop(key) * out.pop(f"{base}_mask")
    return out


def load_model_weights(run_dir: Path, model: nn.Module, signature: str) -> dict[str, Any]:
    """Load only the model's weights of the checkpoint in `run_dir` (for probes of a trained run), with the same
    checks as `load_checkpoint`; `signature` is `skiplab.train.model_signature(model)`. A pruned run's weights
    load into an unpruned model with the masks folded in (zeros where pruned). Returns the saved state."""
    state, path, tensors = _read_checked(Path(run_dir), signature)
    _apply_model(path, model, _fold_masks(tensors, set(model.state_dict())))
    return state


def load_checkpoint(run_dir: Path, model: nn.Module, opt: torch.optim.Optimizer, sched: Any,
                    signature: str) -> dict[str, Any]:
    """Restore everything saved by `save_checkpoint` and return the saved state dict. Any mismatch (another
    architecture, a corrupt file, tensors from another step) raises CheckpointError with one line."""
    state, path, tensors = _read_checked(run_dir, signature)
    _apply_model(path, model, tensors)
    opt.load_state_dict(_join_optimizer(tensors, state["optimizer"]))
    sched.load_state_dict(state["scheduler"])
    torch.set_rng_state(tensors["rng.cpu"])
    return state
