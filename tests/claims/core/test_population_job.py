"""The engine trains runs that differ only in seed (and record nothing) as one population in one process, into the
folders each run would have alone, with the same weights; runs with recorders, or several workers, train alone."""

import torch

from skiplab.claims.core.engine import Done, execute
from skiplab.claims.core.population_job import Population, group
from skiplab.claims.core.runspec import Probes, RunSpec
from skiplab.train.checkpoint import read_weights
from skiplab.train.config import TrainConfig
from skiplab.train.experiment import DataConfig, ModelConfig, RunConfig

TRAIN = TrainConfig(epochs=1, batch_size=64, max_steps=3, max_eval_examples=100)


def spec(seed, probes=None, depth=8):
    run = RunConfig(model=ModelConfig("resnet8", {"depth": depth}), data=DataConfig("digits"), train=TRAIN, seed=seed)
    return RunSpec(run, probes=probes)


def test_group_joins_only_seed_twins_that_record_nothing():
    wave = [spec(0), spec(1), spec(2), spec(0, probes=Probes()), spec(3, depth=14), spec(4, depth=14),
            spec(5, depth=20)]
    units = group(wave)
    pops = [u for u in units if isinstance(u, Population)]
    assert [[m.run.seed for m in p.members] for p in pops] == [[0, 1, 2], [3, 4]]
    alone = [u for u in units if not isinstance(u, Population)]
    assert [(u.run.seed, u.probes is not None) for u in alone] == [(0, True), (5, False)]
    assert group([spec(0)]) == [spec(0)]  # a lone run is not a population


def _weights(done, s):
    """The model's tensors in the checkpoint (its optimizer state too; not the process RNG, which a population
    saves once for all: training draws nothing from it)."""
    return {k: v for k, v in read_weights(done.dir(s) / "checkpoint.safetensors").items() if not k.startswith("rng")}


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
