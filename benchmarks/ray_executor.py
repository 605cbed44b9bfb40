"""The Ray executor against the local one: the training phase of `skiplab reproduce` (every run the chosen claims
declare), into a fresh run folder each time, through the local executor (2 single-thread worker processes, the
CPU default) and through `--executor ray` (a Ray started on this machine with the same 2 CPUs, one CPU per run;
the Ray start is counted, as a user pays it). Arms alternate in order across repeats. Measuring and the report run
on the driver either way, the same code, so they are left out.

Prints each arm's wall time (and the seconds spent inside the runs, summed over workers: each run's own clock, so
a slower run and time between runs can be told apart), the median ratio ray / local with its spread (min-max over
repeats), and Ray's overhead per unit ((ray - local) / units). The issue's goal: ray within 10% of local (ratio
<= 1.10).

    python benchmarks/ray_executor.py [--claims ID ...] [--steps N] [--repeats 2] [--seeds 6] [--json out.json]

--steps N caps every run at N steps (reproduce's smoke mode): the same units, almost no training, so the wall is
mostly what each executor spends per unit; without it the runs train in full.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from skiplab.claims import CLAIMS, Context, get_claim
from skiplab.claims.core.engine import Done, execute, waves
from skiplab.claims.core.ray_executor import RayExecutor
from skiplab.claims.core.reproduce import validate
from skiplab.claims.core.scale import scales_of


def jobs_of(ids: list[str], ctx: Context) -> list:
    plans = validate([get_claim(c) for c in ids], ctx)
    return list({j.key: j for jobs in plans.values() for j in jobs}.values())


def arm(name: str, jobs: list, workers: int) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"skiplab-bench-{name}-") as tmp:
        t0 = time.perf_counter()
        executor = RayExecutor(local_cpus=workers).start() if name == "ray" else None
        started = time.perf_counter() - t0
        try:
            done = execute(jobs, Done(Path(tmp) / "runs", executor), say=lambda s: None, workers=workers)
        finally:
            if executor is not None:
                executor.close()
        # seconds inside the runs (each run's own clock), apart from what the executor spends between them
        inside = sum(o.seconds for o in done.outcomes.values())
        return {"arm": name, "wall_s": time.perf_counter() - t0, "start_s": started, "inside_runs_s": inside}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--claims", nargs="*", default=None, help="claim ids (default: every claim with a quick scale)")
    p.add_argument("--steps", type=int, default=None, help="cap every run at N steps (smoke mode)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--seeds", type=int, default=6)
    p.add_argument("--workers", type=int, default=2, help="local worker processes = the local Ray's CPUs")
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args()
    ids = a.claims or [c for c in CLAIMS if "quick" in scales_of(get_claim(c))]
    ctx = Context(scale="quick", seeds=a.seeds, max_steps=a.steps, workers=a.workers)
    jobs = jobs_of(ids, ctx)
    units = sum(len(w) for w in waves(jobs))
    print(f"{len(ids)} claims, {units} runs in {len(waves(jobs))} wave(s), steps cap {a.steps}, "
          f"{a.workers} workers", flush=True)
    rows = []
    for r in range(a.repeats):
        for name in (("local", "ray") if r % 2 == 0 else ("ray", "local")):
            row = {"repeat": r, **arm(name, jobs, a.workers)}
            rows.append(row)
            print(f"repeat {r} {name:5s}: {row['wall_s']:8.1f} s (Ray start {row['start_s']:.1f} s; "
                  f"{row['inside_runs_s']:.1f} s inside the runs, summed over workers)", flush=True)
    local = [x["wall_s"] for x in rows if x["arm"] == "local"]
    ray = [x["wall_s"] for x in rows if x["arm"] == "ray"]
    ratios = [b / a_ for a_, b in zip(local, ray)]
    summary = {"claims": ids, "runs": units, "steps": a.steps, "workers": a.workers, "repeats": rows,
               "ratio_median": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
               "overhead_per_run_s": (statistics.median(ray) - statistics.median(local)) / units,
               "goal": "ray / local <= 1.10"}
    print(f"ray / local: {summary['ratio_median']:.3f} ({summary['ratio_min']:.3f}-{summary['ratio_max']:.3f}); "
          f"overhead {summary['overhead_per_run_s'] * 1000:+.0f} ms per run", flush=True)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
