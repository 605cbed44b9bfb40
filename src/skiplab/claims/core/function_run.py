"""`FunctionRun`: a short training run that is one call of a seeded function, `fn(config) -> result` (JSON-able):
the small regressions and MLPs some claims train (a few hundred steps of a custom loop, seconds each).

It lives in a run folder like any other run, runs/<kind>/<name>-<hash>/seed-<n>/ with config.json and result.json,
the hash covering the function's qualified name, its version and its config; a finished one is reused. It has no
checkpoint between its start and its end: an interrupted one is trained again from the start, which on the CPU
gives the bit-identical result (every such function seeds everything it draws)."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from skiplab import config as C
from skiplab._atomic import write_json
from skiplab.train.runs import RESULT, read_result, run_dir

from .pool import threads
from .runspec import Outcome

UNHASHED = ("data_root",)  # config fields left out of the hash: paths do not change what is trained


@dataclass(frozen=True)
class FunctionRun:
    fn: Callable[[Any], dict[str, Any]]  # module-level (worker processes import it), seeded by its config
    config: Any  # a frozen dataclass: the function's one argument; a str field `data` (and `data_root`) names the
    # dataset it trains on, which reproduce loads before anything trains
    name: str  # readable folder name, e.g. "exploding-mlp-h=1-100"
    seed: int
    version: int = 1  # bump when the function changes what it computes
    kind: str = "claims"
    cost: float = 1.0  # relative cost, for scheduling the heaviest first

    def _identity(self) -> dict[str, Any]:
        cfg = {k: v for k, v in C.to_dict(self.config).items() if k not in UNHASHED}
        return {"function": f"{self.fn.__module__}.{self.fn.__qualname__}", "version": self.version, "config": cfg}

    @property
    def key(self) -> str:
        return C.stable_hash({**self._identity(), "kind": self.kind, "seed": self.seed}, n=16)

    @property
    def label(self) -> str:
        return f"{self.name} seed {self.seed}"

    @property
    def after(self) -> tuple[Any, ...]:
        return ()

    def folder(self, out: Path) -> Path:
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", self.name).strip("_")  # names come from variants like "h=1/sqrt(L)"
        return run_dir(out, self.kind, safe, self._identity(), self.seed)

    def resolved(self, folder: Path) -> dict[str, Any]:
        """The resolved config the report shows."""
        return json.loads((folder / "config.json").read_text())["resolved"]

    def train(self, out: Path, verbose: bool = False) -> Outcome:
        directory = self.folder(Path(out))
        done = read_result(directory)
        if done is not None:
            return Outcome(directory, done, reused=True, resumed=False, seconds=0.0)
        restarted = (directory / "config.json").exists()
        write_json(directory / "config.json", {"run": C.to_dict(self.config), "resolved": self._identity()})
        t0 = time.perf_counter()
        with threads(1):  # tiny nets: a second thread costs more than it saves, and the result does not depend on it
            value = self.fn(self.config)
        result = {"status": "finished", "seed": self.seed, "value": value, "seconds": time.perf_counter() - t0}
        write_json(directory / RESULT, result)
        return Outcome(directory, result, reused=False, resumed=restarted, seconds=result["seconds"])
