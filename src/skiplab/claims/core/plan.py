"""`plan()`: what `skiplab reproduce --plan` shows before anything trains: the runs each claim needs (the jobs its
`runs(ctx)` declares, resolved as reproduce resolves them; a job shared by claims counted once in the total), which
are finished under <out>/runs (found as the engine finds them, without training or writing anything), and how long
the rest would take:

- here: for each distinct (model, input shape, batch, precision, device) among the runs to train, a few training
  steps are timed on random inputs of the data's shape, on the run's device (3 warm-up steps, then up to 5 timed,
  each phase cut short after a couple of seconds): img/s. A run then takes its steps x batch / img/s, plus each
  evaluation's examples / (3 x img/s). One process; the wall time with N workers is that divided by N.
- a GPU: an estimate, not a measurement, from the H200 benchmark recorded in `H200_SOURCE`: the FLOP/s ResNet-20/56
  reached there, scaled by each net's FLOPs per example (skiplab.flops), with a floor per step, since small nets are
  launch-bound on a GPU (on 8x8 data a step costs the floor whatever the net).

Training steps and evaluations only: recorders (probes, snapshots), the measurements claims make after training
(attacks, probes) and start-up are not counted. Jobs that are not one fit() run are counted as their runs: an IMP
chain as its dense run and rounds, a comparison as its baselines (`run`, `run_count`, `finished(out)` and
`runs_left(out)` where a job class has them); a FunctionRun (a custom loop) from the seconds recorded by finished runs
of the same function, else "unknown"."""

from __future__ import annotations

import math
import re
import statistics
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from skiplab import config as C
from skiplab.data import list_datasets
from skiplab.errors import CheckpointError, DataError
from skiplab.train.checkpoint import STATE, read_state
from skiplab.train.config import TrainConfig
from skiplab.train.experiment import DataConfig, RunConfig
from skiplab.train.loop import place_model, resolve_device
from skiplab.train.runs import read_result
from skiplab.train.step import TrainStep

from .contract import ClaimModule, Context
from .datasets import dataset
from .engine import FunctionRun, Job, RunSpec
from .pool import threads

# The recorded H200 throughput skiplab's GPU estimates scale from (one small table, so it is easy to replace with a
# newer run): per bench setting, (model, FLOPs per example forward + backward, img/s, batch).
H200_SOURCE = ("benchmarks/results/h200-2026-11-27/summary.txt and followup-summary.txt "
               "(throughput-resnet20.json, followup-throughput-resnet56.log)")
H200 = {
    "compiled-bf16": (("resnet20", 242_421_504, 199_843.0, 2048), ("resnet56", 752_029_440, 72_332.0, 2048)),
    "eager-fp32": (("resnet20", 242_421_504, 34_036.0, 512), ("resnet56", 752_029_440, 12_360.0, 512)),
}
# The floor per step: skiplab's own fit() loop, ResNet-20 at batch 512 on CIFAR-10 (50,000 images: 97 steps an
# epoch), 20 epochs in 19.2 s of training with torch.compile's default mode (host-bound: 9.9 ms a step where the
# bench's compiled step takes 2.6 ms) and in 7.26 s with CUDA graphs (compile mode reduce-overhead). A run without
# CUDA graphs is given the first, an eager one too (it launches more kernels, not fewer).
H200_STEP_FLOOR_S = {"default": 19.2 / (20 * 97), "reduce-overhead": 7.26 / (20 * 97)}
EVAL_SPEEDUP = 3.0  # an evaluated example costs a third of a trained one (forward only)
WARM_STEPS, TIMED_STEPS, PHASE_S = 3, 5, 2.0  # a phase stops early once it has taken PHASE_S seconds

# The official releases' sizes of the file-based datasets, for when their files are not on this machine: enough to
# time a step and count steps. A run folder's name hashes the data itself, so whether such runs are finished is
# unknown.
STAND_IN = {"cifar10": ((3, 32, 32), 10, 50_000, 10_000), "cifar100": ((3, 32, 32), 100, 50_000, 10_000),
            "mnist": ((1, 28, 28), 10, 60_000, 10_000), "fashion-mnist": ((1, 28, 28), 10, 60_000, 10_000)}


@dataclass(frozen=True)
class DataShape:
    """What a plan needs of a dataset: an example's shape, classes, split sizes, the model's data-derived fields;
    `here` is False for a stand-in (the files are not on this machine)."""

    name: str
    shape: tuple[int, ...]
    classes: int
    train: int
    test: int
    derived: dict[str, Any]
    here: bool = True


