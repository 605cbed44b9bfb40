"""`RayExecutor`: the engine's runs as Ray tasks, on a cluster (`address`) or a Ray started on this machine.

Ray is the scheduler (an optional extra, `pip install 'skiplab[ray]'`); skiplab only says what a run needs:
- each pending unit (a job, or a population of seed-twins when runs get a GPU) is one task asking for
  `cpus_per_run` CPUs and `gpus_per_run` GPUs (a fraction shares a GPU between small runs);
- a task trains in the run folder its job names under `out`, which every node must see at the same path (a shared
  file system), as it must the data: runs keep their config-hash folders, so a finished run is reused, by this
  driver or a second one on the same folder, and never trained twice;
- a worker that dies (kill -9, a lost node, the out-of-memory killer) is a system failure: Ray runs the task again
  (`retries` times), and the job resumes from its last checkpoint, ending as an uninterrupted run would;
- a run that fails for its own reasons (an exception: a bad config, a bug) is an application error: Ray does not
  retry it (retry_exceptions=False), the driver says it and goes on. A diverged run is not a failure: it finishes
  with status "diverged", as it would locally.
Measuring and the report stay on the driver, which reads the runs' folders."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any, Iterator, Sequence

from skiplab.errors import ConfigError

from .executor import Finished, Waiting, train_unit
from .pool import threads

INSTALL = "pip install 'skiplab[ray]'"


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--executor ray needs Ray, an optional extra: {INSTALL}") from None
    return ray


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _check_reachable(address: str) -> None:
    """A HOST:PORT (or ray://HOST:PORT) address must answer a TCP connect within seconds: Ray itself waits a minute
    or more on an address where nothing listens. Named addresses ("auto", "local") are Ray's to resolve."""
    import socket
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as e:
        raise ConfigError(f"--address {address}: nothing answers there ({e.strerror or e}); start a cluster with "
                          f"`ray start --head` on one node and pass the address it prints") from None


def _remote_train(args: tuple[Any, Path, bool], n_threads: int | None, board: Any, key: str) -> Any:
    """The task body, in a Ray worker: say this unit started (and in which process), then train it."""
    import ray
    ray.get(board.started.remote(key, os.getpid()))  # recorded before training starts, so the counts are current
    with threads(n_threads):
        return train_unit(args)


def _board_class() -> type:
    """A Ray actor the tasks tell when they start: the driver's count of units training (a queued task has not
    started), and the worker process of each (what a test kills). A class made here travels to Ray by value, so
    its actor process does not import skiplab and torch (seconds of CPU at every start, on a small machine)."""

    class Board:
        def __init__(self) -> None:
            self.pids: dict[str, int] = {}

        def started(self, key: str, pid: int) -> None:
            self.pids[key] = pid

        def started_pids(self) -> dict[str, int]:
            return dict(self.pids)
    return Board


class RayExecutor:
    """Train each unit as a Ray task (see the module docstring). `address`: a cluster's ("auto", "HOST:6379",
    "ray://HOST:10001"); None starts a Ray on this machine with `local_cpus` CPUs (all of them when None), stopped
    again by `close()`. A Ray already started in this process (ray.init) is used as it is."""

    name = "ray"

    def __init__(self, address: str | None = None, cpus_per_run: float = 1.0, gpus_per_run: float | None = None,
                 retries: int = 3, local_cpus: int | None = None, heartbeat_s: float = 60.0) -> None:
        if not (isinstance(cpus_per_run, (int, float)) and math.isfinite(cpus_per_run) and cpus_per_run > 0):
            raise ConfigError(f"--cpus-per-run must be a number > 0, got {cpus_per_run!r}")
        if gpus_per_run is not None and not (isinstance(gpus_per_run, (int, float)) and math.isfinite(gpus_per_run)
                                             and gpus_per_run >= 0):
            raise ConfigError(f"--gpus-per-run must be a number >= 0, got {gpus_per_run!r}")
        if gpus_per_run is not None and gpus_per_run > 1 and gpus_per_run != int(gpus_per_run):
            raise ConfigError(f"--gpus-per-run above 1 must be a whole number (Ray's rule), got {gpus_per_run}")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ConfigError(f"--retries must be a whole number >= 0, got {retries!r}")
        if local_cpus is not None and (isinstance(local_cpus, bool) or not isinstance(local_cpus, int)
                                       or local_cpus < 1):
            raise ConfigError(f"the local Ray's CPUs (--workers) must be a whole number >= 1, got {local_cpus!r}")
        self.address, self.cpus, self.gpus = address, float(cpus_per_run), gpus_per_run
        self.retries, self.local_cpus, self.heartbeat_s = retries, local_cpus, heartbeat_s
        self._ray: Any = None
        self._own = False
        self._board: Any = None

    # -- lifecycle --------------------------------------------------------------------------------------------
    def start(self) -> "RayExecutor":
        """Connect (or start a local Ray), and check that a run's resources fit on some node: bad input fails here,
        before anything trains."""
        if self._ray is not None:
            return self
        ray = import_ray()
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": True}
            if self.address is None:  # "local": a new Ray of our own, never a stray cluster found by accident
                kwargs.update(address="local", num_cpus=self.local_cpus, include_dashboard=False)
            else:
                _check_reachable(self.address)
                kwargs.update(address=self.address)
            try:
                ray.init(**kwargs)
            except (ConnectionError, RuntimeError, ValueError, ray.exceptions.RayError) as e:
                where = f"--address {self.address}" if self.address else "a local Ray"
                hint = ("; start a cluster with `ray start --head` on one node; a cluster with token authentication "
                        "(`ray start`'s default on Ray >= 2.59) needs RAY_AUTH_MODE=token and its token "
                        "(`ray get-auth-token`) on this machine too") if self.address else ""
                raise ConfigError(f"{where}: Ray did not start ({_one_line(e)}){hint}") from None
            self._own = True
        self._ray = ray
        nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
        most_cpus = max((r.get("CPU", 0.0) for r in nodes), default=0.0)
        most_gpus = max((r.get("GPU", 0.0) for r in nodes), default=0.0)
        if self.gpus is None:  # a whole GPU per run where the cluster has GPUs; CPU runs elsewhere
            self.gpus = 1.0 if most_gpus >= 1 else 0.0
        if self.cpus > most_cpus:
            self.close()
            raise ConfigError(f"--cpus-per-run {self.cpus:g}: no node of the cluster has that many CPUs "
                              f"(the largest has {most_cpus:g})")
        if self.gpus > most_gpus:
            self.close()
            raise ConfigError(f"--gpus-per-run {self.gpus:g}: no node of the cluster has that many GPUs "
                              f"(the largest has {most_gpus:g})")
        self._board = ray.remote(_board_class()).options(num_cpus=0).remote()
        return self

    def close(self) -> None:
        if self._own and self._ray is not None:
            self._ray.shutdown()
        self._ray, self._own, self._board = None, False, None

    def __enter__(self) -> "RayExecutor":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- the Executor protocol --------------------------------------------------------------------------------
    @property
    def populations(self) -> bool:
        """Seed-twins train together where a run has a GPU (as on a local GPU); on CPUs each keeps its own task,
        where separate processes use the cores better (population_job.py)."""
        self.start()
        return bool(self.gpus)

    def describe(self) -> str:
        self.start()
        res = self._ray.cluster_resources()
        where = f"the Ray cluster at {self.address}" if self.address else "a Ray started on this machine"
        return (f"{where}: {len(self._ray.nodes())} node(s), {res.get('CPU', 0):g} CPUs, "
                f"{res.get('GPU', 0):g} GPUs; each run takes {self.cpus:g} CPU(s), {self.gpus:g} GPU(s), "
                f"{self.retries} retries if its worker dies")

    def started_pids(self) -> dict[str, int]:
        """{unit key: worker pid} of the units that have started (the latest attempt of each)."""
        self.start()
        return self._ray.get(self._board.started_pids.remote())

    def run(self, units: Sequence[Any], out: Path, verbose: bool) -> Iterator[Finished | Waiting]:
        self.start()
        ray = self._ray
        task = ray.remote(_remote_train).options(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=self.retries,
                                                 retry_exceptions=False, name="skiplab-run")
        # torch threads = the CPUs a run holds (one, by default, as a local worker process has): results then do
        # not depend on which executor trained them. On a GPU, host threads feed the device: torch's default.
        n_threads = None if self.gpus else max(1, int(self.cpus))
        pending = {task.remote((u, Path(out).resolve(), verbose), n_threads, self._board, u.key): u for u in units}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=self.heartbeat_s)
                if ready:  # every unit done by now, so the counts below are of those still to come
                    ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0)
                finished = [(ref, pending.pop(ref)) for ref in ready]
                started = set(self.started_pids()) & {u.key for u in pending.values()}
                running, queued = len(started), len(pending) - len(started)
                if not finished:
                    yield Waiting(running, queued)
                for ref, unit in finished:
                    try:
                        outcomes = ray.get(ref)
                    except ray.exceptions.RayTaskError as e:  # the run's own exception: recorded, not retried
                        yield Finished(unit, error=_one_line(getattr(e, "cause", None) or e), running=running,
                                       queued=queued)
                    except ray.exceptions.RayError as e:  # its worker or node died more often than `retries`
                        yield Finished(unit, error=f"its worker died and {self.retries} retries did not finish it "
                                                   f"({type(e).__name__}: {_one_line(e)[:200]})",
                                       running=running, queued=queued)
                    else:
                        yield Finished(unit, outcomes, running=running, queued=queued)
        finally:  # Ctrl-C or an error on the driver: nothing left running on the cluster (runs resume next time)
            for ref in pending:
                ray.cancel(ref, force=True)
