"""`reproduce --plan` (claims/core/plan.py): finished runs counted as the engine finds them, shared runs once, nothing
written; the estimate's arithmetic on known answers with an injected throughput; the GPU figure from the recorded
H200 table; the CLI's table and exit codes."""

import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from skiplab._atomic import write_json
from skiplab.claims import Claim, Context, get_claim
from skiplab.claims.core import plan as P
from skiplab.claims.core.engine import RunSpec
from skiplab.claims.tickets import run_set
from skiplab.cli import app
from skiplab.train.config import TrainConfig
from skiplab.train.experiment import DataConfig, ModelConfig, RunConfig

pytestmark = pytest.mark.usefixtures("one_thread")
runner = CliRunner()
FLAT = lambda run, data: 1000.0  # noqa: E731 -- an injected throughput: img/s of every configuration
FLOPS = lambda run, data: 1e6  # noqa: E731


def spec(model="resnet8", seed=0, epochs=1, **train):
    t = TrainConfig(epochs=epochs, batch_size=64, **train)
    return RunSpec(RunConfig(model=ModelConfig(model), data=DataConfig(name="digits"), train=t, seed=seed), probes=None)


def claim(cid, jobs):
    c = Claim(id=cid, kind="empirical", statement="s", source="s", rule="r")
    return SimpleNamespace(CLAIM=c, runs=lambda ctx: list(jobs))


def tree(root: Path):
    return sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*"))


def test_workload_and_estimate_known_answers():
    # digits: 1347 train / 450 test; batch 64 -> 21 full batches an epoch (drop_last)
    w = P.workload(TrainConfig(epochs=10, batch_size=64), 1347, 450)
    assert (w.steps, w.batch, w.evals, w.eval_examples) == (210, 64, 10, 450)
    assert w.seconds(1000.0) == pytest.approx(210 * 64 / 1000 + 10 * 450 / 3000)  # 13.44 + 1.5
    double = P.workload(TrainConfig(epochs=20, batch_size=64), 1347, 450)
    assert double.seconds(1000.0) == pytest.approx(2 * w.seconds(1000.0))
    # a resumed run: what is left of it; a smoke cap: 30 steps = 2 epochs (the second cut short), both evaluated
    assert P.workload(TrainConfig(epochs=10, batch_size=64), 1347, 450, done_epochs=4).steps == 6 * 21
    capped = P.workload(TrainConfig(epochs=10, batch_size=64, max_steps=30, max_eval_examples=100), 1347, 450)
    assert (capped.steps, capped.evals, capped.eval_examples) == (30, 2, 100)
    every = P.workload(TrainConfig(epochs=10, batch_size=64, eval_every=3, eval_train=True), 1347, 450)
    assert (every.evals, every.eval_examples) == (4, 450 + 1347)  # epochs 3, 6, 9 and the last


def test_gpu_estimate_from_the_recorded_h200_table():
    floor = P.H200_STEP_FLOOR_S["default"]
    assert floor == pytest.approx(19.2 / 1940)
    # ResNet-20's own FLOPs at the recorded batch give back the recorded img/s (eager fp32; compiled bf16)
    assert P.gpu_img_s(242_421_504, TrainConfig(batch_size=512)) == pytest.approx(34_036)
    assert P.gpu_img_s(752_029_440, TrainConfig(batch_size=2048, compile=True)) == pytest.approx(72_332)
    # twice ResNet-56's FLOPs: half its img/s (scaled by FLOPs per example from the nearest recorded net)
    assert P.gpu_img_s(2 * 752_029_440, TrainConfig(batch_size=512)) == pytest.approx(12_360 / 2)
    # a tiny net is launch-bound: the floor per step, whatever its FLOPs
    assert P.gpu_img_s(1e5, TrainConfig(batch_size=64)) == pytest.approx(64 / floor)
    graphs = TrainConfig(batch_size=64, compile=True, compile_mode="reduce-overhead")
    assert P.gpu_img_s(1e5, graphs) == pytest.approx(64 / P.H200_STEP_FLOOR_S["reduce-overhead"])


