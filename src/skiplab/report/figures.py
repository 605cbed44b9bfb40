"""Draw the declarative figure specs of results.json as PNG bytes (matplotlib, Agg canvas, no pyplot).

A figure is a row of panels (wrapped after three), each 4.5 x 3.5 in at 110 dpi: big enough to read, small enough
that three sit side by side in a page. Drawing uses Matplotlib's default style plus a few settings of ours, never the
user's matplotlibrc, and the PNGs carry no software/date metadata, so the same results.json gives the same bytes.

Each panel kind is drawn by panel_kinds.py (a series with no label is drawn thin and pale, out of the legend).

Legends never cover data: each panel's legend sits in a strip of its own below the panel, and the figure grows by
that strip. Tick labels never collide: after layout, a label that would overlap its neighbour is left out (major
ticks keep theirs first). A rate's axis reads in % (see `percent_axis`), as the report's tables print rates.
"""

from __future__ import annotations

import io
import math
import re
import textwrap
import warnings
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np
from matplotlib import style
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import AutoLocator, Formatter, NullFormatter, NullLocator, PercentFormatter

from .panel_kinds import DRAW, arr

PANEL_W, PANEL_H = 4.5, 3.5  # inches per panel
DPI = 110
MAX_COLS = 3  # more panels than this wrap to a new row rather than shrink below readability
_RC = {"font.size": 9.5, "axes.titlesize": 10, "axes.labelsize": 9.5, "legend.fontsize": 8,
       "axes.spines.top": False, "axes.spines.right": False, "figure.facecolor": "white",
       "savefig.facecolor": "white"}
LEGEND_ROW_IN = 0.19  # one line of 8 pt legend text with its spacing, in inches
LEGEND_PAD_IN = 0.18
_LEGEND_CHARS = 64  # characters of 8 pt text that fit across one panel, entry handles included
_RATE = re.compile(r"\b(error|accuracy)\b", re.IGNORECASE)


def render_figures(results: dict) -> dict[str, bytes]:
    """figure id -> PNG bytes for every figure of every claim, in file order."""
    return {fig["id"]: render_figure(fig) for claim in results["claims"] for fig in claim.get("figures") or []}


def render_figure(spec: dict) -> bytes:
    """One figure spec -> PNG bytes."""
    with _drawing():
        fig = draw_figure(spec)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


@contextmanager
def _drawing() -> Iterator[None]:
    """Matplotlib's default style plus ours (never the user's matplotlibrc), warnings silenced: Matplotlib warns on
    e.g. a log axis with no positive values; the panel still draws, and a report run should not spray warnings
    about data it only displays."""
    with style.context(["default", _RC]), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