@dataclass(frozen=True)
class Workload:
    """What (the rest of) one fit() run does: `steps` steps of `batch` examples and `evals` evaluations of
    `eval_examples` examples each."""

    steps: int
    batch: int
    evals: int
    eval_examples: int

    def seconds(self, img_s: float) -> float:
        return self.steps * self.batch / img_s + self.evals * self.eval_examples / (EVAL_SPEEDUP * img_s)


def workload(train: TrainConfig, n_train: int, n_test: int, done_epochs: int = 0) -> Workload:
    """The steps and evaluations fit() makes with `train` on splits of n_train / n_test examples, after the first
    `done_epochs` epochs (a resumed run): full batches only (drop_last), capped at max_steps; an evaluation every
    eval_every epochs and after the last one, of the test split and with eval_train the train split too, each
    capped at max_eval_examples."""
    per_epoch = n_train // train.batch_size
    epochs, steps = train.epochs, per_epoch * train.epochs
    if train.max_steps is not None and train.max_steps < steps:
        steps = train.max_steps
        epochs = -(-steps // per_epoch)  # the last one stops early, and is evaluated
    done_epochs = min(done_epochs, epochs)
    evals = sum(1 for e in range(done_epochs + 1, epochs + 1) if e % train.eval_every == 0 or e == epochs)
    cap = train.max_eval_examples
    examples = min(n_test, cap or n_test) + (min(n_train, cap or n_train) if train.eval_train else 0)
    return Workload(max(0, steps - done_epochs * per_epoch), train.batch_size, evals, examples)


def gpu_img_s(flops_per_example: float, train: TrainConfig) -> float:
    """Estimated training img/s of a net with `flops_per_example` (forward + backward) on the recorded H200: the
    FLOP/s of the recorded net nearest in FLOPs (compiled bf16 when the run compiles, eager fp32 otherwise),
    bounded by the floor per step."""
    setting = "compiled-bf16" if train.compile else "eager-fp32"
    _, ref_flops, ref_img_s, _ = min(H200[setting], key=lambda r: abs(math.log(r[1] / flops_per_example)))
    floor = H200_STEP_FLOOR_S["reduce-overhead" if train.compile and train.compile_mode == "reduce-overhead"
                              else "default"]
    return min(ref_flops * ref_img_s / flops_per_example, train.batch_size / floor)


def data_shape(cfg: DataConfig) -> tuple[DataShape | None, str]:
    """The dataset's shape and sizes (loaded through the process's dataset cache), and "" ; for a known dataset
    whose files are not here, the official release's (STAND_IN) or None, and why it is not here. An unknown
    dataset name raises DataError, as reproduce would."""
    try:
        d = dataset(cfg)
    except DataError as e:
        if not (cfg.name in list_datasets() or cfg.name.startswith("imagefolder")):
            raise
        if cfg.name not in STAND_IN:
            return None, str(e)
        shape, classes, n_train, n_test = STAND_IN[cfg.name]
        derived = {"in_channels": shape[0], "num_classes": classes, "input_size": tuple(shape[1:]),
                   "input_mean": (0.5,) * shape[0], "input_std": (0.25,) * shape[0]}
        return DataShape(cfg.name, shape, classes, n_train, n_test, derived, here=False), str(e)
    info = DataShape(cfg.name, tuple(d.info.shape), d.num_classes, len(d.train_y), len(d.test_y), d.model_kwargs())
    return info, ""


def build_net(run: RunConfig, data: DataShape) -> torch.nn.Module:
    from skiplab.models import build_preset
    torch.manual_seed(run.seed)
    return build_preset(run.model.name, run.model.resolve(data.derived, data.name))


def time_steps(run: RunConfig, data: DataShape, device: torch.device) -> float:
    """Training img/s of `run`'s model on `device`: WARM_STEPS steps, then TIMED_STEPS timed ones, on one fixed
    batch of random inputs of the data's shape (each phase cut short after PHASE_S seconds; at least one step
    each): the median timed step. Eager (a compiling run is timed without compiling: its compile time is not
    counted either)."""
    cfg = replace(run.train, compile=False)
    channels_last = cfg.channels_last and len(data.shape) == 3
    model = place_model(build_net(run, data), cfg, device, channels_last)
    stepper = TrainStep(model, cfg, device, total_steps=10**6, steps_per_epoch=1000)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(cfg.batch_size, *data.shape, generator=g)
    x = (x.contiguous(memory_format=torch.channels_last) if channels_last else x).to(device)
    y = torch.randint(0, data.classes, (cfg.batch_size,), generator=g).to(device)

    def phase(n: int, first: int) -> list[float]:
        times: list[float] = []
        t0 = time.perf_counter()
        while len(times) < n and (not times or time.perf_counter() - t0 < PHASE_S):
            t = time.perf_counter()
            stepper(x, y, first + len(times))
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - t)
        return times
    warm = phase(WARM_STEPS, 0)
    timed = phase(TIMED_STEPS, len(warm))
    return cfg.batch_size / statistics.median(timed)  # the median step: robust to a busy moment of a shared CPU


