"""`skiplab list models|datasets|options`."""

from __future__ import annotations

import dataclasses
import io
from typing import Optional, Sequence

import typer
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from ..data import list_datasets
from ..errors import ConfigError
from ..models import describe_models, model_config
from ..train.config import TrainConfig
from ..train.experiment import DataConfig
from .common import out_console, user_errors

list_app = typer.Typer(help="List what skiplab has: models, datasets, config options.", no_args_is_help=True)


def fits(table: Table) -> bool:
    """Whether the terminal has room for every column's longest word (rich clamps a measurement to the width it
    is given, so the table is measured unbounded)."""
    unbounded = out_console.options.update_width(1 << 20)
    return Measurement.get(out_console, unbounded, table).minimum <= out_console.width


def show_table(table: Table, names: Sequence[str]) -> None:
    """Prints a table whose columns all fold (overflow="fold"), so nothing is cut. The columns headed `names` hold
    names (models, keys, blocks, attacks), what a user types next: they stay whole on one line (no_wrap) while the
    other columns wrap, whenever the terminal is wide enough for them, which a trial rendering at the terminal's
    width decides (rich cuts a no_wrap cell that cannot fit); in a narrower one the names fold too. Not min_width:
    rich re-applies it after shrinking the other columns, and the table would overrun the terminal."""
    keep = [col for col in table.columns if col.header in names]
    for col in keep:
        col.no_wrap = True
    trial = Console(width=out_console.width, file=io.StringIO(), color_system=None, highlight=False)
    trial.print(table)
    shown = trial.file.getvalue()  # type: ignore[attr-defined]
    if not all(str(cell) in shown for col in keep for cell in col.cells):
        for col in keep:
            col.no_wrap = False
    out_console.print(table)


def _table(title: str, rows: dict[str, str], left: str = "name", right: str = "description") -> None:
    # fold, not the default ellipsis: a default or word longer than its column at 80 columns (or in a pipe) goes
    # on to the next line instead of being cut
    table = Table(title=title, title_justify="left")
    table.add_column(left, style="bold", overflow="fold")
    table.add_column(right, overflow="fold")
    for k, v in rows.items():
        table.add_row(escape(k), escape(v))  # text, not markup: "[empirical; ...]" would vanish as a tag
    show_table(table, [left])


@list_app.command("models")
@user_errors
def models() -> None:
    """Registered models (presets); override any config field with --set model.FIELD=VALUE."""
    _table("models", describe_models())


@list_app.command("datasets")
@user_errors
def datasets() -> None:
    """Dataset sources for --data."""
    _table("datasets", list_datasets())


def _options(prefix: str, cfg: object) -> dict[str, str]:
    rows = {}
    for f in dataclasses.fields(cfg):
        if dataclasses.is_dataclass(getattr(cfg, f.name)):
            continue
        rows[f"{prefix}.{f.name}"] = f"{f.metadata.get('help', '')} (default {getattr(cfg, f.name)!r})"
    return rows


@list_app.command("claims")
@user_errors
def claims() -> None:
    """The claims `skiplab reproduce` checks."""
    from ..claims import list_claims
    _table("claims", list_claims(), "id", "claim")


@list_app.command("options")
@user_errors
def options(model: Optional[str] = typer.Option(None, "--model", help="also list this model's config fields")) -> None:
    """Every key --set and config files accept, with its help and default."""
    if model is not None and not model.strip():  # "" would silently list no model's fields, as if none was asked
        raise ConfigError("--model: give a model name (`skiplab list models` shows them)")
    _table("config keys (for --set KEY=VALUE and config files)", option_rows(model), "key", "meaning")


def option_rows(model: Optional[str] = None) -> dict[str, str]:
    """{key: help and default} of `skiplab list options` (with `model`'s config fields when given)."""
    rows = {"seed": "seed of the model's init and the data order (default 0)", "model.name": "model name"}
    if model:
        rows.update(_options("model", model_config(model)))
    rows.update(_options("data", DataConfig()))
    rows.update(_options("train", TrainConfig()))
    return rows
