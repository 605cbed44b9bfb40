"""Figures whose legends never hide data, whose tick labels never collide, and whose rate axes read in %, as the
report's tables print rates (skiplab.report.figures)."""

import re

import numpy as np
import pytest

from skiplab.report import figures as F
from skiplab.report.figures import draw_figure, percent_axis


def _laid_out(spec: dict):
    """The figure of `spec` drawn once more, so tick label texts are those the PNG shows."""
    fig = draw_figure(spec)
    fig.draw_without_rendering()
    return fig, fig.canvas.get_renderer()


def _shown(labels) -> list:
    return [t for t in labels if t.get_visible() and t.get_text()]


def _collisions(axis, renderer) -> int:
    """Pairs of drawn tick labels (in view, not empty) closer than the gap the report keeps between labels."""
    lo, hi = sorted(axis.get_view_interval())
    boxes = [t.get_window_extent(renderer).padded(F.LABEL_GAP_PX)
             for locs, labels in ((axis.get_majorticklocs(), axis.get_majorticklabels()),
                                  (axis.get_minorticklocs(), axis.get_minorticklabels()))
             for loc, t in zip(locs, labels) if lo <= loc <= hi and t.get_visible() and t.get_text()]
    return sum(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def _curves(n: int) -> list[dict]:
    """n labelled curves that fill the whole plot, corner to corner: a legend inside would cover some."""
    x = np.linspace(0, 1, 50)
    return [{"label": f"propagator number {k}", "x": x.tolist(), "y": (x * (k + 1) / n).tolist()} for k in range(n)]


@pytest.mark.parametrize("kind", ["line", "complex"])
def test_the_legend_sits_below_the_plot_never_on_it(kind):
    fig, r = _laid_out({"id": "t", "panels": [{"kind": kind, "title": "p", "series": _curves(6)}]})
    plot, strip = fig.axes
    legend = strip.get_legend()
    assert plot.get_legend() is None and legend is not None
    assert [t.get_text() for t in legend.get_texts()][:6] == [f"propagator number {k}" for k in range(6)]
    box, area = legend.get_window_extent(r), plot.get_window_extent(r)
    assert box.y1 < area.y0 and not box.overlaps(area)  # wholly under the axes
    assert box.y0 >= 0 and box.x0 >= 0 and box.x1 <= fig.bbox.width  # and inside the figure


def test_a_figure_grows_by_its_legend():
    """6 entries of 20 characters: 2 columns (LEGEND_CHARS // (20 + 6)), 3 rows, each LEGEND_ROW_IN high."""
    fig = draw_figure({"id": "t", "panels": [{"kind": "line", "series": _curves(6)}]})
    assert fig.get_figheight() == pytest.approx(F.PANEL_H + 3 * F.LEGEND_ROW_IN + F.LEGEND_PAD_IN)
    bare = draw_figure({"id": "t", "panels": [{"kind": "line", "series": [{"x": [0, 1], "y": [0, 1]}]}]})
    assert bare.get_figheight() == pytest.approx(F.PANEL_H)  # no labels, no legend, no strip


# A log axis over less than a decade (the tddft convergence figure): Matplotlib labels the minor ticks 2, 3 and
# 4 x 10^-2 too, and 3 and 4 x 10^-2 run into each other.
NARROW_LOG = {"id": "t", "panels": [{"kind": "line", "xscale": "log", "yscale": "log", "xlabel": "dt",
                                     "series": [{"label": "rk4", "x": [0.0078, 0.0125, 0.025, 0.05],
                                                 "y": [3e-10, 1e-9, 1e-8, 4e-8]}]}]}


def test_colliding_tick_labels_are_thinned(monkeypatch):
    fig, r = _laid_out(NARROW_LOG)
    axis = fig.axes[0].xaxis
    assert _collisions(axis, r) == 0 and _collisions(fig.axes[0].yaxis, r) == 0
    assert len(_shown(axis.get_majorticklabels() + axis.get_minorticklabels())) >= 2
    # the negative control: without thinning, the same figure's labels collide
    monkeypatch.setattr(F, "_thin_tick_labels", lambda axis: None)
    fig, r = _laid_out(NARROW_LOG)
    assert _collisions(fig.axes[0].xaxis, r) >= 1


def test_long_category_names_are_turned_not_dropped():
    names = ["h=1", "h=1/sqrt(L)", "h=1/L", "rezero", "fixup", "plain", "batchnorm"]
    spec = {"id": "t", "panels": [{"kind": "bar", "series": [{"label": "loss", "x": names, "y": [1.0] * 7}]}]}
    fig, r = _laid_out(spec)
    labels = fig.axes[0].get_xticklabels()
    assert [t.get_text() for t in _shown(labels)] == names  # every bar keeps its name
    assert {t.get_rotation() for t in labels} == {30.0}
    short = {"id": "t", "panels": [{"kind": "bar", "series": [{"x": ["a", "b"], "y": [1.0, 2.0]}]}]}
    fig, _ = _laid_out(short)
    assert {t.get_rotation() for t in fig.axes[0].get_xticklabels()} == {0.0}  # room enough: left flat


def _panel(ylabel: str, ys: list, **extra) -> dict:
    return {"kind": "line", "ylabel": ylabel, "series": [{"x": list(range(len(ys))), "y": ys}], **extra}


def test_which_axes_read_in_percent():
    assert percent_axis(_panel("train error", [0.5, 0.02, None]))
    assert percent_axis(_panel("test accuracy", [0.6, 0.9]))
    assert percent_axis(_panel("held-out error", [0.01, 0.3], hlines=[{"y": 0.01}]))
    # a ratio, not a rate; values past [0, 1]; a label that names no rate; a kind without a y value axis
    assert not percent_axis(_panel("relative dipole error", [1e-9, 4e-4]))
    assert not percent_axis(_panel("accuracy - dense", [-0.006, 0.04]))
    assert not percent_axis(_panel("error", [0.5, 1.2]))
    assert not percent_axis(_panel("held-out loss", [0.05, 0.9]))
    assert not percent_axis({"kind": "hist", "ylabel": "error", "series": [{"values": [0.1]}]})
    # a declaration decides where it is given
    assert percent_axis(_panel("share", [0.2, 0.5], yformat="percent"))
    assert not percent_axis(_panel("train error", [0.2, 0.5], yformat="float"))


@pytest.mark.parametrize("scale, ys", [("linear", [0.52, 0.71, 0.93]), ("log", [0.0004, 0.02, 0.9]),
                                       ("symlog", [0.0, 0.3, 0.71])])
def test_a_rate_axis_is_labelled_in_percent_with_two_decimals(scale, ys):
    fig, _ = _laid_out({"id": "t", "panels": [_panel("train error", ys, yscale=scale)]})
    texts = [t.get_text() for t in _shown(fig.axes[0].get_yticklabels())]
    assert len(texts) >= 3 and all(re.fullmatch(r"[−-]?\d+\.\d\d%", t) for t in texts), texts
    if scale == "log":
        assert {"0.10%", "1.00%", "10.00%"} <= set(texts)
    minor = _shown(fig.axes[0].yaxis.get_minorticklabels())
    assert all(t.get_text().endswith("%") for t in minor)  # never a fraction beside a percentage
