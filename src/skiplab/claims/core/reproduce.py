"""`reproduce()`: plan the runs of the chosen claims (shared runs once), train what is missing, measure, judge,
and write results.json + the report. Results of claims not rerun are kept from an earlier results.json."""

from __future__ import annotations

import json
import platform
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import numpy as np
import torch

from skiplab import __version__
from skiplab._atomic import write_json
from skiplab.train.loop import resolve_device
from skiplab.claims.core.contract import Context
from skiplab.claims.core.engine import Runs, execute

SCHEMA = 1


def rule_commit(module: ModuleType) -> str:
    """The commit the claim module (and so its rule) comes from; flags uncommitted edits."""
    path = Path(module.__file__ or "")
    try:
        git = ["git", "-C", str(path.parent)]
        commit = subprocess.run(git + ["log", "-1", "--format=%h", "--", path.name], capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(git + ["status", "--porcelain", "--", path.name], capture_output=True, text=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (git not available)"
    if not commit:
        return "unknown (not a git checkout)" if not dirty else "uncommitted"
    return f"{commit} + uncommitted edits" if dirty else commit


def _jsonable(obj: Any) -> Any:
    """NaN/inf -> None (JSON has no such numbers); numpy scalars -> Python numbers."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def versions(device: str) -> dict[str, str]:
    return {"skiplab": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "platform": platform.platform(), "device": device}


def default_workers() -> int:
    """Two single-thread training processes on a CPU with >= 2 cores; one process on a GPU."""
    import os
    return 1 if torch.cuda.is_available() else max(1, min(2, os.cpu_count() or 1))


def reproduce(modules: list[ModuleType], ctx: Context, out: Path, command: str,
              say: Callable[[str], None] = print, verbose: bool = False, workers: int | None = None) -> dict[str, Any]:
    t_all = time.perf_counter()
    out = Path(out)
    report_dir = out / ctx.scale
    plans = {m.CLAIM.id: m.runs(ctx) for m in modules}
    ordered = list({s.key: s for specs in plans.values() for s in specs}.values())
    say(f"{len(modules)} claim(s), {len(ordered)} distinct training run(s) at scale {ctx.scale}, "
        f"{ctx.seeds} seed(s)")
    runs = Runs(out / "runs")
    runs.say = say
    users = {s.key: [cid for cid, specs in plans.items() if s in specs] for s in ordered}
    execute(ordered, runs, say=say, verbose=verbose, workers=workers or default_workers(),
            labels={k: f"({', '.join(v)})" for k, v in users.items()})
    claims = []
    for m in modules:
        say(f"measuring {m.CLAIM.id} ...")
        t0 = time.perf_counter()
        evidence = m.measure(ctx, runs)
        v = m.verdict(evidence)
        numbers, figures = m.present(evidence)
        train_s = sum(runs.seconds.get(s.key, 0.0) for s in plans[m.CLAIM.id])
        c = m.CLAIM
        claims.append({"id": c.id, "kind": c.kind, "statement": c.statement, "source": c.source, "rule": c.rule,
                       "rule_commit": rule_commit(m), "verdict": v.verdict, "reason": v.reason,
                       "budget": m.budget(ctx), "wall_time": train_s + time.perf_counter() - t0,
                       "numbers": numbers, "figures": figures, "evidence": evidence,
                       "configs": {s.label: json.loads((runs.dir(s) / "config.json").read_text())["resolved"]
                                   for s in plans[m.CLAIM.id][:1]}})
        say(f"  {c.id}: {v.verdict}")
    previous = _previous(report_dir / "results.json", ctx)
    ran = {c["id"] for c in claims}
    kept = [c for c in previous if c.get("id") not in ran]
    results = {"schema": SCHEMA, "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
               "command": command, "scale": ctx.scale, "seeds": ctx.seeds, "data": ctx.data or "claims' defaults",
               "versions": versions(str(resolve_device("auto"))), "wall_time": time.perf_counter() - t_all,
               "claims": kept + claims}
    results = _jsonable(results)
    from skiplab.train import distributed as D
    if not D.is_main():  # under torchrun every rank trains and measures; only rank 0 writes the report
        return {"results": results, "paths": {}, "dir": report_dir}
    write_json(report_dir / "results.json", results)
    from skiplab.report import render_report
    paths = render_report(report_dir)
    return {"results": results, "paths": paths, "dir": report_dir}


def _previous(path: Path, ctx: Context) -> list[dict[str, Any]]:
    """Claims of an earlier results.json of the same scale and seeds (others are dropped, not mixed in)."""
    try:
        old = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return []
    if old.get("scale") != ctx.scale or old.get("seeds") != ctx.seeds or old.get("data") != (ctx.data or "claims' defaults"):
        return []
    return list(old.get("claims", []))
