"""Complex panels: a series with a style is drawn as a curve or small points (stability boundaries), and
"mark_one": false leaves out the cross at 1 + 0i."""

import io

import numpy as np
from PIL import Image

from skiplab.report.figures import render_figure


def _count(png: bytes, hexcolour: str) -> int:
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3).astype(int)
    want = np.array([int(hexcolour[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(rgb - want).sum(axis=1) <= 6).sum())


def spec(mark_one=None, style="solid"):
    t = np.linspace(0, 2 * np.pi, 200)
    panel = {"title": "region", "kind": "complex",
             "series": [{"label": "boundary", "group": 1, "style": style,
                         "x": (-1 + np.cos(t)).tolist(), "y": np.sin(t).tolist()},
                        {"label": "points", "group": 2, "style": "points", "x": [-1.0, -0.5], "y": [0.0, 0.3]},
                        {"label": "eigenvalues", "group": 0, "x": [-0.5, -1.2], "y": [0.2, -0.4]}]}
    if mark_one is not None:
        panel["mark_one"] = mark_one
    return {"id": "t", "title": "t", "panels": [panel]}


def test_styled_series_draw_as_curves_and_points():
    red, green, blue = "#d62728", "#2ca02c", "#62a0ca"  # blue: the scatter's #1f77b4 at alpha 0.7 on white
    for style in ("solid", "dashed", "dotted"):
        png = render_figure(spec(style=style))
        assert _count(png, red) > 80, style  # a curve round the circle (a scatter of 200 dots would be blobs)
    png = render_figure(spec())
    assert _count(png, green) >= 3 and _count(png, blue) >= 20


def test_mark_one_false_leaves_out_the_cross():
    black = "#000000"
    with_cross, without = render_figure(spec()), render_figure(spec(mark_one=False))
    assert _count(with_cross, black) >= _count(without, black) + 20  # the cross and its legend entry
    assert render_figure(spec(mark_one=True)) == with_cross  # the default is to draw it
