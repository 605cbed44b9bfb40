"""The measurements behind robustness (claims/robustness.py): training with snapshots of the weights along the way
(so checkpoints can be matched on clean accuracy), attacks and Lipschitz bounds of a chosen checkpoint. Jobs are
plain dicts run in spawned single-thread workers (two small nets side by side use 2 cores better than one net
with two threads); the claim module holds the thresholds and the matching rule."""

from __future__ import annotations

import time
from typing import Any, Callable

import torch
from safetensors.torch import load, save

from ..train import Callback, TrainState
from .runs import spawn_map, with_progress

Job = dict[str, Any]


class Snapshots(Callback):
    """Every `every` steps (and at the start and the end): clean accuracy on the held-out batch (x, y) in eval mode
    and a CPU copy of the weights. Evaluation draws no random numbers and leaves batch-norm statistics alone, so
    training is the same as without it."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, every: int) -> None:
        self.x, self.y, self.every = x, y, every
        self.steps: list[int] = []
        self.acc: list[float] = []
        self.weights: list[dict[str, torch.Tensor]] = []

    def take(self, state: TrainState) -> None:
        if self.steps and self.steps[-1] == state.step:
            return
        model = state.model
        was = model.training
        model.eval()
        with torch.no_grad():
            right = sum(int((model(self.x[s:s + 500].to(state.device)).argmax(1).cpu() == self.y[s:s + 500]).sum())
                        for s in range(0, len(self.y), 500))
        model.train(was)
        self.steps.append(state.step)
        self.acc.append(right / len(self.y))
        self.weights.append({k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()})

    def on_fit_start(self, state: TrainState) -> None:
        self.take(state)

    def on_step_end(self, state: TrainState) -> None:
        if self.every and state.step % self.every == 0:
            self.take(state)

    def on_fit_end(self, state: TrainState, history: Any) -> None:
        if history.status != "diverged":
            self.take(state)


def pixel_range(data: Any) -> tuple[float, float]:
    """The valid input range attacks must stay in: [0, 1] for images stored as uint8 (or scaled there, digits),
    else the training split's own min and max (e.g. MNIST-1D signals)."""
    from ..data import to_float
    if data.train_x.dtype == torch.uint8:
        return 0.0, 1.0
    x = to_float(data.train_x)
    lo, hi = float(x.min()), float(x.max())
    return (0.0, 1.0) if lo >= 0.0 and hi <= 1.0 else (lo, hi)


def _setup(job: Job):
    from ..data import load_dataset
    from ..models import create_model
    from .runs import heldout_batch
    if job.get("threads"):
        torch.set_num_threads(job["threads"])
    data = load_dataset(job["data"], root=job["data_root"])
    torch.manual_seed(job["seed"])
    net = create_model(job["model"], **job["args"], **data.model_kwargs())
    x, y = heldout_batch(data, min(job["eval_examples"], len(data.test_y)))
    return data, net, x, y


def train_job(job: Job) -> dict[str, Any]:
    """Train one (model, seed) taking snapshots every job["every"] steps (0: start and end only)."""
    from ..train import fit
    data, net, x, y = _setup(job)
    snaps = Snapshots(x, y, job["every"])
    t0 = time.process_time()
    hist = fit(net, data, job["train"], seed=job["seed"], callbacks=[snaps], verbose=False)
    # Weights travel back as safetensors bytes: many tensors through a Pool would each take a file descriptor
    return {"key": job["key"], "status": hist.status, "steps": snaps.steps, "acc": snaps.acc,
            "weights": [save(w) for w in snaps.weights], "params": net.num_parameters(),
            "epochs": len(hist.epochs),
            "steps_per_epoch": hist.epochs[0]["step"] if hist.epochs else 0,
            "cpu_seconds": time.process_time() - t0}


def attack_job(job: Job) -> dict[str, Any]:
    """Robust accuracy curves (L-inf and L2, worst of FGSM and two PGDs per example) of the weights job["state"]
    (safetensors bytes)
    on the held-out batch; with job["bounds"] also the Lipschitz bounds (tightened first for a budgeted net), the
    empirical lower bound and the certified L2 accuracy."""
    from ..attacks import robust_curve, standard_attacks
    from ..models.lipschitz import budgeted, tighten
    from ..probes.lipschitz import certified_accuracy, lipschitz_bounds, margin_gradients
    from ..train.loop import resolve_device
    data, net, x, y = _setup(job)
    bounds = pixel_range(data)
    net.load_state_dict(load(job["state"]))
    dev = resolve_device(job["device"])
    net.to(dev).eval()
    x, y = x.to(dev), y.to(dev)
    t0 = time.process_time()
    out: dict[str, Any] = {"key": job["key"]}
    for norm in ("linf", "l2"):
        c = robust_curve(net, x, y, job[f"{norm}_eps"], standard_attacks(norm, job["steps"], job["restarts"]),
                         bounds, seed=job["seed"])
        out[norm] = c
    out["clean"] = out["linf"]["clean"]
    if job.get("bounds"):
        if budgeted(net):
            tighten(net)
        b = lipschitz_bounds(net, x[:1])
        out["bound"] = b["total"]
        out["branch"] = [blk["branch"] for blk in b["blocks"]]
        out["lower"] = margin_gradients(net, x, y)["lower_bound"]
        out["certified"] = certified_accuracy(net, x, y, b["total"], job["l2_eps"])
    out["cpu_seconds"] = time.process_time() - t0
    return out


def run_pool(fn: Callable[[Job], dict[str, Any]], jobs: list[Job], workers: int, what: str = "jobs",
             say: Callable[[str], None] = lambda s: None) -> list[dict[str, Any]]:
    """fn over jobs, in `workers` spawned single-thread processes (in this process when workers <= 1), in order,
    saying progress as each finishes."""
    if workers <= 1 or len(jobs) <= 1:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # tiny nets: a second thread costs more than it saves on a busy 2-core CPU
        try:
            return list(with_progress(map(fn, jobs), len(jobs), what, say))
        finally:
            torch.set_num_threads(threads)
    return list(with_progress(spawn_map(fn, [{**j, "threads": 1} for j in jobs], workers), len(jobs), what, say))
