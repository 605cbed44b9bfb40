"""The `skiplab` command line: `main` runs the typer app (skiplab.cli.commands) under one exit-status policy.

Whatever goes wrong ends as one line on stderr and an exit status of its kind (skiplab.errors.EXIT_*), never a
traceback: bad input 2, a machine that refuses (unwritable folder, full disk, out of memory) 3, a diverged
`skiplab train` 4, Ctrl-C 130 -- also while the heavy imports load, which is why this module imports nothing of
them at the top. An unexpected exception is a bug: one line with exit 1 (SKIPLAB_TRACEBACK=1 shows the traceback).
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any, Sequence

from ..errors import (EXIT_BUG, EXIT_INPUT, EXIT_INTERRUPTED, EXIT_OK, EXIT_SYSTEM, SkiplabError,
                      one_line)

INTERRUPTED = ("interrupted; what had finished is kept (a run: its last epoch): run the same command again to go on "
               "(skiplab train: add --resume)")


def __getattr__(name: str) -> Any:
    # `from skiplab.cli import app` keeps working without importing torch when only `main` is wanted
    if name == "app":
        from .commands import app
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _say(line: str) -> None:
    print(one_line(line), file=sys.stderr)


def _load_app() -> Any:
    """The typer app. Its imports (torch, numpy, scipy) take seconds, and a KeyboardInterrupt in the middle of
    them can leave a half-imported module that then fails as something else (seen: numpy's lazy `__getattr__`
    recursing until a RecursionError). So a Ctrl-C while they load is held until they finish, then raised."""
    held: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    except ValueError:  # not the main thread, where no handler can be set
        from .commands import app
        return app
    try:
        from .commands import app
    finally:
        signal.signal(signal.SIGINT, previous)
    if held:
        raise KeyboardInterrupt
    return app


def _invoke(argv: Sequence[str] | None) -> int:
    app = _load_app()

    try:
        rv = app(args=list(argv) if argv is not None else None, standalone_mode=False)
    except Exception as e:
        code = _click_failure(e)
        if code is None:
            raise
        return code
    # standalone_mode=False: a command's typer.Exit(code) comes back as the code, a normal return as None
    return rv if isinstance(rv, int) else EXIT_OK


def _click_failure(e: Exception) -> int | None:
    """The exit status for one of click's own exceptions, said in one line; None for any other exception. Typer
    now ships its own copy of click (typer._click), so these are told apart by what they are, not by class."""
    kind = type(e).__name__
    if kind == "NoArgsIsHelpError":  # `skiplab probe` alone: its help, as asked
        print(e.ctx.get_help())  # type: ignore[attr-defined]
        return EXIT_OK
    if kind == "Abort":  # click's stand-in for a Ctrl-C (or EOF at a prompt)
        if isinstance(e.__cause__, EOFError):
            _say("error: input ended")
            return EXIT_INPUT
        raise KeyboardInterrupt from None
    if hasattr(e, "format_message") and hasattr(e, "exit_code"):
        # a usage error (unknown option, bad value, missing argument), not click's framed box
        ctx = getattr(e, "ctx", None)
        hint = f"; see `{ctx.command_path if ctx is not None else 'skiplab'} --help`"
        _say(f"error: {e.format_message().rstrip('.')}{hint}")
        return EXIT_INPUT
    return None


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line with `argv` (default sys.argv[1:]) and return its exit status; never raises (but
    SystemExit)."""
    try:
        return _invoke(argv)
    except KeyboardInterrupt:
        _say(INTERRUPTED)
        return EXIT_INTERRUPTED
    except SkiplabError as e:  # raised outside a command's own handler (an option callback, an import)
        _say(f"error: {e}")
        return EXIT_INPUT
    except BrokenPipeError:
        # the reader is gone: say nothing, and keep Python from complaining when it flushes stdout at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BUG  # what click itself returns for a closed pipe, so `| head` ends alike everywhere
    except Exception as e:
        if os.environ.get("SKIPLAB_TRACEBACK"):  # to see where: anything but bad input and Ctrl-C, as raised
            raise
        return _failure(e)


def _failure(e: Exception) -> int:
    """Say what went wrong in one line and return the status of its kind."""
    if isinstance(e, UnicodeDecodeError):
        _say(f"error: an input file is not UTF-8 text ({e.reason} at byte {e.start}); give the file as UTF-8")
        return EXIT_INPUT
    if isinstance(e, RecursionError):
        _say("error: an input nests too deeply to read (a JSON/YAML file or a pickle hundreds of levels deep); "
             "check the files given")
        return EXIT_INPUT
    if isinstance(e, OSError):
        where = " -> ".join(str(f) for f in (e.filename, e.filename2) if f is not None)
        _say(f"error: {e.strerror or type(e).__name__}: {where}" if where else f"error: {e}")
        return EXIT_SYSTEM
    if isinstance(e, MemoryError):
        _say("error: out of memory; try a smaller batch size, model or dataset")
        return EXIT_SYSTEM
    _say(f"internal error (a bug in skiplab, please report it): {type(e).__name__}: {e}; run again with "
         "SKIPLAB_TRACEBACK=1 to see where")
    return EXIT_BUG


def main() -> None:
    code = run()
    # the command is over: a Ctrl-C now would only turn a finished run's exit into a KeyboardInterrupt at shutdown
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)
