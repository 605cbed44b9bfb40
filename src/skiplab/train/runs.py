"""Run folders: `runs/<kind>/<name>-<config-hash>/seed-<n>/` (DESIGN.md). The hash covers the resolved config
and PROTOCOL, which is bumped whenever a change alters results, so a finished run is found, not redone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..config import stable_hash

PROTOCOL = 3  # 2: capped evaluations spread over the split; 3: a finite loss blow-up is divergence (step.BLOWUP)
RESULT = "result.json"


def run_dir(out: str | Path, kind: str, name: str, config: Any, seed: int) -> Path:
    digest = stable_hash({"protocol": PROTOCOL, "config": config})
    return Path(out) / kind / f"{name}-{digest}" / f"seed-{seed}"


def read_result(directory: Path) -> dict[str, Any] | None:
    """The finished run's result, or None if the run has not finished."""
    try:
        return json.loads((directory / RESULT).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