def count_flops(run: RunConfig, data: DataShape) -> float:
    from skiplab.flop_count import flops
    return float(flops(build_net(run, data), data.shape)["forward_backward"])


@dataclass
class JobPlan:
    """One distinct job: which claims need it, how many training runs it holds and how many are left (None:
    unknown), and the estimated seconds of what is left, here (one process) and on the GPU (None: unknown)."""

    key: str
    label: str
    group: str
    claims: list[str]
    runs: int
    left: int | None
    here_s: float | None = None
    gpu_s: float | None = None
    img_s: float | None = None  # measured here (per example of one run's steps)
    why: str = ""  # why the status or an estimate is unknown

    @property
    def finished(self) -> int | None:
        return None if self.left is None else self.runs - self.left


@dataclass
class Row:
    """A claim's line of the plan, or the total (each job once)."""

    name: str
    jobs: int = 0
    runs: int = 0
    finished: int = 0
    unknown: int = 0  # runs whose status is unknown
    left: int = 0
    here_s: float = 0.0
    here_unknown: int = 0  # runs to train with no estimate here
    gpu_s: float = 0.0
    gpu_unknown: int = 0

    def add(self, j: JobPlan) -> None:
        self.jobs += 1
        self.runs += j.runs
        if j.left is None:
            self.unknown += j.runs
        else:
            self.finished += j.runs - j.left
            self.left += j.left
        todo = j.runs if j.left is None else j.left
        if todo:
            if j.here_s is None:
                self.here_unknown += todo
            else:
                self.here_s += j.here_s
            if j.gpu_s is None:
                self.gpu_unknown += todo
            else:
                self.gpu_s += j.gpu_s


@dataclass
class Plan:
    rows: list[Row]
    total: Row
    jobs: list[JobPlan]
    workers: int
    device: str
    timed: bool
    measured: int = 0  # configurations timed here
    timing_s: float = 0.0
    seconds: float = 0.0  # the whole plan
    missing: dict[str, str] = field(default_factory=dict)  # dataset -> why it is not here
    failed: dict[str, str] = field(default_factory=dict)  # what could not be timed or counted -> why
    notes: list[str] = field(default_factory=list)


class Estimator:
    """Seconds of runs, here and on the GPU, from img/s measured once per configuration in this call (`throughput`
    and `flops` replace the measurement and the FLOPs counter, e.g. in tests)."""

    def __init__(self, workers: int, throughput: Callable[[RunConfig, DataShape], float] | None = None,
                 flops: Callable[[RunConfig, DataShape], float] | None = None) -> None:
        self.workers = workers
        self.throughput, self.flops = throughput, flops or count_flops
        self.img_s: dict[str, float | None] = {}
        self.flops_of: dict[str, float | None] = {}
        self.failed: dict[str, str] = {}  # what could not be timed or counted, and why
        self.timing_s = 0.0

    def here(self, run: RunConfig, data: DataShape) -> float | None:
        t = run.train
        device = resolve_device(t.device)
        key = C.stable_hash({"model": run.model.section(), "data": [data.name, data.shape, data.classes],
                             "batch": t.batch_size, "precision": t.precision, "channels_last": t.channels_last,
                             "device": str(device), "threads": self.workers > 1})
        if key not in self.img_s:
            t0 = time.perf_counter()
            if self.throughput is not None:
                self.img_s[key] = float(self.throughput(run, data))
            else:  # as the engine trains it: one thread per worker process on a CPU with several workers
                with threads(1 if self.workers > 1 and device.type == "cpu" else None):
                    try:
                        self.img_s[key] = time_steps(run, data, device)
                    except Exception as e:  # a net the plan cannot step on random inputs: unknown, said why
                        self.img_s[key] = None
                        self.failed[f"timing {run.model.name}"] = f"{type(e).__name__}: {str(e)[:100]}"
            self.timing_s += time.perf_counter() - t0
        return self.img_s[key]

    def gpu(self, run: RunConfig, data: DataShape) -> float | None:
        key = C.stable_hash({"model": run.model.section(), "data": [data.name, data.shape, data.classes]})
        if key not in self.flops_of:
            try:
                self.flops_of[key] = float(self.flops(run, data))
            except Exception as e:  # e.g. an adjoint ODE solver's backward, which torch's counter cannot follow
                self.flops_of[key] = None
                self.failed[f"FLOPs of {run.model.name}"] = f"{type(e).__name__}: {str(e)[:100]}"
        f = self.flops_of[key]
        return None if not f else gpu_img_s(f, run.train)


