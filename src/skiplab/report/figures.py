"""Draw the declarative figure specs of results.json as PNG bytes (matplotlib, Agg canvas, no pyplot).

A figure is a row of panels (wrapped after three), each 4.5 x 3.5 in at 110 dpi: big enough to read, small enough
that three sit side by side in a page. Drawing uses Matplotlib's default style plus a few settings of ours, never the
user's matplotlibrc, and the PNGs carry no software/date metadata, so the same results.json gives the same bytes.

Conventions beyond the schema's letter, chosen so the common "seeds thin, mean thick" plot needs no extra fields:
a series with no label is drawn thin and pale and stays out of the legend; `group` picks the colour (series of one
group share it), otherwise the series' position does.
"""

from __future__ import annotations

import io
import math
import textwrap
import warnings
from typing import Any, Callable

import numpy as np
from matplotlib import style
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

PANEL_W, PANEL_H = 4.5, 3.5  # inches per panel
DPI = 110
MAX_COLS = 3  # more panels than this wrap to a new row rather than shrink below readability
_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
            "#17becf"]  # tab10 with red second: the common plain-vs-residual pair gets blue vs red
_LINESTYLES = {"solid": "-", "dashed": "--", "dotted": ":"}
_RC = {"font.size": 9.5, "axes.titlesize": 10, "axes.labelsize": 9.5, "legend.fontsize": 8,
       "axes.spines.top": False, "axes.spines.right": False, "figure.facecolor": "white",
       "savefig.facecolor": "white"}


def render_figures(results: dict) -> dict[str, bytes]:
    """figure id -> PNG bytes for every figure of every claim, in file order."""
    return {fig["id"]: render_figure(fig) for claim in results["claims"] for fig in claim.get("figures") or []}


def render_figure(spec: dict) -> bytes:
    """One figure spec -> PNG bytes."""
    panels = spec["panels"]
    ncols = min(len(panels), MAX_COLS)
    nrows = math.ceil(len(panels) / ncols)
    share = _share_y(panels)
    # Matplotlib warns on e.g. a log axis with no positive values; the panel still draws, and a report run
    # should not spray warnings about data it only displays.
    with style.context(["default", _RC]), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        # A long title on a narrow figure would run off both edges: wrap it (~9 bold characters per inch).
        title = textwrap.wrap(spec.get("title") or "", width=int(PANEL_W * ncols * 9))
        fig = Figure(figsize=(PANEL_W * ncols, PANEL_H * nrows + 0.3 * len(title)), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(nrows, ncols, squeeze=False, sharey=share).ravel()
        for k, (ax, panel) in enumerate(zip(axes, panels)):
            _draw_panel(ax, panel, show_ylabel=not share or k % ncols == 0)
        for ax in axes[len(panels):]:
            ax.set_visible(False)
        if title:
            fig.suptitle("\n".join(title), fontsize=11.5, fontweight="bold")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _share_y(panels: list[dict]) -> bool:
    """Share the y axis only where panels compare like with like: same kind, same y label, same y scale."""
    first = panels[0]
    return len(panels) > 1 and first["kind"] in ("line", "scatter", "bar") and all(
        p["kind"] == first["kind"] and p.get("ylabel") == first.get("ylabel")
        and p.get("yscale", "linear") == first.get("yscale", "linear") for p in panels)


def _draw_panel(ax: Axes, panel: dict, show_ylabel: bool) -> None:
    kind = panel["kind"]
    # Scales first: autoscaling run before a scale change (axhline triggers one) keeps linear-space margins,
    # which on a log/symlog axis clip the largest points.
    if kind != "bar":
        ax.set_xscale(panel.get("xscale") or "linear")
    ax.set_yscale(panel.get("yscale") or "linear")
    drawn = _DRAW[kind](ax, panel)
    for h in panel.get("hlines") or []:
        ax.axhline(h["y"], color="0.3", lw=1, ls=(0, (4, 3)), label=h.get("label") or "_nolegend_", zorder=1)
    if not drawn:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color="0.5")
    default_x, default_y = {"complex": ("real part", "imaginary part"), "hist": (None, "count")}.get(kind,
                                                                                                    (None, None))
    ax.set_title(panel.get("title") or "")
    ax.set_xlabel(panel.get("xlabel") or default_x or "")
    if show_ylabel:
        ax.set_ylabel(panel.get("ylabel") or default_y or "")
    ax.grid(True, alpha=0.3, lw=0.5)
    ax.set_axisbelow(True)
    handles, labels = ax.get_legend_handles_labels()
    if kind == "complex" and handles:
        # Outside, to the right: in an equal-aspect plane any free corner is usually where the eigenvalues are.
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0, fontsize="small", frameon=False)
    elif handles:
        many = len(handles) > 6
        ax.legend(fontsize="x-small" if many else "small", ncols=2 if many else 1, framealpha=0.85)


