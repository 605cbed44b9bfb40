"""The engine trains runs that differ only in seed as one population in one process, into the folders each run would
have alone, with the same weights and the same records (probes, snapshots); runs that count NFE, or several
workers, train alone."""

import torch

from skiplab.claims.core.engine import Done, execute
from skiplab.claims.core.population_job import Population, group
from skiplab.claims.core.runspec import ALIGNMENT, GRADIENTS, SNAPSHOTS, Probes, RunSpec, Snapshots
from skiplab.train.checkpoint import read_weights
from skiplab.train.config import TrainConfig
from skiplab.train.experiment import DataConfig, ModelConfig, RunConfig

TRAIN = TrainConfig(epochs=1, batch_size=64, max_steps=3, max_eval_examples=100)


def spec(seed, probes=None, depth=8, model="resnet8", **kw):
    run = RunConfig(model=ModelConfig(model, {"depth": depth}), data=DataConfig("digits"), train=TRAIN, seed=seed)
    return RunSpec(run, probes=probes, **kw)


def test_group_joins_seed_twins_that_record_the_same_things():
    wave = [spec(0), spec(1), spec(2), spec(0, probes=Probes()), spec(3, depth=14), spec(4, depth=14),
            spec(5, depth=20), spec(6, probes=Probes()), spec(7, probes=Probes()), spec(8, nfe=True),
            spec(9, nfe=True)]
    units = group(wave)
    pops = [u for u in units if isinstance(u, Population)]
    # the recorders are part of what twins share: runs with probes join runs with the same probes (each population
    # in the place of its first member)
    assert [[m.run.seed for m in p.members] for p in pops] == [[0, 1, 2], [0, 6, 7], [3, 4]]
    alone = [u for u in units if not isinstance(u, Population)]
    # NFE counts stay alone: under vmap they would be counted on the population's stateless net
    assert [(u.run.seed, u.nfe) for u in alone] == [(5, False), (8, True), (9, True)]
    assert group([spec(0)]) == [spec(0)]  # a lone run is not a population


def _weights(done, s):
    """The checkpoint's tensors: the model's, its optimizer state, and the process RNG (a population keeps each run's
    own stream of it: the state building that run's model left, as the run alone has)."""
    return read_weights(done.dir(s) / "checkpoint.safetensors")


def test_population_trains_into_each_runs_own_folder_with_its_own_weights(tmp_path):
    specs = [spec(0), spec(1), spec(2)]
    said = []
    together = execute(specs, Done(tmp_path / "together"), say=said.append, workers=1)
    alone = execute(specs, Done(tmp_path / "alone"), say=lambda s: None, workers=1, populations=False)
    assert any("(together)" in line for line in said)
    for s in specs:
        assert together.dir(s) == s.folder(tmp_path / "together")
        assert together.result(s)["status"] == alone.result(s)["status"] == "stopped"  # (max_steps)
        assert (together.dir(s) / "config.json").read_text() == (alone.dir(s) / "config.json").read_text()
        a, b = _weights(together, s), _weights(alone, s)
        # on the CPU a population steps its models one after another (strategy "loop"): bit for bit
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    w0, w1 = _weights(together, specs[0]), _weights(together, specs[1])
    assert any(not torch.equal(w0[k], w1[k]) for k in w0)  # different seeds, different nets
    again = []
    execute(specs, Done(tmp_path / "together"), say=again.append, workers=1)
    assert all("reused" in line for line in again) and len(again) == 3


def test_what_only_a_population_refuses_falls_back_to_runs_alone(tmp_path, monkeypatch):
    from skiplab.errors import ConfigError
    from skiplab.train import population

    def refuse(*a, **k):
        raise ConfigError("population: the model draws random numbers in its forward pass")
    monkeypatch.setattr(population, "run_population", refuse)
    specs = [spec(0), spec(1)]
    done = execute(specs, Done(tmp_path), say=lambda s: None, workers=1)
    assert all(done.result(s)["status"] == "stopped" for s in specs)


def test_runs_with_probes_and_snapshots_train_as_a_population_with_the_records_they_have_alone(tmp_path):
    specs = [spec(s, probes=Probes(examples=64, alignment=True, held_out=64), model="preresnet20",
                  snapshots=Snapshots(every=2, examples=50)) for s in (0, 1, 2)]
    assert len(group(specs)) == 1
    said = []
    together = execute(specs, Done(tmp_path / "together"), say=said.append, workers=1)
    alone = execute(specs, Done(tmp_path / "alone"), say=lambda s: None, workers=1, populations=False)
    assert any("(together)" in line for line in said)
    for s in specs:
        a, b = alone.dir(s), together.dir(s)
        assert b == s.folder(tmp_path / "together") and (b / "config.json").read_text() == (
            a / "config.json").read_text()
        for name in (GRADIENTS, ALIGNMENT, f"{SNAPSHOTS}/index.json"):  # bit for bit: the CPU's loop
            assert (b / name).read_text() == (a / name).read_text()
        assert sorted(p.name for p in (b / SNAPSHOTS).iterdir()) == sorted(p.name for p in (a / SNAPSHOTS).iterdir())
        wa, wb = _weights(alone, s), _weights(together, s)
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    g0 = (together.dir(specs[0]) / GRADIENTS).read_text()
    assert g0 != (together.dir(specs[1]) / GRADIENTS).read_text()  # each run recorded its own model