def test_plan_counts_finished_runs_shared_once_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    tiny = dict(max_steps=2, max_eval_examples=50)
    a = [spec(seed=s, **tiny) for s in range(3)]
    b = [spec(seed=s, **tiny) for s in (1, 2)] + [spec("plain8", 0, **tiny)]
    a[1].train(out / "runs")  # trained by the engine's own code: the plan must find it where reproduce would
    write_json(b[2].folder(out / "runs") / "result.json", {"status": "finished"})
    before = tree(tmp_path)
    ctx = Context(seeds=6, workers=2)
    p = P.plan([claim("a", a), claim("b", b)], ctx, out, throughput=FLAT, flops=FLOPS)
    assert tree(tmp_path) == before  # nothing written, nothing touched
    ra, rb = p.rows
    assert (ra.runs, ra.finished, ra.left) == (3, 1, 2)
    assert (rb.runs, rb.finished, rb.left) == (3, 2, 1)
    t = p.total
    assert (t.jobs, t.runs, t.finished, t.left, t.unknown) == (4, 4, 2, 2, 0)  # resnet8 seeds 0-2, plain8 seed 0
    per_run = P.workload(a[0].run.train, 1347, 450).seconds(1000.0)
    assert ra.here_s == pytest.approx(2 * per_run) and rb.here_s == pytest.approx(per_run)
    assert t.here_s == pytest.approx(2 * per_run)  # seeds 0 and 2 of resnet8, once each
    shared = next(j for j in p.jobs if j.key == a[2].key)
    assert shared.claims == ["a", "b"]
    counts = P.plan([claim("a", a), claim("b", b)], ctx, out, timing=False)
    assert counts.total.left == 2 and counts.total.here_s == 0 and not counts.measured
    assert tree(tmp_path) == before


def test_estimate_doubles_with_epochs_from_one_measured_throughput(tmp_path):
    calls = []

    def throughput(run, data):
        calls.append(run.model.name)
        return 1000.0
    short = [spec(seed=s, epochs=5) for s in range(2)]
    long = [spec(seed=s, epochs=10) for s in range(2)]
    p = P.plan([claim("short", short), claim("long", long)], Context(), tmp_path, throughput=throughput, flops=FLOPS)
    assert calls == ["resnet8"]  # one configuration (model, shape, batch, precision): measured once in the call
    r_short, r_long = p.rows
    assert r_long.here_s == pytest.approx(2 * r_short.here_s) and r_long.gpu_s == pytest.approx(2 * r_short.gpu_s)
    assert r_short.here_s == pytest.approx(2 * P.workload(short[0].run.train, 1347, 450).seconds(1000.0))


def test_plan_times_real_steps_once_per_configuration(tmp_path):
    p = P.plan([claim("a", [spec(seed=s) for s in range(3)])], Context(workers=1), tmp_path)
    assert p.measured == 1 and p.jobs[0].img_s > 0 and p.total.here_s > 0 and p.total.gpu_s > 0
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_ticket_jobs_count_their_runs(tmp_path):
    ctx = Context(seeds=1, data="digits", overrides=("dims=2", "rounds=2", "compare_rounds=[1]"))
    jobs = run_set.runs(ctx)
    chains = [j for j in jobs if isinstance(j, run_set.TicketChain)]
    compares = [j for j in jobs if isinstance(j, run_set.TicketCompare)]
    res = next(c for c in chains if c.family == "resnet")
    rcmp = next(c for c in compares if c.family == "resnet")
    assert res.run_count == 3 and rcmp.run_count == 5  # dense + 2 rounds; reinit, shuffled, 3 moved plain masks
    runs = tmp_path / "runs"
    write_json(run_set.round_dir(res.folder(runs), 0) / "result.json", {"status": "finished"})
    assert res.runs_left(runs) == 2 and not res.finished(runs)
    write_json(run_set.round_dir(res.folder(runs), 2) / "result.json", {"status": "finished"})
    assert res.finished(runs) and res.runs_left(runs) == 0  # the engine reuses a chain whose last round exists
    for role in rcmp.roles[:4]:
        write_json(run_set.round_dir(rcmp.folder(runs), 1, role) / "result.json", {"status": "finished"})
    assert rcmp.runs_left(runs) == 1 and not rcmp.finished(runs)
    p = P.plan([claim("tickets", jobs)], ctx, tmp_path, throughput=FLAT, flops=FLOPS)
    t = p.total
    assert (t.runs, t.finished, t.left) == (3 + 3 + 5 + 2, 3 + 4, 6)
    per_run = P.workload(res.run.train, 1347, 450).seconds(1000.0)
    assert t.here_s == pytest.approx(6 * per_run)