# --- one function per panel kind; each returns whether it drew any data --------------------------------------------

def _arr(values: list | None) -> np.ndarray:
    """JSON numbers with nulls (NaN/inf on the writer's side) -> float array with NaN, which matplotlib leaves out."""
    return np.array([np.nan if v is None else v for v in values or []], dtype=float)


def _colour(series: dict, i: int) -> str:
    g = series.get("group")
    return _COLOURS[(g if g is not None else i) % len(_COLOURS)]


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
        x, y, colour, look = _arr(s["x"]), _arr(s["y"]), _colour(s, i), _emphasis(s)
        st = s.get("style") or "solid"
        if st == "points":
            ax.plot(x, y, ls="none", marker="o", ms=3.5, color=colour, alpha=look["alpha"], label=_label(s))
        else:
            ax.plot(x, y, ls=_LINESTYLES[st], marker="o" if len(x) == 1 else None, color=colour, label=_label(s),
                    **look)
        if s.get("yerr") is not None:
            err = _arr(s["yerr"])
            ax.fill_between(x, y - err, y + err, color=colour, alpha=0.18 * look["alpha"], lw=0)
        drawn |= _any_finite(y)
    return drawn


def _scatter(ax: Axes, panel: dict) -> bool:
    series = panel.get("series") or []
    cs = [_arr(s["c"]) for s in series if s.get("c") is not None]
    finite_c = np.concatenate(cs)[np.isfinite(np.concatenate(cs))] if cs else np.array([])
    # One colour scale for every series of the panel, so equal colours mean equal values.
    vmin, vmax = (finite_c.min(), finite_c.max()) if finite_c.size else (None, None)
    mappable, drawn = None, False
    for i, s in enumerate(series):
        x, y = _arr(s["x"]), _arr(s["y"])
        if s.get("c") is not None:
            mappable = ax.scatter(x, y, c=_arr(s["c"]), cmap="viridis", vmin=vmin, vmax=vmax, s=16,
                                  edgecolors="none", label=_label(s))
        else:
            ax.scatter(x, y, color=_colour(s, i), s=16, alpha=_emphasis(s)["alpha"] * 0.85, edgecolors="none",
                       label=_label(s))
        if s.get("yerr") is not None:
            ax.errorbar(x, y, yerr=_arr(s["yerr"]), fmt="none", ecolor=_colour(s, i), alpha=0.5, lw=0.8)
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
        x, y, st = _arr(s["x"]), _arr(s["y"]), s.get("style")
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
        y = _arr(s["y"])
        err = _arr(s["yerr"]) if s.get("yerr") is not None else None
        ax.bar(pos, y, width=width * 0.92, yerr=err, capsize=3, color=_colour(s, i), label=_label(s),
               error_kw={"lw": 1, "ecolor": "0.2"})
        drawn |= _any_finite(y)
    ax.set_xticks(range(len(cats)), cats)
    if sum(len(c) for c in cats) > 40:  # long category names overlap when set flat
        ax.tick_params(axis="x", labelrotation=30)
        for t in ax.get_xticklabels():
            t.set_horizontalalignment("right")
    ax.grid(False, axis="x")
    return drawn


def _hist(ax: Axes, panel: dict) -> bool:
    """Overlaid histograms on common bin edges, so series are compared bin for bin."""
    series = panel.get("series") or []
    values = [v[np.isfinite(v)] for v in (_arr(s["values"]) for s in series)]
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


_DRAW: dict[str, Callable[[Axes, dict], bool]] = {"line": _line, "scatter": _scatter, "complex": _complex,
                                                  "bar": _bar, "hist": _hist}
