"""`skiplab list models|datasets|options`."""

from __future__ import annotations

import dataclasses
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from ..data import list_datasets
from ..models import describe_models, model_config
from ..train.config import TrainConfig
from ..train.experiment import DataConfig
from .common import out_console, user_errors

list_app = typer.Typer(help="List what skiplab has: models, datasets, config options.", no_args_is_help=True)


def _table(title: str, rows: dict[str, str], left: str = "name", right: str = "description") -> None:
    table = Table(title=title, title_justify="left")
    table.add_column(left, style="bold")
    table.add_column(right)
    for k, v in rows.items():
        table.add_row(escape(k), escape(v))  # text, not markup: "[empirical; ...]" would vanish as a tag
    out_console.print(table)


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
    rows = {"seed": "seed of the model's init and the data order (default 0)", "model.name": "model name"}
    if model:
        rows.update(_options("model", model_config(model)))
    rows.update(_options("data", DataConfig()))
    rows.update(_options("train", TrainConfig()))
    _table("config keys (for --set KEY=VALUE and config files)", rows, "key", "meaning")