def test_missing_dataset_gives_unknown_status_and_stand_in_estimates(tmp_path, monkeypatch):
    monkeypatch.setenv("SKIPLAB_CACHE", str(tmp_path / "cache"))  # no cifar10 files there
    ctx = Context(seeds=1, data="cifar10", overrides=("depths=[8,14,20]", "jacobian_depth=8"))
    p = P.plan([get_claim("degradation")], ctx, tmp_path, throughput=FLAT, flops=FLOPS)
    t = p.total
    assert (t.runs, t.unknown, t.finished, t.left) == (6, 6, 0, 0)
    assert t.here_unknown == 0 and t.here_s > 0 and "cifar10" in p.missing
    assert any(n.startswith("cifar10 is not on this machine") for n in p.notes)
    assert not (tmp_path / "runs").exists()


def test_cli_plan_prints_a_table_and_writes_nothing(tmp_path, monkeypatch):
    out = tmp_path / "out"
    r = runner.invoke(app, ["reproduce", "--plan", "degradation", "--no-timing", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "degradation" in r.output and "36" in r.output and "total" in r.output and "counts only" in r.output
    r = runner.invoke(app, ["reproduce", "--plan", "degradation", "--seeds", "1", "--out", str(out), "--set",
                            "depths=[8,14,20]", "--set", "jacobian_depth=8", "-v"])
    assert r.exit_code == 0, r.output
    assert "H200 (est.)" in r.output and "img/s here" in r.output and "recorded H200 benchmark" in r.output
    monkeypatch.setenv("SKIPLAB_PLAN_TIMING", "0")
    r = runner.invoke(app, ["reproduce", "--plan", "boosting", "--out", str(out)])
    assert r.exit_code == 0 and "counts only" in r.output
    assert not out.exists() and not os.listdir(tmp_path)


@pytest.mark.parametrize("args", [["nosuch-claim"], ["degradation", "--set", "nosuch=1"],
                                  ["degradation", "--data", "nosuch-data"], ["degradation", "--seeds", "0"]])
def test_cli_plan_bad_input_exits_2(tmp_path, args):
    r = runner.invoke(app, ["reproduce", "--plan", "--no-timing", "--out", str(tmp_path / "out"), *args])
    assert r.exit_code == 2, r.output
    assert r.output.strip().startswith("error:") and len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_an_interrupted_run_is_estimated_for_its_remaining_epochs(tmp_path):
    job = spec(seed=0, epochs=10)
    write_json(job.folder(tmp_path / "runs") / "state.json", {"epoch": 4})  # what fit() checkpoints every epoch
    p = P.plan([claim("a", [job])], Context(), tmp_path, throughput=FLAT, flops=FLOPS)
    assert (p.total.left, p.total.finished) == (1, 0)
    rest = P.workload(job.run.train, 1347, 450, done_epochs=4)
    assert (rest.steps, rest.evals) == (6 * 21, 6) and p.total.here_s == pytest.approx(rest.seconds(1000.0))
