"""The errors a user can cause. The CLI turns each into one line on stderr and exit status 2."""


class SkiplabError(Exception):
    """Base of every error caused by bad input (a file, a field, a value); never a bug in skiplab."""


class ConfigError(SkiplabError, ValueError):
    """An unknown or invalid configuration key or value."""


class DataError(SkiplabError):
    """A missing, empty, truncated or corrupt data source."""


class CheckpointError(SkiplabError):
    """A checkpoint that cannot be resumed here (missing, corrupt, or from another architecture)."""
