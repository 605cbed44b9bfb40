"""What every command shares: the error policy and output helpers."""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable, TypeVar

import typer
from rich.console import Console

from ..errors import EXIT_INPUT, EXIT_INTERRUPTED, SkiplabError, one_line
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

