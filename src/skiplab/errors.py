"""The errors a user can cause. The CLI turns each into one line on stderr and exit status 2."""


class SkiplabError(Exception):
    """Base of every error caused by bad input (a file, a field, a value); never a bug in skiplab."""


class ConfigError(SkiplabError, ValueError):
    """An unknown or invalid configuration key or value."""


class DataError(SkiplabError):
    """A missing, empty, truncated or corrupt data source."""


class CheckpointError(SkiplabError):
    """A checkpoint that cannot be resumed here (missing, corrupt, or from another architecture)."""


# The command line's exit statuses (skiplab.cli.main), one per kind of failure, so a script can tell them apart.
EXIT_OK = 0
EXIT_BUG = 1  # an unexpected exception, a bug in skiplab (SKIPLAB_TRACEBACK=1 shows where); also a closed pipe
EXIT_INPUT = 2  # bad input: a file, field, value or command line (also a file not UTF-8 or nesting too deeply)
EXIT_SYSTEM = 3  # the machine refused: an unwritable folder, a full disk, out of memory (OSError, MemoryError)
EXIT_DIVERGED = 4  # `skiplab train` ran, but the run diverged (results are kept and marked `diverged`)
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it)


def one_line(text: object) -> str:
    """`text` on one line: a message that spans lines would break the CLI's one-line promise."""
    return " ".join(str(text).split())
