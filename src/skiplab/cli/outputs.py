"""`check_output`: the check every command that writes files makes before it starts working, so a folder that
cannot be written is one line (exit 2) at once, not an OSError after minutes of computing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from ..errors import ConfigError


def _nearest_existing(path: Path) -> Path:
    """`path` or its closest ancestor that exists (the folder a missing output would be created in)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_output(path: Path, flag: str, *, folder: bool, files: Sequence[str] = (), folders: Sequence[str] = (),
                 write: bool = True) -> None:
    """Refuse in one line (ConfigError), before any work, an output that could not be written: a folder (`folder`)
    or a file at `path`. Nothing is created here. A missing path is fine where its nearest existing ancestor is a
    folder this user can write in: it is created when written, as every skiplab output is (a --json under a
    missing folder included). Refused: a file where a folder must be, a folder where a file must be, a file among
    the ancestors, a folder without write permission or on a read-only file system (`write`; off for a command
    that only reads), and inside a folder, one of `files` that is a folder or one of `folders` that is a file.
    Checking first is the point: without it the failure comes after minutes of computing, as an OSError."""
    path = Path(path)
    try:
        if not folder and path.is_dir():
            raise ConfigError(f"{flag} {path}: is a folder; give a file name, e.g. {path / 'out.json'}")
        if folder and path.exists() and not path.is_dir():
            raise ConfigError(f"{flag} {path}: is a file, not a folder")
        home = _nearest_existing(path if folder else path.parent)
        if not home.is_dir():
            raise ConfigError(f"{flag} {path}: {home} is a file, not a folder")
        if write and not os.access(home, os.W_OK | os.X_OK):
            raise ConfigError(f"{flag} {path}: cannot write in {home} (no permission, or a read-only file system)")
        if folder and home == path:
            for name in files:
                if (path / name).is_dir():
                    raise ConfigError(f"{flag} {path}: {path / name} is a folder where a file is to be written")
            for name in folders:
                inner = path / name
                if inner.exists() and not inner.is_dir():
                    raise ConfigError(f"{flag} {path}: {inner} is a file where a folder is to be written")
                if write and inner.is_dir() and not os.access(inner, os.W_OK | os.X_OK):
                    raise ConfigError(f"{flag} {path}: cannot write in {inner} (no permission, or a read-only "
                                      "file system)")
    except OSError as e:  # a folder on the way that cannot even be looked into
        raise ConfigError(f"{flag} {path}: cannot be checked ({e.strerror or e})") from None
