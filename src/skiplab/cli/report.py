"""`skiplab report DIR`: redraw the report from DIR/results.json; trains and recomputes nothing."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import out_console, user_errors
from .outputs import check_output


@user_errors
def report(
    results_dir: Path = typer.Argument(..., help="folder holding results.json (as written by `skiplab reproduce`)",
                                       show_default=False),
) -> None:
    """Re-render report.html, report.md and figures/ from DIR/results.json, without training."""
    from ..report import render_report  # the report layer pulls in matplotlib; other commands need not wait

    # DIR must be readable as a folder before its results.json is: a file or a missing DIR reads as "no results"
    if results_dir.is_dir():
        check_output(results_dir, "report", folder=True, files=("report.html", "report.md"), folders=("figures",))
    for path in render_report(results_dir).values():
        out_console.print(str(path), markup=False)  # a path may hold [brackets]