def _run_of(job: Job) -> tuple[RunConfig | None, int]:
    """The config one run of `job` trains and how many runs it holds (duck-typed: `run`, `run_count`)."""
    run = job.run if isinstance(job, RunSpec) else getattr(job, "run", None)
    return (run if isinstance(run, RunConfig) else None), int(getattr(job, "run_count", 1))


SEED = re.compile(r" seed \d+")


def _describe(job: Job, run: RunConfig | None, count: int) -> str:
    """A job's group: what it trains, without its seed (the rows of `--plan --verbose`)."""
    if run is None:
        base = getattr(job, "name", None) or re.sub(SEED, "", job.label)
        return f"{base} (custom loop)"
    args = ",".join(f"{k}={v}" for k, v in run.model.overrides.items())
    args = f"({args[:40]}{'...' if len(args) > 40 else ''})" if args else ""
    what = f"{run.model.name}{args} on {run.data.name}, {run.train.epochs} ep of batch {run.train.batch_size}"
    if isinstance(job, RunSpec):
        return what
    return f"{type(job).__name__} {re.sub(SEED, '', job.label)}: {count} x {what}"


def _status(job: Job, out: Path, data: DataShape | None, count: int) -> tuple[int | None, int, str]:
    """(runs left, epochs a resumable run has already trained, why unknown) of `job`, as the engine would find it:
    a fit() run or a FunctionRun is finished when its folder holds a readable result.json."""
    if callable(getattr(job, "runs_left", None)):
        return int(job.runs_left(out)), 0, ""  # type: ignore[attr-defined]
    if callable(getattr(job, "finished", None)):
        return (0 if job.finished(out) else count), 0, ""  # type: ignore[attr-defined]
    if isinstance(job, RunSpec) and (data is None or not data.here):
        return None, 0, f"{job.run.data.name} is not on this machine"
    if not isinstance(job, (RunSpec, FunctionRun)):
        return None, 0, f"{type(job).__name__}: no way to tell whether it is finished"
    folder = job.folder(out)
    if read_result(folder) is not None:
        return 0, 0, ""
    epochs = 0
    if isinstance(job, RunSpec) and (folder / STATE).exists():
        try:
            epochs = int(read_state(folder).get("epoch", 0))
        except (CheckpointError, ValueError, TypeError):
            epochs = 0
    return count, epochs, ""


def plan(claims: Sequence[ClaimModule], ctx: Context, out: Path, *, timing: bool = True,
         throughput: Callable[[RunConfig, DataShape], float] | None = None,
         flops: Callable[[RunConfig, DataShape], float] | None = None) -> Plan:
    """The plan of `claims` under `ctx` with runs in out/runs (see the module docstring). Writes nothing. With
    `timing` off, only counts. Bad input (an unknown dataset, a bad override) raises as reproduce would."""
    t_all = time.perf_counter()
    runs_dir = Path(out) / "runs"
    per_claim = {m.CLAIM.id: {j.key: j for j in m.runs(ctx)} for m in claims}  # a key is a hash: computed once
    distinct = {k: j for jobs in per_claim.values() for k, j in jobs.items()}
    users = {k: [cid for cid, jobs in per_claim.items() if k in jobs] for k in distinct}
    est = Estimator(ctx.workers, throughput, flops)
    shapes: dict[str, DataShape | None] = {}
    missing: dict[str, str] = {}

    def shape(cfg: DataConfig) -> DataShape | None:
        key = C.stable_hash(cfg)
        if key not in shapes:
            shapes[key], why = data_shape(cfg)
            if why:
                missing[cfg.name] = why
        return shapes[key]

    plans: dict[str, JobPlan] = {}
    for key, job in distinct.items():
        run, count = _run_of(job)
        data = shape(run.data) if run is not None else None
        if isinstance(job, FunctionRun) and isinstance(getattr(job.config, "data", None), str):
            shape(DataConfig(name=job.config.data, root=getattr(job.config, "data_root", None)))
        left, done_epochs, why = _status(job, runs_dir, data, count)
        jp = JobPlan(key, job.label, _describe(job, run, count), users[key], count, left, why=why)
        todo = count if left is None else left
        if timing and todo and run is not None:
            if data is None:
                jp.why = jp.why or f"{run.data.name}: not on this machine and of unknown size"
            else:
                w = workload(run.train, data.train, data.test, done_epochs)  # done_epochs: a resumed fit() run
                jp.img_s, gpu = est.here(run, data), est.gpu(run, data)
                jp.here_s = None if jp.img_s is None else w.seconds(jp.img_s) * todo
                jp.gpu_s = None if gpu is None else w.seconds(gpu) * todo
        plans[key] = jp
    if timing:
        _function_runs(plans, distinct, runs_dir)
    rows = []
    for cid, jobs in per_claim.items():
        row = Row(cid)
        for k in jobs:
            row.add(plans[k])
        rows.append(row)
    total = Row("total")
    for jp in plans.values():
        total.add(jp)
    p = Plan(rows, total, list(plans.values()), ctx.workers, str(resolve_device("auto")), timing,
             measured=len(est.img_s), timing_s=est.timing_s, missing=missing, failed=est.failed)
    p.notes = notes(p)
    p.seconds = time.perf_counter() - t_all
    return p


