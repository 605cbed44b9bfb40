"""Population training (skiplab.train.population): N seeds trained as one stacked net equal N separate fit() runs.

Tolerances. The population computes the same arithmetic as separate runs in another order: vmap runs the N models'
convolutions as one grouped convolution and batch norm over a stacked tensor, whose reductions round differently
(and the population trains in the default memory layout where fit() uses channels_last). So the comparison is to
float rounding, not bit for bit:
  - float64 nets (`TOL64 = 1e-10`): each operation rounds at ~1e-16 relative; a few steps of SGD on weights of
    size ~1 keep the difference near 1e-15 (measured: <= 2e-15 after 12 steps). Any logic error (a batch from the
    wrong loader, decay on the wrong group, a gradient leaking between models, a stale mask) moves weights by
    >= 1e-4 after one step at these learning rates, a million times the tolerance. This is the exactness check.
  - float32 nets (`TOL32 = 1e-5` after 3 steps): float32 rounds at ~6e-8 relative; measured differences are
    <= 2.4e-7 over 8 seeds. Float32 is not used for the strict checks because a ReLU whose input lies within
    rounding of 0 can switch between the two orders of summation, which changes that step's gradient by a
    discrete amount (seen: 1e-4 after two steps on one seed of eight); float64 makes such a tie vanishingly rare.
  - callbacks' records (gradient signal, alignment, weight snapshots): bit for bit under "loop"; under vmap
    compared in float64, to 1e-9 relative (the probe values of weights within TOL64), since float32 vmap runs on
    digits drift apart by rounding fast (measured: 3e-5 in a stem weight after one step, 5e-3 after 12, where
    float64 stays at 2e-16), which would hide a probe run on stale weights behind a loose tolerance.
"""

import dataclasses
import json
import sys
from pathlib import Path

import pytest
import torch

from skiplab.errors import ConfigError
from skiplab.models import create_model
from skiplab.pruning.masks import apply_masks, effective_weight
from skiplab.train import Callback, TrainConfig, TrainStep, fit, model_signature, read_result
from skiplab.train.checkpoint import CKPT, load_checkpoint, load_model_weights, read_weights
from skiplab.train.experiment import (DataConfig, ModelConfig, RunConfig, RunHooks, build_model, locate_run,
                                      run_training)
from skiplab.train.population import PopulationStep, fit_population, run_population

sys.path.insert(0, str(Path(__file__).parent))
from _train_data import augmented_images, blobs  # noqa: E402

TOL64, TOL32 = 1e-10, 1e-5
SEEDS = [0, 1, 2]
MASKED = "stages.1.blocks.0.branch.0"  # the first conv of the first downsampling block (an option-A shortcut)


@pytest.fixture(scope="module")
def data():
    return augmented_images(n_train=64, n_test=32)  # 1x8x8, crop + flip augmentation; batch 16: 4 steps an epoch


def net(data, seed, dtype=torch.float64):
    """ResNet-8 (batch norm, option-A shortcuts) as seed `seed` builds it, with a random half of one conv pruned."""
    torch.manual_seed(seed)
    model = create_model("resnet8", **data.model_kwargs()).to(dtype)
    w = model.get_submodule(MASKED).weight
    apply_masks(model, {MASKED: torch.rand(w.shape, generator=torch.Generator().manual_seed(100 + seed)) > 0.5})
    return model


def recipe(**kw):
    # weight decay on (conv/linear weights only, as optim.param_groups), momentum, a multistep drop inside the run
    return TrainConfig(**{"epochs": 2, "batch_size": 16, "lr": 0.1, "weight_decay": 5e-4, "milestones": (0.5,),
                          "device": "cpu", **kw})


