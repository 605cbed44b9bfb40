"""The report layer: results.json in, report.html + report.md + figures/<id>.png out.

It reads saved results only; it imports no claim, trains nothing and needs no torch, so re-rendering a report is
a pure function of results.json (docs/results-schema.md).

    >>> paths = render_report("runs/reproduce")     # {"report.html": Path, "report.md": Path, "figures/x.png": ...}
"""

from __future__ import annotations

from pathlib import Path

from .. import _atomic
from .schema import ReportError, load_results

__all__ = ["render_report", "load_results", "ReportError"]

RESULTS = "results.json"


def render_report(results_dir: str | Path) -> dict[str, Path]:
    """Read `<dir>/results.json` and write `<dir>/report.html`, `<dir>/report.md` and `<dir>/figures/<id>.png`.

    Returns {name relative to the folder: path written}. Everything is checked and drawn in memory before the
    first file is written, and each file is written atomically, so bad input (ReportError) leaves the folder as
    it was.
    """
    from .figures import render_figures  # matplotlib costs ~0.5 s to import; only pay it when drawing
    from .html import render_html
    from .markdown import render_markdown

    results_dir = Path(results_dir)
    results = load_results(results_dir / RESULTS)
    pngs = render_figures(results)
    html, markdown = render_html(results, pngs), render_markdown(results)

    written: dict[str, Path] = {}
    for fid, png in pngs.items():
        name = f"figures/{fid}.png"
        with _atomic.atomic_path(results_dir / name) as tmp:
            tmp.write_bytes(png)
        written[name] = results_dir / name
    # The pages last: a reader who opens report.md never finds a link to a figure not yet written.
    for name, body in (("report.md", markdown), ("report.html", html)):
        _atomic.write_text(results_dir / name, body)
        written[name] = results_dir / name
    return written
