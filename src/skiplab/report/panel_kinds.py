"""One drawing function per panel kind of results.json (line, scatter, complex, bar, hist), for figures.py.

Each draws a panel's series onto a Matplotlib Axes and returns whether it drew any data. Conventions: a series with
no label is drawn thin and pale and stays out of the legend; `group` picks the colour (series of one group share
it), otherwise the series' position does.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from matplotlib.axes import Axes

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf"]  # tab10 with red second: the common plain-vs-residual pair gets blue vs red
_LINESTYLES = {"solid": "-", "dashed": "--", "dotted": ":"}


def arr(values: list | None) -> np.ndarray:
    """JSON numbers with nulls (NaN/inf on the writer's side) -> float array with NaN, which matplotlib leaves out."""
    return np.array([np.nan if v is None else v for v in values or []], dtype=float)


def _colour(series: dict, i: int) -> str:
    g = series.get("group")
    return COLOURS[(g if g is not None else i) % len(COLOURS)]


def _label(series: dict) -> str:
    return series.get("label") or "_nolegend_"


def _emphasis(series: dict) -> dict[str, Any]:
    # Unlabelled series are the individual seeds behind a labelled mean: thin and pale, so the mean reads first.
    return {"lw": 1.8, "alpha": 1.0} if series.get("label") else {"lw": 0.8, "alpha": 0.45}


def _any_finite(*arrays: np.ndarray) -> bool:
    return any(np.isfinite(a).any() for a in arrays if a.size)


def _line(ax: Axes, panel: dict) -> bool:
    drawn = False
    for i, s in enumerate(panel.get("series") or []):
        x, y, colour, look = arr(s["x"]), arr(s["y"]), _colour(s, i), _emphasis(s)
        st = s.get("style") or "solid"
        if st == "points":
            ax.plot(x, y, ls="none", marker="o", ms=3.5, color=colour, alpha=look["alpha"], label=_label(s))
        else:
            ax.plot(x, y, ls=_LINESTYLES[st], marker="o" if len(x) == 1 else None, color=colour, label=_label(s),
                    **look)
        if s.get("yerr") is not None:
            err = arr(s["yerr"])
            ax.fill_between(x, y - err, y + err, color=colour, alpha=0.18 * look["alpha"], lw=0)
        drawn |= _any_finite(y)
    return drawn


def _scatter(ax: Axes, panel: dict) -> bool:
    series = panel.get("series") or []
    cs = [arr(s["c"]) for s in series if s.get("c") is not None]
    finite_c = np.concatenate(cs)[np.isfinite(np.concatenate(cs))] if cs else np.array([])
    # One colour scale for every series of the panel, so equal colours mean equal values.
    vmin, vmax = (finite_c.min(), finite_c.max()) if finite_c.size else (None, None)
    mappable, drawn = None, False
    for i, s in enumerate(series):
        x, y = arr(s["x"]), arr(s["y"])
        if s.get("c") is not None:
            mappable = ax.scatter(x, y, c=arr(s["c"]), cmap="viridis", vmin=vmin, vmax=vmax, s=16,
                                  edgecolors="none", label=_label(s))
        else:
            ax.scatter(x, y, color=_colour(s, i), s=16, alpha=_emphasis(s)["alpha"] * 0.85, edgecolors="none",
                       label=_label(s))
        if s.get("yerr") is not None:
            ax.errorbar(x, y, yerr=arr(s["yerr"]), fmt="none", ecolor=_colour(s, i), alpha=0.5, lw=0.8)
        drawn |= _any_finite(x) and _any_finite(y)
    if mappable is not None:
        ax.figure.colorbar(mappable, ax=ax, shrink=0.85)
    return drawn


def _complex(ax: Axes, panel: dict) -> bool:
    """Eigenvalues in the complex plane: equal aspect (a circle must look round), reference circles, and a cross
    at 1 + 0i, where the eigenvalues of a residual block's Jacobian I + dF/dx sit when the branch is small (left
    out with "mark_one": false). A series with a "style" is a curve (solid/dashed/dotted) or small points (points),
    e.g. a stability boundary; without one, a scatter of eigenvalues."""
    ax.axhline(0, color="0.8", lw=0.6, zorder=0)
    ax.axvline(0, color="0.8", lw=0.6, zorder=0)
    drawn = False
    for i, s in enumerate(panel.get("series") or []):
        x, y, st = arr(s["x"]), arr(s["y"]), s.get("style")
        if st == "points":
            ax.plot(x, y, ls="none", marker=".", ms=2, color=_colour(s, i), label=_label(s), zorder=4)
        elif st:
            ax.plot(x, y, ls=_LINESTYLES[st], lw=1.4, color=_colour(s, i), label=_label(s), zorder=4)
        else:
            ax.scatter(x, y, color=_colour(s, i), s=14, alpha=0.7, edgecolors="none", label=_label(s), zorder=3)
        drawn |= _any_finite(x) and _any_finite(y)
    circles = []
    if panel.get("unit_circle"):
        circles.append(((1.0, 0.0), 1.0))
    if panel.get("circle"):
        circles.append((tuple(panel["circle"]["center"]), panel["circle"]["radius"]))
    theta = np.linspace(0, 2 * np.pi, 361)
    for k, ((cx, cy), r) in enumerate(circles):
        # |z − c| written out: |z − 1|, |z + 1|, |z − 1 − 0.5i|
        centre = f"{'−' if cx >= 0 else '+'} {abs(cx):g}" + (f" {'−' if cy >= 0 else '+'} {abs(cy):g}i" if cy else "")
        # A line, not a patch: its legend entry then shows the dash pattern rather than a box.
        # Above the points: with hundreds of eigenvalues a circle drawn beneath them disappears.
        ax.plot(cx + r * np.cos(theta), cy + r * np.sin(theta), ls="--" if k == 0 else ":", lw=1.3, color="black",
                label=f"|z {centre}| = {r:g}", zorder=4)
    if panel.get("mark_one", True):
        ax.plot([1], [0], marker="+", ms=12, mew=1.8, color="black", ls="none", label="1 + 0i", zorder=5)
    ax.set_aspect("equal", adjustable="datalim")
    return drawn


def _bar(ax: Axes, panel: dict) -> bool:
    """Grouped bars: one slot per category (in order of first appearance), one bar per series within it."""
    series = panel.get("series") or []
    cats: list[str] = []
    for s in series:
        cats += [str(x) for x in s["x"] if str(x) not in cats]
    width = 0.8 / max(len(series), 1)
    drawn = False
    for i, s in enumerate(series):
        pos = np.array([cats.index(str(x)) for x in s["x"]], dtype=float) - 0.4 + width * (i + 0.5)
        y = arr(s["y"])
        err = arr(s["yerr"]) if s.get("yerr") is not None else None
        ax.bar(pos, y, width=width * 0.92, yerr=err, capsize=3, color=_colour(s, i), label=_label(s),
               error_kw={"lw": 1, "ecolor": "0.2"})
        drawn |= _any_finite(y)
    ax.set_xticks(range(len(cats)), cats)  # set flat; figures.py turns them once the layout shows they collide
    ax.grid(False, axis="x")
    return drawn


def _hist(ax: Axes, panel: dict) -> bool:
    """Overlaid histograms on common bin edges, so series are compared bin for bin."""
    series = panel.get("series") or []
    values = [v[np.isfinite(v)] for v in (arr(s["values"]) for s in series)]
    allv = np.concatenate(values) if values else np.array([])
    if not allv.size:
        return False
    bins = max((s["bins"] for s in series if s.get("bins")), default=None)
    if panel.get("xscale") == "log":  # equal-width bins look lopsided on a log axis; use equal ratios
        allv = allv[allv > 0]
        if not allv.size:
            return False
        lo, hi = allv.min(), allv.max()
        edges = np.geomspace(lo, hi if hi > lo else lo * 10, (bins or 30) + 1)
    else:
        edges = np.histogram_bin_edges(allv, bins=bins or "auto")
        if len(edges) > 61:  # 'auto' can pick hundreds of bins on big samples; 60 keeps bars visible
            edges = np.linspace(edges[0], edges[-1], 61)
    for i, (s, v) in enumerate(zip(series, values)):
        colour = _colour(s, i)
        ax.hist(v, bins=edges, histtype="stepfilled", alpha=0.35, color=colour)
        ax.hist(v, bins=edges, histtype="step", lw=1.4, color=colour, label=_label(s))
    return True


DRAW: dict[str, Callable[[Axes, dict], bool]] = {"line": _line, "scatter": _scatter, "complex": _complex,
                                                  "bar": _bar, "hist": _hist}
