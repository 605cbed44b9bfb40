"""`reproduce()`: plan the runs of the chosen claims (shared runs once), train what is missing, measure, judge,
and write results.json + the report. Results of claims not rerun are kept from an earlier results.json."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from skiplab import __version__
from skiplab._atomic import write_json
from skiplab.errors import ConfigError
from skiplab.report import render_report
from skiplab.train import distributed as D
from skiplab.train.loop import resolve_device

from .contract import ClaimModule, Context
from .datasets import dataset
from .engine import Done, FunctionRun, Job, RunSpec, execute
from .executor import Executor
from . import registry
from .scale import scales_of
from .stats import judge

SCHEMA = 1


def rule_commit(path: Path) -> str:
    """The commit the file `path` (a claim's rule) comes from; flags uncommitted edits."""
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


def rule_file(claim: ClaimModule) -> Path:
    """The file the claim's verdict rule is written in: the module of its `verdict` (rule.py of a package)."""
    return Path(sys.modules[claim.verdict.__module__].__file__ or "")


def validate(claims: Sequence[ClaimModule], ctx: Context) -> dict[str, list[Job]]:
    """Every claim's jobs, after checking every override and loading every dataset they train on: bad input fails
    here, before anything trains."""
    missing = [c.CLAIM.id for c in claims if ctx.scale not in scales_of(c)]
    if missing:
        have = [c.CLAIM.id for c in claims if ctx.scale in scales_of(c)]
        raise ConfigError(f"scale {ctx.scale}: {', '.join(missing)} {'has' if len(missing) == 1 else 'have'} no "
                          f"{ctx.scale} setting" + (f"; of those named, {', '.join(have)} do" if have else "")
                          + " (`skiplab list claims` shows each claim's scales)")
    plans = {c.CLAIM.id: list(c.runs(ctx)) for c in claims}
    for jobs in plans.values():
        for job in jobs:
            if isinstance(job, RunSpec):
                job.dataset()
            elif isinstance(job, FunctionRun) and isinstance(getattr(job.config, "data", None), str):
                dataset(job.config.data, getattr(job.config, "data_root", None))
    return plans


def reproduce(claims: Sequence[ClaimModule], ctx: Context, out: Path, command: str,
              verbose: bool = False, executor: Executor | None = None) -> dict[str, Any]:
    """Train the jobs of `claims` (shared ones once), measure, judge, and write results.json and the report to
    out/<scale>/. Progress goes to ctx.say; ctx.workers processes train side by side, or `executor` (a Ray
    cluster) trains them; measuring stays here either way."""
    t_all = time.perf_counter()
    out = Path(out)
    report_dir = out / ctx.scale
    plans = validate(claims, ctx)
    ordered = list({j.key: j for jobs in plans.values() for j in jobs}.values())
    ctx.say(f"{len(claims)} claim(s), {len(ordered)} distinct training run(s) at scale {ctx.scale}, "
            f"{ctx.seeds} seed(s)")
    users = {j.key: [cid for cid, jobs in plans.items() if any(x.key == j.key for x in jobs)] for j in ordered}
    if executor is not None:
        ctx.say(f"training through {executor.describe()}")
    done = execute(ordered, Done(out / "runs", executor), say=ctx.say, workers=ctx.workers, verbose=verbose,
                   labels={k: f"({', '.join(v)})" for k, v in users.items()})
    results_of = []
    rules, added = registry.load(), registry.registered_at()  # one read and one git log for every claim
    for m in claims:
        ctx.say(f"measuring {m.CLAIM.id} ...")
        t0 = time.perf_counter()
        evidence = m.measure(ctx, done)
        judged = judge(m.verdict, evidence, ctx.seeds)
        v = judged["verdict"]
        numbers, figures = m.present(evidence)
        jobs = plans[m.CLAIM.id]
        train_s = sum(done.seconds(j) for j in jobs)
        c = m.CLAIM
        results_of.append({"id": c.id, "kind": c.kind, "statement": c.statement, "source": c.source, "rule": c.rule,
                           "rule_commit": rule_commit(rule_file(m)),
                           "rule_registration": registry.status(m, registry=rules, added=added),
                           "verdict": v.verdict, "reason": v.reason,
                           "intervals": judged["intervals"], "replication": judged["replication"],
                           "budget": m.budget(ctx), "wall_time": train_s + time.perf_counter() - t0,
                           "numbers": numbers, "figures": figures, "evidence": evidence,
                           "configs": run_configs(jobs, done, report_dir)})
        rep = judged["replication"]
        ctx.say(f"  {c.id}: {v.verdict}" + ("" if rep is None else " (replicated)" if rep["replicated"] else
                                           " (not replicated)"))
    previous = _previous(report_dir / "results.json", ctx)
    ran = {c["id"] for c in results_of}
    kept = [c for c in previous if c.get("id") not in ran]
    created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    vers = versions(str(resolve_device("auto")))
    wall = time.perf_counter() - t_all
    for c in results_of:  # which call wrote each claim: a merged file mixes calls, the top level names the last
        c["provenance"] = {"command": command, "created": created, "seeds": ctx.seeds, "scale": ctx.scale,
                           "device": vers.get("device"), "wall_time": wall, "versions": vers}
    results = {"schema": SCHEMA, "created": created,
               "command": command, "scale": ctx.scale, "seeds": ctx.seeds, "data": ctx.data or "claims' defaults",
               "versions": vers, "wall_time": wall,
               "claims": kept + results_of}
    results = _jsonable(results)
    if not D.is_main():  # under torchrun every rank trains and measures; only rank 0 writes the report
        return {"results": results, "paths": {}, "dir": report_dir}
    write_json(report_dir / "results.json", results)
    paths = render_report(report_dir)
    return {"results": results, "paths": paths, "dir": report_dir}


def _previous(path: Path, ctx: Context) -> list[dict[str, Any]]:
    """Claims of an earlier results.json of the same scale and seeds (others are dropped, not mixed in)."""
    try:
        old = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return []
    if (old.get("scale") != ctx.scale or old.get("seeds") != ctx.seeds
            or old.get("data") != (ctx.data or "claims' defaults")):
        return []
    claims = list(old.get("claims", []))
    for c in claims:  # written before claims carried their provenance: the file's own call wrote them
        c.setdefault("provenance", {"command": old.get("command"), "created": old.get("created"),
                                    "seeds": old.get("seeds"), "scale": old.get("scale"),
                                    "device": (old.get("versions") or {}).get("device"),
                                    "wall_time": old.get("wall_time")})
        # Written before provenance carried versions: the top level's are the last call's, so they are this
        # claim's only if that call wrote it; another call's versions are unknown and stay missing.
        prov = c["provenance"]
        if "versions" not in prov and prov.get("created") == old.get("created") \
                and prov.get("command") == old.get("command"):
            prov["versions"] = old.get("versions")
    return claims


# --- every run's config, grouped ----------------------------------------------------------------------------------

def _seed_of(job: Job) -> int | None:
    """The seed a job trains with: RunSpec keeps it in its RunConfig, FunctionRun and the IMP chains on the job."""
    seed = getattr(job, "seed", None)
    if seed is None:
        seed = getattr(getattr(job, "run", None), "seed", None)
    return seed if isinstance(seed, int) else None


def _without_seed(value: Any) -> Any:
    """A resolved config with every key named "seed" left out, so that seeds of one configuration compare equal."""
    if isinstance(value, dict):
        return {k: _without_seed(v) for k, v in value.items() if k != "seed"}
    if isinstance(value, list):
        return [_without_seed(v) for v in value]
    return value


def run_configs(jobs: Sequence[Job], done: Done, report_dir: Path) -> list[dict[str, Any]]:
    """Every run of a claim, its resolved config written once per group of runs that differ only in the seed:
    [{"name", "runs" (labels), "seeds", "folders" (relative to report_dir, where results.json is), "config"}], in
    the order the claim declared its runs. 18 runs of 3 depths x 6 seeds are 3 entries, not 18 copies."""
    groups: dict[str, dict[str, Any]] = {}
    for j in jobs:
        folder = done.dir(j)
        config = _without_seed(j.resolved(folder))
        key = json.dumps(config, sort_keys=True, default=str)
        g = groups.setdefault(key, {"name": re.sub(r" seed \d+", "", j.label).strip() or j.label,
                                    "runs": [], "seeds": [], "folders": [], "config": config})
        g["runs"].append(j.label)
        g["seeds"].append(_seed_of(j))
        try:
            g["folders"].append(Path(os.path.relpath(folder, report_dir)).as_posix())
        except ValueError:  # another drive (Windows): no relative path exists
            g["folders"].append(Path(folder).as_posix())
    return list(groups.values())
