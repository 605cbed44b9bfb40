"""What every command shares: the error policy and output helpers."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Any, Callable, TypeVar

import typer
from rich.console import Console

from ..errors import EXIT_INPUT, EXIT_INTERRUPTED, ConfigError, SkiplabError, one_line
from . import INTERRUPTED

F = TypeVar("F", bound=Callable[..., Any])
err_console = Console(stderr=True, highlight=False, soft_wrap=True)
out_console = Console(highlight=False, soft_wrap=True)


def user_errors(func: F) -> F:
    """Bad input -> `error: <one line>` on stderr, exit 2; Ctrl-C -> a hint to resume, exit 130."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SkiplabError as e:
            print(one_line(f"error: {e}"), file=sys.stderr)
            raise typer.Exit(EXIT_INPUT) from None
        except KeyboardInterrupt:
            print(INTERRUPTED, file=sys.stderr)
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return wrapper  # type: ignore[return-value]


def writable_folder(path: Path, flag: str) -> None:
    """Refuse, as bad input before any work, an output folder that cannot be made or written: a file in its place
    or on its way, or a read-only parent. (A disk that fills up later is a failure of the run: exit 3, see
    skiplab.cli.)"""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{flag} {path} is a file, not a folder; choose a folder")
    there = path
    while not there.exists() and there != there.parent:
        there = there.parent
    if not there.is_dir():
        raise ConfigError(f"{flag} {path}: {there} is a file, so no folder can be made under it")
    if not os.access(there, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {path}: {there} is not writable by this user; choose another folder")