def draw_figure(spec: dict) -> Figure:
    """One figure spec -> a laid-out Matplotlib Figure (legends placed, colliding tick labels left out)."""
    panels = spec["panels"]
    ncols = min(len(panels), MAX_COLS)
    nrows = math.ceil(len(panels) / ncols)
    share = _share_y(panels)
    with _drawing():
        # A long title on a narrow figure would run off both edges: wrap it (~9 bold characters per inch).
        title = textwrap.wrap(spec.get("title") or "", width=int(PANEL_W * ncols * 9))
        title_h = 0.3 * len(title)
        fig = Figure(figsize=(PANEL_W * ncols, PANEL_H * nrows + title_h), dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        # Each row of panels has a row for their legends under it (height set once the legends are known).
        grid = fig.add_gridspec(2 * nrows, ncols, height_ratios=[PANEL_H, 1e-3] * nrows)
        axes: list[Axes] = []
        legend_h = [0.0] * nrows
        for k, panel in enumerate(panels):
            r, col = divmod(k, ncols)
            ax = fig.add_subplot(grid[2 * r, col], sharey=axes[0] if share and axes else None)
            axes.append(ax)
            inner = share and col > 0  # a shared y axis is labelled once per row, at its left
            _draw_panel(ax, panel, show_ylabel=not inner)
            if inner:
                ax.tick_params(axis="y", labelleft=False)
            legend_h[r] = max(legend_h[r], _legend_below(ax, fig.add_subplot(grid[2 * r + 1, col])))
        grid.set_height_ratios([h for r in range(nrows) for h in (PANEL_H, max(legend_h[r], 1e-3))])
        fig.set_size_inches(PANEL_W * ncols, PANEL_H * nrows + sum(legend_h) + title_h)
        if title:
            fig.suptitle("\n".join(title), fontsize=11.5, fontweight="bold")
        fig.draw_without_rendering()  # the layout, so tick labels stand where they will be drawn
        if any([_turn_categories(ax) for ax, panel in zip(axes, panels) if panel["kind"] == "bar"]):
            fig.draw_without_rendering()  # turned labels are taller: lay out again before thinning the rest
        for ax in axes:
            _thin_tick_labels(ax.xaxis)
            _thin_tick_labels(ax.yaxis)
    return fig


def _share_y(panels: list[dict]) -> bool:
    """Share the y axis only where panels compare like with like: same kind, same y label, same y scale."""
    first = panels[0]
    return len(panels) > 1 and first["kind"] in ("line", "scatter", "bar") and all(
        p["kind"] == first["kind"] and p.get("ylabel") == first.get("ylabel")
        and p.get("yscale", "linear") == first.get("yscale", "linear")
        and percent_axis(p) == percent_axis(first) for p in panels)


def percent_axis(panel: dict) -> bool:
    """Whether the panel's y axis reads in % (a fraction 0.25 labelled 25.00%), as the tables print rates.

    The rule, which needs nothing new from a claim: a panel's `"yformat"` ("percent" or "float") decides where it is
    given; otherwise a line, scatter or bar panel whose y label names an error or an accuracy (the word "error" or
    "accuracy", but not a "relative" error, which is a ratio) and whose every y value and reference line lies in
    [0, 1] is a rate. Error bands are not asked to: mean +- std of a rate near 0 or 1 reaches past it."""
    if panel.get("yformat"):
        return panel["yformat"] == "percent"
    label = panel.get("ylabel") or ""
    if panel["kind"] not in ("line", "scatter", "bar") or not _RATE.search(label) or "relative" in label.lower():
        return False
    ys = [arr(s.get("y")) for s in panel.get("series") or []] + [arr([h.get("y") for h in panel.get("hlines") or []])]
    values = np.concatenate(ys)
    values = values[np.isfinite(values)]
    return bool(values.size) and values.min() >= 0 and values.max() <= 1


def _draw_panel(ax: Axes, panel: dict, show_ylabel: bool) -> None:
    kind = panel["kind"]
    # Scales first: autoscaling run before a scale change (axhline triggers one) keeps linear-space margins,
    # which on a log/symlog axis clip the largest points.
    if kind != "bar":
        ax.set_xscale(panel.get("xscale") or "linear")
    ax.set_yscale(panel.get("yscale") or "linear")
    drawn = DRAW[kind](ax, panel)
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
    if percent_axis(panel):
        _percent_ticks(ax, panel.get("yscale") or "linear")


def _percent_ticks(ax: Axes, scale: str) -> None:
    """Label a rate's y axis in % with 2 decimals, as the tables print rates."""
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=2))
    lo, hi = ax.get_ylim()
    if scale == "symlog" and max(abs(lo), abs(hi)) <= getattr(ax.yaxis.get_transform(), "linthresh", 0):
        # A rate lies inside symlog's linear part (|y| <= 2 by default), where the symlog locator finds nothing
        # between 0 and the axis' ends: place ticks as on a linear axis, which it is there.
        ax.yaxis.set_major_locator(AutoLocator())
        ax.yaxis.set_minor_locator(NullLocator())
    # A log axis over a decade or more labels its decades; its minor ticks (2, 3, ... x 10^k) would be labelled
    # as fractions by the default formatter, so they go unlabelled; under a decade they are labelled in %.
    narrow_log = scale == "log" and lo > 0 and hi / lo < 10
    ax.yaxis.set_minor_formatter(PercentFormatter(xmax=1, decimals=2) if narrow_log else NullFormatter())