def gap(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    return max((sa[k].double() - sb[k].double()).abs().max().item() for k in sa)


def separate(data, cfg, seeds, folder=None, dtype=torch.float64, callbacks=lambda s: ()):
    models = [net(data, s, dtype) for s in seeds]
    hs = [fit(m, data, cfg, seed=s, run_dir=folder / f"sep-{s}" if folder else None, callbacks=callbacks(s),
              verbose=False) for m, s in zip(models, seeds)]
    return models, hs


def together(data, cfg, seeds, folder=None, dtype=torch.float64, strategy="vmap", **kw):
    models = [net(data, s, dtype) for s in seeds]
    dirs = [folder / f"pop-{s}" if folder else None for s in seeds]
    return models, fit_population(models, data, cfg, seeds, dirs, verbose=False, strategy=strategy, **kw)


def rows(path):
    return [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("kw", [{}, {"optimizer": "adamw", "lr": 1e-3}, {"grad_clip": 0.05}],
                            ids=["sgd", "adamw", "grad_clip"])
def test_population_equals_separate_runs(tmp_path, data, kw):
    cfg = recipe(**kw)
    ref, ref_h = separate(data, cfg, SEEDS, tmp_path)
    pop, pop_h = together(data, cfg, SEEDS, tmp_path)
    for s, a, b, ha, hb in zip(SEEDS, ref, pop, ref_h, pop_h):
        assert gap(a, b) <= TOL64  # every weight, batch-norm running statistic and mask
        assert hb.status == ha.status == "finished" and len(hb.epochs) == len(ha.epochs) == 2
        for ra, rb in zip(ha.epochs, hb.epochs):
            assert rb["step"] == ra["step"] and rb["lr"] == ra["lr"]
            for k in ("train_loss", "train_err", "test_loss", "test_err"):  # losses in float32 (logits .float())
                assert rb[k] == pytest.approx(ra[k], abs=1e-6)
        layer = b.get_submodule(MASKED)
        pruned = layer.weight_mask == 0
        assert pruned.any() and (effective_weight(layer)[pruned] == 0).all()  # masked weights stay exactly 0
        assert not torch.equal(layer.weight_orig, net(data, s).get_submodule(MASKED).weight_orig)
        # the folders hold the same things as fit()'s, to rounding: metrics, result, optimizer state, schedule
        da, db = tmp_path / f"sep-{s}", tmp_path / f"pop-{s}"
        assert [r.keys() for r in rows(da)] == [r.keys() for r in rows(db)]
        ra_, rb_ = read_result(da), read_result(db)
        assert rb_.keys() == ra_.keys() and rb_["status"] == "finished" and rb_["seed"] == s
        sa, sb = json.loads((da / "state.json").read_text()), json.loads((db / "state.json").read_text())
        assert sb["epoch"] == sa["epoch"] == 2 and sb["step"] == sa["step"] and sb["scheduler"] == sa["scheduler"]
        assert sb["optimizer"] == sa["optimizer"]
        ta, tb = read_weights(da / CKPT), read_weights(db / CKPT)
        assert ta.keys() == tb.keys() and any(k.startswith("optim.") for k in tb)
        assert max((ta[k].double() - tb[k].double()).abs().max().item() for k in ta if k != "rng.cpu") <= TOL64


def test_float32_population_equals_separate_runs_to_rounding(data):
    cfg = recipe(max_steps=3)
    ref, _ = separate(data, cfg, SEEDS, dtype=torch.float32)
    pop, hs = together(data, cfg, SEEDS, dtype=torch.float32)
    assert all(h.status == "stopped" and h.final["step"] == 3 for h in hs)
    assert max(gap(a, b) for a, b in zip(ref, pop)) <= TOL32


def test_bf16_population_trains(data):
    # bf16 keeps 8 bits of mantissa: two orders of summation differ by ~1e-2 after a few steps, so this is a smoke
    # test (the forward runs under autocast inside vmap, and training moves the weights), not an equality
    cfg = recipe(max_steps=3, precision="bf16")
    pop, hs = together(data, cfg, SEEDS[:2], dtype=torch.float32)
    assert all(h.status == "stopped" and 0 < h.final["train_loss"] < 5 for h in hs)
    assert all(torch.isfinite(p).all() for m in pop for p in m.parameters())


class Crash(Exception):
    pass


def test_resume_equals_straight_through_and_folders_resume_alone(tmp_path, data, monkeypatch):
    cfg = recipe()
    straight, _ = together(data, cfg, SEEDS, tmp_path / "a")

    step = PopulationStep.__call__

    def crash_in_epoch_2(self, xs, ys, at):
        if at == 4:  # the first step of the second epoch: the population dies with epoch 1 checkpointed
            raise Crash
        step(self, xs, ys, at)
    monkeypatch.setattr(PopulationStep, "__call__", crash_in_epoch_2)
    with pytest.raises(Crash):
        together(data, cfg, SEEDS, tmp_path / "b")
    monkeypatch.undo()
    for s in SEEDS:
        d = tmp_path / "b" / f"pop-{s}"
        assert json.loads((d / "state.json").read_text())["epoch"] == 1 and read_result(d) is None
        # the existing readers: a model + optimizer + schedule checkpoint, and the weights probes load (the mask
        # folded into an unpruned model)
        model = net(data, 50)
        stepper = TrainStep(model, cfg, torch.device("cpu"), 8, 4)
        assert load_checkpoint(d, model, stepper.opt, stepper.sched, model_signature(model))["epoch"] == 1
        assert stepper.sched.last_epoch == 4 and len(stepper.opt.state) == len(list(model.parameters()))
        dense = create_model("resnet8", **data.model_kwargs()).double()
        load_model_weights(d, dense, model_signature(dense))
        assert torch.equal(dense.get_submodule(MASKED).weight, effective_weight(model.get_submodule(MASKED)))

    # one folder resumed alone, by fit(): equals its separate run (the first epoch was trained in the population)
    alone = net(data, 77)  # another init (and mask): everything must come from the checkpoint
    fit(alone, data, cfg, seed=1, run_dir=tmp_path / "b" / "pop-1", resume=True, verbose=False)
    ref, _ = separate(data, cfg, [1])
    assert gap(alone, ref[0]) <= TOL64
    assert read_result(tmp_path / "b" / "pop-1")["status"] == "finished"

    # the others resumed as a population: bit-identical to the population trained straight through (on the CPU)
    resumed = [net(data, 50 + s) for s in (0, 2)]
    hs = fit_population(resumed, data, cfg, [0, 2], [tmp_path / "b" / f"pop-{s}" for s in (0, 2)], resume=True,
                        verbose=False, strategy="vmap")
    for m, s, h in zip(resumed, (0, 2), hs):
        assert gap(m, straight[s]) == 0.0
        assert h.status == "finished" and len(h.epochs) == 2
        assert rows(tmp_path / "a" / f"pop-{s}") == [{**r, **{k: r0[k] for k in ("time", "train_time")}}
                                                     for r, r0 in zip(rows(tmp_path / "b" / f"pop-{s}"),
                                                                      rows(tmp_path / "a" / f"pop-{s}"))]


def test_the_loop_strategy_is_bit_identical_to_separate_runs(data):
    cfg = recipe(max_steps=5, channels_last=False)
    ref, ref_h = separate(data, cfg, SEEDS, dtype=torch.float32)
    pop, pop_h = together(data, cfg, SEEDS, dtype=torch.float32, strategy="auto")  # the CPU's choice: loop
    assert all(gap(a, b) == 0.0 for a, b in zip(ref, pop))
    assert [h.epochs[-1]["train_loss"] for h in ref_h] == [h.epochs[-1]["train_loss"] for h in pop_h]


def test_resume_at_different_epochs_is_refused(tmp_path, data):
    cfg = recipe()
    fit(net(data, 0), data, dataclasses.replace(cfg, max_steps=4), seed=0, run_dir=tmp_path / "pop-0",
        verbose=False)  # one epoch checkpointed; pop-1 has none
    with pytest.raises(ConfigError, match="different epochs"):
        together(data, cfg, [0, 1], tmp_path, resume=True)


from test_fit import Poison  # noqa: E402  (a NaN in the first weight after step `at`; tests/train is on sys.path)


@pytest.mark.parametrize("log_every", [0, 3])
def test_a_diverged_model_stops_where_fit_stops_it_and_the_others_go_on(tmp_path, data, monkeypatch, log_every):
    cfg, victim, at = recipe(log_every=log_every), 1, 5  # step 5: in the second epoch
    ref, ref_h = separate(data, cfg, SEEDS, tmp_path, callbacks=lambda s: [Poison(at)] if s == victim else [])
    step = PopulationStep.__call__

    def poisoned(self, xs, ys, n):
        step(self, xs, ys, n)
        if n + 1 == at and victim in self.slots:
            with torch.no_grad():
                next(iter(self.P.values()))[self.slots.index(victim)].fill_(float("nan"))
    monkeypatch.setattr(PopulationStep, "__call__", poisoned)
    pop, pop_h = together(data, cfg, SEEDS, tmp_path)
    bad = SEEDS.index(victim)
    assert ref_h[bad].status == pop_h[bad].status == "diverged"
    assert pop_h[bad].diverged_step == ref_h[bad].diverged_step == at
    assert len(pop_h[bad].epochs) == len(ref_h[bad].epochs) == 1
    da, db = tmp_path / f"sep-{victim}", tmp_path / f"pop-{victim}"
    assert read_result(db)["status"] == "diverged" and read_result(db)["diverged_step"] == at
    assert json.loads((db / "state.json").read_text())["epoch"] == 1 == json.loads((da / "state.json").read_text())[
        "epoch"]  # the last good checkpoint is kept
    assert len(rows(db)) == 1
    for i, s in enumerate(SEEDS):
        if s != victim:
            assert pop_h[i].status == "finished" and len(pop_h[i].epochs) == 2
            assert gap(ref[i], pop[i]) <= TOL64


@pytest.mark.parametrize("strategy", ["vmap", "loop"])
def test_all_models_diverging_ends_the_population(tmp_path, data, strategy):
    cfg = recipe(log_every=1, lr=1e30)  # every model blows up within its first steps
    _, ref = separate(data, cfg, SEEDS[:2])
    _, hs = together(data, cfg, SEEDS[:2], tmp_path, strategy=strategy)
    assert [h.status for h in hs] == ["diverged", "diverged"] and all(h.epochs == [] for h in hs)
    assert [h.diverged_step for h in hs] == [h.diverged_step for h in ref]
    assert all(read_result(tmp_path / f"pop-{s}")["status"] == "diverged" for s in SEEDS[:2])


def test_runs_that_differ_in_more_than_the_seed_are_refused(tmp_path, data):
    base = RunConfig(model=ModelConfig("resnet20", {"depth": 8}), data=DataConfig("quadrants"), train=recipe())
    other = dataclasses.replace(base, seed=1, train=dataclasses.replace(base.train, lr=0.05))
    with pytest.raises(ConfigError, match="differ only in seed"):
        run_population([base, other], [tmp_path / "a", tmp_path / "b"], data)
    assert not (tmp_path / "a").exists()
    with pytest.raises(ConfigError, match="share a folder"):
        run_population([base, base], [tmp_path / "a", tmp_path / "a"], data)
    with pytest.raises(ConfigError, match="one list of callbacks per model"):
        fit_population([net(data, 0)], data, recipe(), [0], [None], callbacks=[Poison(1)])
    with pytest.raises(ConfigError, match="2 models need 2 lists of callbacks"):
        fit_population([net(data, 0), net(data, 1)], data, recipe(), [0, 1], [None, None], callbacks=[[Poison(1)]])
    shared = Poison(1)
    with pytest.raises(ConfigError, match="two models"):
        fit_population([net(data, 0), net(data, 1)], data, recipe(), [0, 1], [None, None],
                       callbacks=[[shared], [shared]])
    with pytest.raises(ConfigError, match="different architectures"):
        fit_population([net(data, 0), create_model("resnet20", depth=14, **data.model_kwargs())], data, recipe(),
                       [0, 1], [None, None])


@pytest.mark.parametrize("strategy", ["vmap", "loop"])
def test_a_model_that_draws_random_numbers_is_refused(strategy):
    blob = blobs(n_train=64)

    class Dropout(torch.nn.Sequential):
        def __init__(self):
            super().__init__(torch.nn.Linear(2, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 3))
    with pytest.raises(ConfigError, match="random numbers"):
        fit_population([Dropout(), Dropout()], blob, TrainConfig(epochs=1, batch_size=16, device="cpu"), [0, 1],
                       [None, None], verbose=False, strategy=strategy)


def test_run_population_writes_the_folders_run_training_writes(tmp_path, data):
    cfgs = [RunConfig(model=ModelConfig("resnet20", {"depth": 8}), data=DataConfig("quadrants"),
                      train=recipe(max_steps=3), seed=s) for s in SEEDS]
    out = tmp_path / "runs"
    folders = [locate_run(c, data, out) for c in cfgs]
    first = run_training(cfgs[0], folders[0], data, verbose=False)  # a finished run is reused, not trained again
    alone = run_training(cfgs[1], locate_run(cfgs[1], data, tmp_path / "alone"), data, verbose=False)
    outcomes = run_population(cfgs, folders, data, verbose=False, strategy="vmap")
    assert [o.run_dir for o in outcomes] == folders and [o.reused for o in outcomes] == [True, False, False]
    assert outcomes[0].result == first.result
    assert (json.loads((folders[1] / "config.json").read_text())
            == json.loads((alone.run_dir / "config.json").read_text()))
    res = outcomes[1].result
    assert res.keys() == alone.result.keys() and res["status"] == "stopped" and res["params"] == alone.result["params"]
    assert res["final"]["train_loss"] == pytest.approx(alone.result["final"]["train_loss"], abs=1e-5)
    assert all(o.reused for o in run_population(cfgs, folders, data, verbose=False))


class CrashInEpoch2(Callback):
    def on_step_end(self, state):
        if state.epoch == 1:
            raise Crash


def test_run_population_resumes_folders_at_different_epochs_in_groups(tmp_path, data):
    cfgs = [RunConfig(model=ModelConfig("resnet20", {"depth": 8}), data=DataConfig("quadrants"),
                      train=recipe(channels_last=False), seed=s) for s in SEEDS]
    folders = [locate_run(c, data, tmp_path / "runs") for c in cfgs]
    with pytest.raises(Crash):  # seed 1's run died in its second epoch: checkpointed at epoch 1, unfinished
        run_training(cfgs[1], folders[1], data, hooks=RunHooks(callbacks=lambda d: [CrashInEpoch2()]), verbose=False)
    with pytest.raises(ConfigError, match="unfinished run"):
        run_population(cfgs, folders, data, existing="refuse", verbose=False)
    outcomes = run_population(cfgs, folders, data, verbose=False)  # "auto": loop on the CPU, bit-identical
    assert [o.result["status"] for o in outcomes] == ["finished"] * 3 and not any(o.reused for o in outcomes)
    for c, o in zip(cfgs, outcomes):
        alone = run_training(c, locate_run(c, data, tmp_path / "alone"), data, verbose=False)
        assert o.result["final"]["train_loss"] == alone.result["final"]["train_loss"]
        assert o.result["final"]["test_loss"] == alone.result["final"]["test_loss"]


# ---- callbacks: each model its own, called where fit() calls them, on its own model --------------------------------

from skiplab.claims.core.runspec import ALIGNMENT, GRADIENTS, SNAPSHOTS, PersistedRecorder, Probes, RunSpec  # noqa: E402
from skiplab.claims.core.runspec import Snapshots  # noqa: E402
from skiplab.probes import GradientSignalCallback  # noqa: E402
from skiplab.train.callbacks import WeightSnapshots  # noqa: E402
from skiplab.train.population import LoopStep, rng_state  # noqa: E402
from skiplab.train.population.hooks import has_step_hook  # noqa: E402


def ladder_specs(family, **snapshots):
    """The depth ladder's spec (claims/depth/ladder.py spec()) at a tiny scale: digits, 2 epochs of 6 steps, the
    gradient probe every epoch, and for the pre-activation net the alignment probe."""
    model = ModelConfig("resnet8") if family == "resnet" else ModelConfig("preresnet20", {"depth": 8})
    train = TrainConfig(epochs=2, batch_size=256, lr=0.1, weight_decay=5e-4, max_eval_examples=100, device="cpu")
    return [RunSpec(RunConfig(model=model, data=DataConfig("digits"), train=train, seed=s),
                    probes=Probes(examples=64, every=1, alignment=family == "preresnet", held_out=64), **snapshots)
            for s in SEEDS]


def records(folder, name):
    return json.loads((folder / name).read_text())


def close(a, b, rel):
    """Nested JSON values equal, numbers to `rel` relative (abs 1e-12 for the zeros)."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k], rel) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(close(x, y, rel) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return a == pytest.approx(b, rel=rel, abs=1e-12)
    return a == b


def ckpt_tensors(folder):
    return read_weights(folder / CKPT)


@pytest.mark.parametrize("family", ["resnet", "preresnet"])
def test_the_ladders_recorders_record_in_a_population_what_they_record_alone(tmp_path, family):
    """The ladder's RunSpecs through run_population (the CPU's loop) and through RunSpec.train (run_training alone):
    the same folders, records, checkpoints (its RNG included) and results, bit for bit."""
    specs = ladder_specs(family)
    data = specs[0].dataset()
    alone = [s.train(tmp_path / "alone") for s in specs]
    outcomes = run_population([s.run for s in specs], [s.folder(tmp_path / "pop") for s in specs], data,
                              verbose=False, hooks=RunHooks(callbacks=lambda d: specs[0].callbacks(data, d)),
                              extras=[s.extra for s in specs])
    names = [GRADIENTS] + ([ALIGNMENT] if family == "preresnet" else [])
    for a, o in zip(alone, outcomes):
        assert o.result["status"] == a.result["status"] == "finished"
        assert o.result["final"]["test_loss"] == a.result["final"]["test_loss"]
        assert (o.run_dir / "config.json").read_text() == (a.folder / "config.json").read_text()
        for name in names:
            ra, rb = records(a.folder, name), records(o.run_dir, name)
            assert [r["epoch"] for r in rb] == [0, 1, 2] and ra == rb  # JSON floats are the doubles themselves
        ta, tb = ckpt_tensors(a.folder), ckpt_tensors(o.run_dir)
        assert ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta)


@pytest.mark.parametrize("family", ["resnet", "preresnet"])
def test_under_vmap_the_ladders_recorders_record_what_they_record_alone(tmp_path, family, monkeypatch):
    """vmap, in float64 (the exactness check, as above: float32 runs drift apart by rounding, see the module doc):
    the ladder's recorders (RunSpec.callbacks) on a population equal those of separate fit() runs to 1e-9
    relative, and a probe recorded once an epoch costs no sync per step."""
    specs = ladder_specs(family)
    data, cfg = specs[0].dataset(), specs[0].run.train

    def model(s):
        return build_model(s.run, data).double()
    for s in specs:
        fit(model(s), data, cfg, seed=s.run.seed, run_dir=tmp_path / f"sep-{s.run.seed}", verbose=False,
            callbacks=s.callbacks(data, tmp_path / f"sep-{s.run.seed}"))
    synced = []
    unstack = PopulationStep.unstack
    monkeypatch.setattr(PopulationStep, "unstack", lambda self, j, t: (synced.append(j), unstack(self, j, t)))
    dirs = [tmp_path / f"pop-{s.run.seed}" for s in specs]
    fit_population([model(s) for s in specs], data, cfg, SEEDS, dirs, verbose=False, strategy="vmap",
                   callbacks=[s.callbacks(data, d) for s, d in zip(specs, dirs)])
    assert len(synced) == 3 * (2 + 1)  # each model: at the ends of its 2 epochs, and at the end; never per step
    for s, d in zip(SEEDS, dirs):
        for name in [GRADIENTS] + ([ALIGNMENT] if family == "preresnet" else []):
            ra, rb = records(tmp_path / f"sep-{s}", name), records(d, name)
            assert [r["epoch"] for r in rb] == [0, 1, 2]
            assert ra[0] == rb[0]  # at init: the same weights, the same probe
            assert close(ra, rb, rel=1e-9)
        ta, tb = ckpt_tensors(tmp_path / f"sep-{s}"), ckpt_tensors(d)
        assert max((ta[k].double() - tb[k].double()).abs().max().item() for k in ta if k != "rng.cpu") <= TOL64


def test_the_vmap_tolerance_of_the_probe_records_is_earned(tmp_path):
    """1e-9 is loose next to what it separates: a few steps fewer, or another seed, move the records by far more
    (so a probe run on the wrong model, or on stale weights, fails it)."""
    specs = ladder_specs("resnet")
    data, cfg = specs[0].dataset(), specs[0].run.train
    for s, c in ((specs[0], cfg), (specs[1], cfg), (specs[0], dataclasses.replace(cfg, max_steps=9))):
        d = tmp_path / f"{s.run.seed}-{c.max_steps}"
        fit(build_model(s.run, data).double(), data, c, seed=s.run.seed, run_dir=d, verbose=False,
            callbacks=s.callbacks(data, d))
    ref = records(tmp_path / "0-None", GRADIENTS)
    assert not close(ref[1], records(tmp_path / "1-None", GRADIENTS)[1], rel=1e-3)
    assert not close(ref[1:], records(tmp_path / "0-9", GRADIENTS)[1:], rel=1e-3)  # epoch 2 three steps short


def test_has_step_hook_sees_through_the_persisted_recorder():
    x, y = torch.zeros(2, 1, 8, 8), torch.zeros(2, dtype=torch.long)
    assert not has_step_hook(PersistedRecorder(GradientSignalCallback(x, y), Path("g.json")))
    assert not has_step_hook(Callback())
    assert has_step_hook(WeightSnapshots(x, y, 2, Path("s")))
    assert has_step_hook(PersistedRecorder(Poison(1), Path("p.json")))  # a recorder that does act per step
    assert has_step_hook(Poison(1))


@pytest.mark.parametrize("log_every", [0, 3])
@pytest.mark.parametrize("strategy", ["loop", "vmap"])
def test_a_callback_that_poisons_one_model_affects_only_that_model(tmp_path, data, strategy, log_every):
    cfg, victim, at = recipe(log_every=log_every), 1, 5
    per_seed = {s: [Poison(at)] if s == victim else [] for s in SEEDS}
    ref, ref_h = separate(data, cfg, SEEDS, tmp_path, callbacks=lambda s: per_seed[s])
    per_seed = {s: [Poison(at)] if s == victim else [] for s in SEEDS}
    pop, pop_h = together(data, cfg, SEEDS, tmp_path, strategy=strategy, callbacks=[per_seed[s] for s in SEEDS])
    bad = SEEDS.index(victim)
    assert pop_h[bad].status == ref_h[bad].status == "diverged"
    assert pop_h[bad].diverged_step == ref_h[bad].diverged_step == at
    ra, rb = rows(tmp_path / f"sep-{victim}"), rows(tmp_path / f"pop-{victim}")
    assert len(rb) == len(ra) == 1 and rb[0]["train_loss"] == pytest.approx(ra[0]["train_loss"], abs=1e-6)
    assert read_result(tmp_path / f"pop-{victim}")["diverged_step"] == at
    for i, s in enumerate(SEEDS):
        if s != victim:
            assert pop_h[i].status == "finished"
            assert gap(ref[i], pop[i]) <= (0.0 if strategy == "loop" else TOL64)


class StopAt(Callback):
    """Sets state.stop after step `step` (mid-epoch), or at the end of epoch `epoch`."""

    def __init__(self, step=None, epoch=None):
        self.step, self.epoch = step, epoch

    def on_step_end(self, state):
        if state.step == self.step:
            state.stop = True

    def on_epoch_end(self, state, metrics):
        if metrics["epoch"] == self.epoch:
            state.stop = True


@pytest.mark.parametrize("strategy", ["loop", "vmap"])
@pytest.mark.parametrize("how", [{"step": 6}, {"epoch": 1}], ids=["mid-epoch", "epoch-end"])
def test_state_stop_on_one_model_stops_only_that_model(tmp_path, data, strategy, how):
    cfg = recipe(epochs=3)
    ref, ref_h = separate(data, cfg, SEEDS, tmp_path, callbacks=lambda s: [StopAt(**how)] if s == 2 else [])
    pop, pop_h = together(data, cfg, SEEDS, tmp_path, strategy=strategy,
                          callbacks=[[StopAt(**how)] if s == 2 else [] for s in SEEDS])
    tol = 0.0 if strategy == "loop" else TOL64
    assert [h.status for h in pop_h] == [h.status for h in ref_h] == ["finished", "finished", "stopped"]
    for i, s in enumerate(SEEDS):
        assert gap(ref[i], pop[i]) <= tol
        ra, rb = rows(tmp_path / f"sep-{s}"), rows(tmp_path / f"pop-{s}")
        assert [(r["epoch"], r["step"], "test_err" in r) for r in rb] == [(r["epoch"], r["step"], "test_err" in r)
                                                                           for r in ra]
        assert [r["train_loss"] for r in rb] == pytest.approx([r["train_loss"] for r in ra], abs=1e-6)
        assert read_result(tmp_path / f"pop-{s}")["status"] == pop_h[i].status
    assert pop_h[2].final["step"] == (6 if "step" in how else 4)


def snapshots(data, folder, seeds, every=2):
    x, y = data.test_x[:16], data.test_y[:16]
    return [[WeightSnapshots(x, y, every, folder / f"snap-{s}")] for s in seeds]


@pytest.mark.parametrize("strategy", ["loop", "vmap"])
def test_weight_snapshots_every_2_steps_equal_separate_runs(tmp_path, data, strategy):
    cfg = recipe()
    sep = snapshots(data, tmp_path / "sep", SEEDS)
    separate(data, cfg, SEEDS, callbacks=lambda s: sep[SEEDS.index(s)])
    together(data, cfg, SEEDS, strategy=strategy, callbacks=snapshots(data, tmp_path / "pop", SEEDS))
    for s in SEEDS:
        a, b = tmp_path / "sep" / f"snap-{s}", tmp_path / "pop" / f"snap-{s}"
        ia, ib = json.loads((a / "index.json").read_text()), json.loads((b / "index.json").read_text())
        assert ib["steps"] == ia["steps"] == [0, 2, 4, 6, 8]
        assert ib["acc"] == ia["acc"]  # 16 examples: a weight change of 1e-10 flips none
        assert sorted(p.name for p in b.iterdir()) == sorted(p.name for p in a.iterdir())
        for step in ia["steps"]:
            ta, tb = read_weights(a / WeightSnapshots.file(step)), read_weights(b / WeightSnapshots.file(step))
            assert ta.keys() == tb.keys()
            assert max((ta[k].double() - tb[k].double()).abs().max().item() for k in ta) <= (
                0.0 if strategy == "loop" else TOL64)


def gradient_recorders(folder, seeds, x, y):
    return [[PersistedRecorder(GradientSignalCallback(x, y, every=1), folder / f"pop-{s}" / GRADIENTS)]
            for s in seeds]


@pytest.mark.parametrize("strategy", ["loop", "vmap"])
def test_resumed_with_recorders_equals_an_uninterrupted_population(tmp_path, data, strategy, monkeypatch):
    cfg = recipe(epochs=3)
    x, y = data.train_x[:32], data.train_y[:32]
    straight, hs = together(data, cfg, SEEDS, tmp_path / "a", strategy=strategy,
                            callbacks=gradient_recorders(tmp_path / "a", SEEDS, x, y))
    cls = PopulationStep if strategy == "vmap" else LoopStep
    step = cls.__call__

    def crash_in_epoch_2(self, xs, ys, at):
        if at == 4:  # the first step of the second epoch: epoch 1's checkpoint and records are on disk
            raise Crash
        step(self, xs, ys, at)
    monkeypatch.setattr(cls, "__call__", crash_in_epoch_2)
    with pytest.raises(Crash):
        together(data, cfg, SEEDS, tmp_path / "b", strategy=strategy,
                 callbacks=gradient_recorders(tmp_path / "b", SEEDS, x, y))
    monkeypatch.undo()
    assert all([r["epoch"] for r in records(tmp_path / "b" / f"pop-{s}", GRADIENTS)] == [0, 1] for s in SEEDS)
    resumed, hr = together(data, cfg, SEEDS, tmp_path / "b", strategy=strategy, resume=True,
                           callbacks=gradient_recorders(tmp_path / "b", SEEDS, x, y))
    for s, a, b in zip(SEEDS, straight, resumed):
        assert gap(a, b) == 0.0
        ra, rb = records(tmp_path / "a" / f"pop-{s}", GRADIENTS), records(tmp_path / "b" / f"pop-{s}", GRADIENTS)
        assert [r["epoch"] for r in rb] == [0, 1, 2, 3] and ra == rb


class Draws(Callback):
    """A callback that draws from the global RNG (as a probe on random examples would) and records what it drew."""

    def __init__(self):
        self.drawn = []

    def on_fit_start(self, state):
        self.drawn.append(torch.rand(2).tolist())

    def on_epoch_end(self, state, metrics):
        self.drawn.append(torch.randint(0, 1000, (3,)).tolist())


@pytest.mark.parametrize("strategy", ["loop", "vmap"])
def test_each_model_draws_its_own_runs_random_numbers(tmp_path, data, strategy):
    """A separate run's callbacks draw from the global RNG where building its model left it; with the starts
    run_population passes (`rng_states`), a population's model i draws exactly those, and its checkpoints save
    that run's RNG."""
    cfg = recipe()
    ref = {s: [Draws()] for s in SEEDS}
    for s in SEEDS:  # each run as run_training makes it: build (seeded), then fit
        fit(net(data, s), data, cfg, seed=s, run_dir=tmp_path / f"sep-{s}", callbacks=ref[s], verbose=False)
    models, starts = [], []
    for s in SEEDS:
        models.append(net(data, s))
        starts.append(rng_state(torch.device("cpu")))
    pop = [[Draws()] for _ in SEEDS]
    fit_population(models, data, cfg, SEEDS, [tmp_path / f"pop-{s}" for s in SEEDS], verbose=False,
                   strategy=strategy, callbacks=pop, rng_states=starts)
    assert [ref[s][0].drawn for s in SEEDS] == [c[0].drawn for c in pop]
    assert len({str(c[0].drawn) for c in pop}) == 3  # the seeds drew different numbers
    for s in SEEDS:
        assert torch.equal(ckpt_tensors(tmp_path / f"sep-{s}")["rng.cpu"],
                           ckpt_tensors(tmp_path / f"pop-{s}")["rng.cpu"])
    # without the starts every model draws from the global state at the call: the same numbers for all
    same = [[Draws()] for _ in SEEDS]
    together(data, cfg, SEEDS, strategy=strategy, callbacks=same)
    assert len({str(c[0].drawn) for c in same}) == 1


def test_snapshot_specs_train_as_a_population_like_alone(tmp_path):
    """RunSpec with Snapshots (a per-step recorder) through run_population on the CPU: same snapshot files."""
    specs = [dataclasses.replace(s, probes=None) for s in ladder_specs("resnet", snapshots=Snapshots(4, 50))]
    data = specs[0].dataset()
    alone = [s.train(tmp_path / "alone") for s in specs]
    outcomes = run_population([s.run for s in specs], [s.folder(tmp_path / "pop") for s in specs], data,
                              verbose=False, hooks=RunHooks(callbacks=lambda d: specs[0].callbacks(data, d)),
                              extras=[s.extra for s in specs])
    for a, o in zip(alone, outcomes):
        sa, sb = a.folder / SNAPSHOTS, o.run_dir / SNAPSHOTS
        assert (sa / "index.json").read_text() == (sb / "index.json").read_text()
        for f in sa.glob("*.safetensors"):
            ta, tb = read_weights(f), read_weights(sb / f.name)
            assert all(torch.equal(ta[k], tb[k]) for k in ta)
