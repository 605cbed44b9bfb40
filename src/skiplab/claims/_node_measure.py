"""The measurements of neural-ode: training runs that record NFE per epoch, and the bytes autograd saves for the
backward pass. Training runs in worker processes of one thread each (spawned, as runs.execute does: two small
single-thread runs side by side finish sooner than one two-thread run after the other)."""

from __future__ import annotations

import time
from typing import Any, Callable

import torch
from torch import nn

from ..train import Callback, TrainConfig, TrainState
from .runs import spawn_map


class NFERecorder(Callback):
    """Per epoch: mean forward and backward NFE per training solve of every ODE block (Chen et al. Fig. 3)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []

    def on_fit_start(self, state: TrainState) -> None:
        from ..models.odenet import ode_blocks
        self.blocks = ode_blocks(state.model)
        for b in self.blocks:
            b.reset_nfe()

    def on_epoch_end(self, state: TrainState, metrics: dict[str, Any]) -> None:
        if not self.blocks:
            return
        solves = sum(b.solves for b in self.blocks)
        fwd, bwd = sum(b.nfe_forward for b in self.blocks), sum(b.nfe_backward for b in self.blocks)
        # one backward pass per training solve, so both averages are per training step
        self.rows.append({"epoch": metrics["epoch"], "forward": fwd / max(1, solves),
                          "backward": bwd / max(1, solves)})
        for b in self.blocks:
            b.reset_nfe()


def train_job(job: dict[str, Any]) -> dict[str, Any]:
    """Train one (model, dataset, seed) and return its test accuracy, parameters and NFE curve."""
    from ..data import load_dataset
    from ..models import create_model
    from ..train import fit
    if job.get("threads"):
        torch.set_num_threads(job["threads"])
    data = load_dataset(job["data"], root=job["data_root"])
    torch.manual_seed(job["seed"])
    net = create_model(job["model"], **job["args"], **data.model_kwargs())
    rec = NFERecorder()
    t0, c0 = time.perf_counter(), time.process_time()
    hist = fit(net, data, job["train"], seed=job["seed"], callbacks=[rec], verbose=False)
    err = hist.last("test_err")
    return {"key": job["key"], "seed": job["seed"], "status": hist.status, "seconds": time.perf_counter() - t0,
            "cpu_seconds": time.process_time() - c0,  # wall time is unreliable on a shared CPU
            "acc": None if err is None or hist.status == "diverged" else 1.0 - err,
            "params": net.num_parameters(), "nfe": rec.rows}


def run_jobs(jobs: list[dict[str, Any]], workers: int, say: Callable[[str], None] = lambda s: None) -> list[dict]:
    """Every job, in `workers` spawned single-thread processes (in this process when workers <= 1)."""
    if workers <= 1 or len(jobs) <= 1:
        return [train_job(j) for j in jobs]
    return list(spawn_map(train_job, [{**j, "threads": 1} for j in jobs], workers))


def saved_bytes(fn: Callable[[], torch.Tensor]) -> int:
    """Bytes autograd keeps for the backward pass of `fn()`: numel * element_size of every distinct tensor it
    saves (distinct by address, shape and dtype, so a tensor saved by two ops counts once). Exact, not a peak."""
    seen: dict[tuple, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        seen[(t.data_ptr(), tuple(t.shape), t.dtype)] = t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


def memory_curve(model: str, args: dict[str, Any], x: torch.Tensor, y: torch.Tensor,
                 steps: tuple[int, ...]) -> dict[str, list[int]]:
    """Saved bytes of one training forward pass (net + cross-entropy) with RK4 at each number of `steps`, by the
    adjoint and by backprop through the steps. The same weights for every point (seed 0)."""
    from ..models import create_model
    out: dict[str, list[int]] = {"adjoint": [], "backprop": []}
    for key, adjoint in (("adjoint", True), ("backprop", False)):
        for n in steps:
            torch.manual_seed(0)
            net: nn.Module = create_model(model, **{**args, "method": "rk4", "steps": n, "adjoint": adjoint})
            net.train()
            out[key].append(saved_bytes(lambda: nn.functional.cross_entropy(net(x), y)))
    return out
