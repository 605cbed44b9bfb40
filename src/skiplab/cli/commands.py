"""The `skiplab` typer app: every command registered on it. `skiplab.cli.main` runs it under the exit-status
policy (skiplab.cli.__init__)."""

from __future__ import annotations

import typer

from .bench import bench
from .listing import list_app
from .probe import probe_app
from . import probe_robust  # noqa: F401,E402  (registers `probe attack` and `probe lipschitz` on probe_app)
from .prune import prune
from .report import report
from .reproduce import reproduce
from .sweep import sweep
from .tddft import tddft
from .train import train

app = typer.Typer(
    name="skiplab",
    help="A laboratory for residual networks: build, train, dissect, and check the claims of the story.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        import torch

        from .. import __version__
        print(f"skiplab {__version__} (torch {torch.__version__})")
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                          help="print the versions of skiplab and torch, and exit")) -> None:
    # no docstring: the app's help stays the one above; typer needs a callback to hold app-wide options
    pass


app.command("train")(train)
app.command("report")(report)
app.add_typer(list_app, name="list")
app.add_typer(probe_app, name="probe")
app.command("prune")(prune)
app.command("reproduce")(reproduce)
app.command("sweep")(sweep)
app.command("bench")(bench)
app.command("tddft")(tddft)

