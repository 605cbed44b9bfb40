"""Which run a folder holds. `config.json` records what its results depend on (the `resolved` section,
experiment.hashed_config); a folder is only resumed, or its finished result reused, by the same config. Anything
else would mix two runs in one folder -- e.g. `--run-dir R --resume` with another lr continuing R's weights under the
new lr -- so it is refused in one line, and config.json is never rewritten."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import CheckpointError

CONFIG = "config.json"


def _plain(obj: Any) -> Any:
    """`obj` as config.json stores it (tuples as lists, keys as strings), so a fresh config compares like a read one."""
    return json.loads(json.dumps(obj, sort_keys=True))


def first_difference(saved: Any, wanted: Any, where: str = "") -> tuple[str, Any, Any] | None:
    """(dotted key, saved value, wanted value) of the first difference, or None. A key only `wanted` has is no
    difference: it is an option added since the folder was written, and options only arrive with a default that
    reproduces the old behaviour (else PROTOCOL is bumped, which moves every run to a new folder)."""
    if isinstance(saved, dict) and isinstance(wanted, dict):
        for key in sorted(saved):
            if key not in wanted:
                return (f"{where}{key}", saved[key], "(absent)")
            found = first_difference(saved[key], wanted[key], f"{where}{key}.")
            if found is not None:
                return found
        return None
    return None if saved == wanted else (where.rstrip("."), saved, wanted)


def saved_resolved(folder: Path) -> Any | None:
    """The `resolved` section of `folder`'s config.json; None when the folder has no config.json."""
    path = folder / CONFIG
    try:
        saved = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, RecursionError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: unreadable run config ({type(e).__name__}); use --force to start over") \
            from None
    if not isinstance(saved, dict) or not isinstance(saved.get("resolved"), dict):
        raise CheckpointError(f"{path}: no 'resolved' section; not written by skiplab train (use --force to start "
                              "over)")
    return saved["resolved"]


def check_same_run(folder: Path, resolved: dict[str, Any], what: str) -> None:
    """Refuse, in one line, to `what` ("resume", "reuse") the run in `folder` with a config whose `resolved`
    section differs from the one config.json records."""
    saved = saved_resolved(folder)
    if saved is None:
        return
    diff = first_difference(saved, _plain(resolved))
    if diff is None:
        return
    key, was, now = diff
    hint = (" (a run's length is part of its config: its schedule depends on it)"
            if key in ("train.epochs", "train.max_steps") else "")
    raise CheckpointError(f"{folder} holds a run of another config ({key} is {json.dumps(was)} there, "
                          f"{json.dumps(now)} now{hint}); refusing to {what} it: choose another --run-dir, or "
                          "--force to replace it")