def _function_runs(plans: dict[str, JobPlan], jobs: dict[str, Job], out: Path) -> None:
    """FunctionRuns to train: the median seconds their finished namesakes (the same function and name, other
    seeds) recorded in result.json, here; unknown without any, and on the GPU."""
    recorded: dict[tuple[str, str], list[float]] = {}
    for key, job in jobs.items():
        if isinstance(job, FunctionRun) and plans[key].left == 0:
            result = read_result(job.folder(out)) or {}
            if isinstance(result.get("seconds"), (int, float)):
                recorded.setdefault((job.fn.__qualname__, job.name), []).append(float(result["seconds"]))
    for key, job in jobs.items():
        if isinstance(job, FunctionRun) and plans[key].left:
            seconds = recorded.get((job.fn.__qualname__, job.name))
            if seconds:
                plans[key].here_s = statistics.median(seconds)
            else:
                plans[key].why = "a custom loop with no finished run of the same function to time it by"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 10 * 60:
        return f"{seconds / 60:.1f} min"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def notes(p: Plan) -> list[str]:
    """What the numbers are, in words, printed under the plan's table."""
    out = []
    for name, why in p.missing.items():
        n = sum(j.runs for j in p.jobs if j.left is None and name in j.why)
        out.append(f"{name} is not on this machine ({why.split(':', 1)[-1].strip()[:120]}...): whether its "
                   f"{n} run(s) are finished is unknown (run folders hash the data), and reproduce would stop here; "
                   + ("their estimates use the official release's sizes" if name in STAND_IN else
                      "their size is unknown, so are their estimates"))
    if not p.timed:
        out.append("timing skipped: counts only")
        return out
    if not p.total.left and not p.total.unknown:
        out.append("nothing to train: every run is finished")
        return out
    out.append(f"here: img/s of {p.measured} configuration(s) measured on {p.device} ({WARM_STEPS} warm-up + up to "
               f"{TIMED_STEPS} timed steps of random inputs each, {p.timing_s:.1f} s); a run = steps x batch / img/s "
               f"+ each evaluation's examples / ({EVAL_SPEEDUP:g} x img/s); training and evaluation only (probes, "
               "snapshots and the claims' measurements not counted)")
    out.append(f"here = one process, one run after another; here /{p.workers} = that over the {p.workers} "
               "worker(s) (--workers): a lower bound on the wall time, as side-by-side processes share the machine "
               "(two single-thread runs finish ~1.5x, not 2x, sooner)")
    floor = H200_STEP_FLOOR_S["default"] * 1e3
    out.append(f"GPU: an estimate from a recorded H200 benchmark ({H200_SOURCE}), not a measurement: the FLOP/s "
               "ResNet-20/56 reached there (eager fp32 for runs without torch.compile, compiled bf16 with), scaled "
               f"by each net's FLOPs per example, one process, and never under {floor:.1f} ms a step (the recorded "
               "host-bound step of skiplab's loop): small nets on 8x8 data are launch-bound on a GPU, so their "
               "GPU time is that floor x steps and can exceed this CPU's")
    for what, why in p.failed.items():
        out.append(f"{what}: failed ({why}), so its estimate is unknown")
    fn_unknown = sum(1 for j in p.jobs if j.here_s is None and (j.left or 0) and "custom loop" in j.group)
    if fn_unknown:
        out.append(f"{fn_unknown} custom-loop run(s) (FunctionRun): no model to time; estimated here from the seconds "
                   "finished runs of the same function recorded where there are any, else unknown (and unknown on "
                   "a GPU)")
    return out