def _legend_below(ax: Axes, strip: Axes) -> float:
    """Put `ax`'s legend into `strip`, the empty axes under it, in as many columns as its labels allow; returns the
    strip's height in inches (0 without a legend)."""
    strip.axis("off")
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return 0.0
    widest = max(len(lb) for lb in labels) + 6  # the handle and the gap to the next column
    ncols = max(1, min(4, len(labels), _LEGEND_CHARS // widest))
    rows = math.ceil(len(labels) / ncols)
    strip.legend(handles, labels, loc="upper center", ncols=ncols, frameon=False, borderaxespad=0,
                 columnspacing=1.2, handlelength=1.8)
    return rows * LEGEND_ROW_IN + LEGEND_PAD_IN


class _Only(Formatter):
    """The wrapped formatter's labels at the kept tick locations and none elsewhere (a tick label left out)."""

    def __init__(self, inner: Formatter, keep: list[float]) -> None:
        self.inner, self.keep = inner, keep

    def set_locs(self, locs: Any) -> None:
        super().set_locs(locs)
        self.inner.set_locs(locs)

    def get_offset(self) -> str:
        return self.inner.get_offset()

    def __call__(self, x: float, pos: int | None = None) -> str:
        kept = any(x == k or math.isclose(x, k, rel_tol=1e-9) for k in self.keep)
        return self.inner(x, pos) if kept else ""


LABEL_GAP_PX = 3  # on each side: two labels closer than about a space's width read as one


def _boxes(labels: list[Any], renderer: Any) -> list[Any]:
    return [t.get_window_extent(renderer).padded(LABEL_GAP_PX) for t in labels if t.get_visible() and t.get_text()]


def _turn_categories(ax: Axes) -> bool:
    """Turn a bar panel's category names where they collide set flat: by 30 degrees if the gap between ticks
    leaves room for a line of text across the slant (ticks d px apart, turned by a, are d sin(a) apart across it),
    else upright. Names are never left out: a bar without its name means nothing. Returns whether it turned them."""
    renderer = ax.figure.canvas.get_renderer()
    boxes = _boxes(ax.get_xticklabels(), renderer)
    if not any(a.overlaps(b) for a, b in zip(boxes, boxes[1:])):
        return False
    ticks = ax.transData.transform([(x, 0) for x in ax.get_xticks()])[:, 0]
    gap = float(np.min(np.diff(ticks))) if len(ticks) > 1 else math.inf
    height = max(b.height for b in boxes)
    angle = 30 if gap * math.sin(math.radians(30)) >= 1.1 * height else 90
    ax.tick_params(axis="x", labelrotation=angle)
    for t in ax.get_xticklabels():
        t.set_horizontalalignment("right" if angle == 30 else "center")
        t.set_rotation_mode("anchor" if angle == 30 else "default")
    return True


def _thin_tick_labels(axis: Axis) -> None:
    """Leave out each tick label that would come within 2 x LABEL_GAP_PX of one already kept: major labels are kept
    first, in order, then minor ones where room is left. Run after layout, when labels stand where they are drawn.
    Turned labels (a bar panel's categories, see _turn_categories) are left as they are."""
    renderer = axis.figure.canvas.get_renderer()
    if any(t.get_rotation() % 180 for t in axis.get_majorticklabels()):
        return
    lo, hi = sorted(axis.get_view_interval())
    found: list[tuple[bool, float, Any]] = []
    for major, ticks in ((True, axis.get_major_ticks()), (False, axis.get_minor_ticks())):
        locs = axis.get_majorticklocs() if major else axis.get_minorticklocs()
        for tick, loc in zip(ticks, locs):
            label = tick.label1
            if lo <= loc <= hi and label.get_visible() and label.get_text():
                found.append((major, loc, label.get_window_extent(renderer).padded(LABEL_GAP_PX)))
    kept: list[Any] = []
    keep = {True: [], False: []}
    for major, loc, box in sorted(found, key=lambda f: (not f[0], f[1])):
        if not any(box.overlaps(k) for k in kept):
            kept.append(box)
            keep[major].append(loc)
    if len(kept) == len(found):
        return
    axis.set_major_formatter(_Only(axis.get_major_formatter(), keep[True]))
    axis.set_minor_formatter(_Only(axis.get_minor_formatter(), keep[False]))
