"""The one process pool: training runs (engine.py) and a claim's parallel measurement work (`Context.map`) both go
through `parallel`, which runs jobs side by side in spawned single-thread processes and says progress as they finish.

Why processes of one thread each: on a small CPU, small nets use two threads poorly, and two single-thread jobs side
by side finish ~1.5x sooner than one after the other with two threads each."""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

import torch

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """Two single-thread processes on a CPU with >= 2 cores; one process on a GPU (one run fills it)."""
    return 1 if torch.cuda.is_available() else max(1, min(2, os.cpu_count() or 1))


def with_progress(items: Iterable[T], n: int, what: str, say: Callable[[str], None]) -> Iterator[T]:
    """`items`, saying "[i/n] what: elapsed, ETA" as each arrives."""
    t0 = time.perf_counter()
    for i, x in enumerate(items, 1):
        elapsed = time.perf_counter() - t0
        say(f"[{i}/{n}] {what}: {elapsed:.0f}s, ETA {elapsed / i * (n - i):.0f}s")
        yield x


def spawn_map(fn: Callable[[Any], Any], jobs: Sequence[Any], workers: int, ordered: bool = True) -> Iterator[Any]:
    """fn(job) for every job in `workers` spawned processes, yielded as they finish (in job order if `ordered`).

    spawn, not fork: forking a process whose OpenMP threads are running can deadlock the child. A plain Pool, not
    an executor: on Ctrl-C or an error it terminates its workers instead of finishing the queue (interrupted
    training runs resume from their last checkpoint next time)."""
    import multiprocessing as mp

    pool = mp.get_context("spawn").Pool(workers)
    try:
        yield from (pool.imap if ordered else pool.imap_unordered)(fn, jobs)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()


@contextmanager
def threads(n: int | None) -> Iterator[None]:
    """Run the block with `n` torch threads (None: as set), restoring the caller's setting after."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _call(args: tuple[Callable[[Any], Any], Any, int | None]) -> Any:
    fn, job, n = args
    with threads(n):
        return fn(job)


def parallel(fn: Callable[[T], R], jobs: Sequence[T], workers: int, what: str = "jobs",
             say: Callable[[str], None] = lambda s: None, ordered: bool = True,
             one_thread: bool = True) -> Iterator[R]:
    """fn(job) for every job, in `workers` spawned processes (in this process when workers <= 1 or there is one
    job), yielded as they finish, saying progress. `fn` must be a module-level function and the jobs picklable.

    `one_thread`: each job runs with one torch thread (in this process too), so results do not depend on how many
    workers ran them (a reduction split over threads rounds differently). Off for GPU work, where it does not
    matter and host threads feed the device."""
    n = 1 if one_thread else None
    if workers <= 1 or len(jobs) <= 1:
        done: Iterable[R] = (_call((fn, j, n)) for j in jobs)
    else:
        done = spawn_map(_call, [(fn, j, n) for j in jobs], workers, ordered=ordered)
    yield from with_progress(done, len(jobs), what, say)
