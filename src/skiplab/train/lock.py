"""One writer per run folder: `run_lock(folder)` holds an exclusive `fcntl.flock` on `<folder>/.lock` while a run
trains there. The kernel drops an flock when its process dies (even by SIGKILL), so a dead writer's lock is free
at once and never needs to be broken by hand; the lock file itself stays and is simply locked again. The holder
writes its pid and start time into the file, for the message a second writer gets. Taking a folder's lock also
removes the temporaries that killed writes left there (safe then: no one else writes to it)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from pathlib import Path
from typing import Iterable, Iterator

from .._atomic import is_temporary, remove_temporaries
from ..errors import CheckpointError
from . import distributed as D

LOCK = ".lock"

# Locks this process holds: lock file -> [fd, depth]. run_training locks a folder and then calls fit(), which locks
# it again; a second flock on a new descriptor of the same file would refuse its own process, so nested holds share
# the first descriptor and the last release closes it.
_held: dict[Path, list[int]] = {}


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text())
        return f"process {int(info['pid'])} (since {info['since']})"
    except (OSError, ValueError, KeyError, TypeError):  # the holder has not written its line yet
        return "another process"


def _acquire(folder: Path) -> None:
    path = (folder / LOCK).resolve()
    if path in _held:
        _held[path][1] += 1
        return
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise CheckpointError(f"{folder} is being trained by {_holder(path)}; wait for it or stop it") from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps({"pid": os.getpid(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}).encode() + b"\n")
    _held[path] = [fd, 1]
    remove_temporaries(folder)


def _release(folder: Path) -> None:
    path = (folder / LOCK).resolve()
    entry = _held[path]
    entry[1] -= 1
    if entry[1] == 0:
        del _held[path]
        os.close(entry[0])  # closing the last descriptor releases the flock


@contextlib.contextmanager
def run_lock(folder: str | Path | None) -> Iterator[None]:
    """Hold `folder`'s lock for the block (nothing for None). A folder another live process holds is one
    CheckpointError naming that process. Under torchrun only rank 0, the one writer, locks, and every rank must
    enter together: the others learn whether rank 0 got the lock and, if not, fail too rather than wait for it."""
    if folder is None:
        yield
        return
    folder = Path(folder)
    if not D.is_main():
        if not D.all_ok(True):
            raise CheckpointError(f"{folder}: rank 0 could not take the run folder's lock (see its message)")
        yield
        return
    try:
        _acquire(folder)
    except BaseException:
        D.all_ok(False)
        raise
    D.all_ok(True)
    try:
        yield
    finally:
        _release(folder)


@contextlib.contextmanager
def run_locks(folders: Iterable[str | Path | None]) -> Iterator[None]:
    """Hold the locks of all `folders` (a population's); if one is taken, those already held are released."""
    with contextlib.ExitStack() as stack:
        for f in folders:
            stack.enter_context(run_lock(f))
        yield


def clear_run_folder(folder: Path) -> None:
    """Empty `folder` for a restart, keeping its lock file: removing that would let a second writer lock a new
    file of the same name while this one still holds the old one."""
    for p in folder.iterdir():
        if p.name == LOCK:
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()


def only_lock_left(folder: Path) -> bool:
    """Whether `folder` holds nothing but a lock file and killed writes' temporaries (a run stopped before it wrote
    anything): --force may clear it although it holds no run."""
    return folder.is_dir() and all(p.name == LOCK or is_temporary(p) for p in folder.iterdir())


def first_missing(folder: Path) -> Path | None:
    """The topmost folder on the way to `folder` that does not exist yet (what creating `folder` would create), or
    None when `folder` exists."""
    top = None
    while not folder.exists() and folder != folder.parent:
        top, folder = folder, folder.parent
    return top


def remove_new_folder(folder: Path, top: Path) -> None:
    """Undo the creation of `folder` (and its parents up to `top`) by a run that failed before it wrote anything
    worth resuming: the lock file goes, then each folder on the way up while it is empty. Empty-only removal
    (os.rmdir) keeps whatever another run put beside it meanwhile."""
    (folder / LOCK).unlink(missing_ok=True)
    while True:
        try:
            folder.rmdir()
        except OSError:  # not empty, or already gone
            return
        if folder == top:
            return
        folder = folder.parent
