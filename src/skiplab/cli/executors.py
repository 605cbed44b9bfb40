"""The executor options `reproduce` and `sweep` share: --executor local|ray, --address, --cpus-per-run,
--gpus-per-run, --retries; checked before anything trains."""

from __future__ import annotations

from typing import Any, Optional

from ..errors import ConfigError

EXECUTOR_HELP = ("where runs train: local (processes on this machine) or ray (one Ray task per run, on the cluster "
                 "at --address, or on a Ray started on this machine without it; pip install 'skiplab\\[ray]')")
ADDRESS_HELP = ("with --executor ray: the cluster to use, e.g. auto (the one `ray start` began on this node), "
                "HOST:6379 or ray://HOST:10001; the run folder and the data must be on a path every node shares")
CPUS_HELP = "with --executor ray: CPUs each run (or population) holds; its torch threads"
GPUS_HELP = ("with --executor ray: GPUs each run holds; a fraction shares one GPU between small runs (default: 1 "
             "where the cluster has GPUs, seeds of one configuration then training together, else 0)")
RETRIES_HELP = ("with --executor ray: times a run is started again when its worker dies (it resumes from its last "
                "checkpoint); a run that fails by raising is never retried")


class Runner:
    """A context holding the chosen executor: None for local (the engine's default pool), else a RayExecutor,
    started on first use and stopped on exit."""

    def __init__(self, executor: Any = None) -> None:
        self.executor = executor

    def start(self) -> Any:
        return self.executor.start() if self.executor is not None else None

    def __enter__(self) -> "Runner":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.executor is not None:
            self.executor.close()


def make_executor(name: str, address: Optional[str], cpus_per_run: float, gpus_per_run: Optional[float],
                  retries: int, workers: Optional[int]) -> Runner:
    """The executor the options ask for, checked (Ray importable, numbers in range) but not started."""
    if name not in ("local", "ray"):
        raise ConfigError(f"--executor {name!r}: expected local or ray")
    if name == "local":
        given = [flag for flag, value, default in (("--address", address, None), ("--cpus-per-run", cpus_per_run, 1.0),
                                                   ("--gpus-per-run", gpus_per_run, None), ("--retries", retries, 3))
                 if value != default]
        if given:
            raise ConfigError(f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} to --executor ray only")
        return Runner()
    from ..claims.core.ray_executor import RayExecutor, import_ray
    import_ray()
    return Runner(RayExecutor(address=address, cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run,
                              retries=retries, local_cpus=workers if address is None else None))
