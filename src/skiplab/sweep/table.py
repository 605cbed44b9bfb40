"""A sweep's results: the per-point summary (mean, std and a 95% t-interval over seeds, with every seed's value
beside them) and the files it is written to: sweep.json (everything), runs.csv (a row per run), summary.csv (a
row per grid point) and sweep.png."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any, Sequence

from skiplab._atomic import atomic_path, write_json, write_text
from skiplab.claims.core.stats import LEVEL, summary

from .grid import Axis

METRICS = ("test_err", "train_err", "train_full_err", "test_loss", "train_loss", "train_full_loss", "seconds")


def is_error(metric: str) -> bool:
    return metric.endswith("_err")


def summarize(rows: Sequence[dict[str, Any]], axes: Sequence[Axis], metric: str) -> list[dict[str, Any]]:
    """One entry per grid point (in grid order): n runs, how many finished / diverged / failed, the metric's mean,
    std, 95% t-interval over the runs that have it, and its per-seed values (None where a run has none)."""
    from scipy import stats
    keys = [a.key for a in axes]
    by_point: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        by_point.setdefault(tuple(repr(r[k]) for k in keys), []).append(r)
    out = []
    for group in by_point.values():
        s = summary([r[metric] for r in group if r[metric] is not None])  # the claims' own mean and sample std
        n, mean, std = s["n"], s["mean"], s["std"]
        half = stats.t.ppf(0.5 + LEVEL / 2, n - 1) * std / math.sqrt(n) if n > 1 else None
        statuses = [r["status"] for r in group]
        out.append({**{k: group[0][k] for k in keys}, "runs": len(group), "with_metric": n,
                    "finished": statuses.count("finished"), "diverged": statuses.count("diverged"),
                    "failed": statuses.count("failed"), "mean": mean, "std": std,
                    "ci_low": None if half is None else mean - half, "ci_high": None if half is None else mean + half,
                    "per_seed": [r[metric] for r in group], "seeds": [r["seed"] for r in group]})
    return out


def _csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: (" ".join("" if v is None else f"{v:.6g}" for v in r[c]) if isinstance(r.get(c), list)
                        else r.get(c)) for c in columns})
    return buf.getvalue()


def write_outputs(out: Path, meta: dict[str, Any], rows: Sequence[dict[str, Any]], summary: Sequence[dict[str, Any]],
                  axes: Sequence[Axis], metric: str) -> dict[str, Path]:
    """sweep.json, runs.csv, summary.csv and sweep.png under `out`, each written whole or not at all."""
    keys = [a.key for a in axes]
    paths = {name: out / name for name in ("sweep.json", "runs.csv", "summary.csv", "sweep.png")}
    write_json(paths["sweep.json"], {**meta, "rows": list(rows), "summary": list(summary)})
    run_cols = [*keys, "seed", "status", metric, *(c for c in ("test_err", "train_err") if c != metric),
                "epochs", "seconds", "reused", "folder", "error"]
    write_text(paths["runs.csv"], _csv(rows, run_cols))
    write_text(paths["summary.csv"], _csv(summary, [*keys, "runs", "with_metric", "finished", "diverged", "failed",
                                                    "mean", "std", "ci_low", "ci_high", "seeds", "per_seed"]))
    plot(summary, axes, metric, paths["sweep.png"])
    return paths


def _label(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def plot(summary: Sequence[dict[str, Any]], axes: Sequence[Axis], metric: str, path: Path) -> None:
    """The metric against the first axis: a line (mean, bar = 95% interval) per combination of the other axes,
    each seed's value as a dot beside it. The legend sits outside the axes, so it never covers data."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first, rest = axes[0], axes[1:]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in first.values)
    xs = {repr(v): (float(v) if numeric else i) for i, v in enumerate(first.values)}
    scale = 100.0 if is_error(metric) else 1.0
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for s in summary:
        groups.setdefault(tuple(repr(s[a.key]) for a in rest), []).append(s)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    spread = (max(xs.values()) - min(xs.values()) or 1.0) * 0.012  # dots of a point side by side, not on top
    for i, members in enumerate(groups.values()):
        colour = f"C{i % 10}"
        label = ", ".join(f"{a.key}={_label(members[0][a.key])}" for a in rest) or metric
        dodge = (i - (len(groups) - 1) / 2) * spread * 4  # lines side by side, so their bars do not overlap
        pts = [(xs[repr(s[first.key])] + dodge, s) for s in members]
        with_mean = [(x, s) for x, s in pts if s["mean"] is not None]
        if with_mean:
            x = [p for p, _ in with_mean]
            y = [s["mean"] * scale for _, s in with_mean]
            err = [[(s["mean"] - s["ci_low"]) * scale if s["ci_low"] is not None else 0 for _, s in with_mean],
                   [(s["ci_high"] - s["mean"]) * scale if s["ci_high"] is not None else 0 for _, s in with_mean]]
            ax.errorbar(x, y, yerr=err, color=colour, marker="o", capsize=3, label=label)
        for x, s in pts:
            seeds = [v for v in s["per_seed"] if v is not None]
            offs = [(j - (len(seeds) - 1) / 2) * spread for j in range(len(seeds))]
            ax.scatter([x + o for o in offs], [v * scale for v in seeds], color=colour, s=9, alpha=0.45, zorder=3)
    if not numeric:
        ax.set_xticks(list(xs.values()), [_label(v) for v in first.values])
    ax.set_xlabel(first.key)
    ax.set_ylabel(f"{metric} (%)" if is_error(metric) else metric)
    n = max((s["runs"] for s in summary), default=0)
    ax.set_title(f"{metric} over {n} seed{'s' * (n != 1)}: mean, 95% interval, and each seed", fontsize=10)
    ax.grid(alpha=0.3)
    if any(ax.get_legend_handles_labels()[1]):
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
