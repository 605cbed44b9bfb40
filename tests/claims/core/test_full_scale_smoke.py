"""Every full-scale training configuration of the claims runs a few steps on fixture data (a CIFAR-shaped image
folder), recording its gradient probe, so a GPU run is not the first to find a broken config."""

import json

import numpy as np
import torch
from PIL import Image

from skiplab.claims import CLAIMS

from ..conftest import image_folder
from skiplab.claims.core.contract import Context
from skiplab.claims.depth.ladder import FULL, scale_config
from skiplab.claims.core.engine import ALIGNMENT, GRADIENTS, Runs, execute


SCALING_CLAIMS = ("width-vs-depth", "compound-scaling", "efficient-blocks")


def test_full_scale_configs_run_a_few_steps(tmp_path, monkeypatch):
    monkeypatch.setenv("SKIPLAB_CACHE", str(tmp_path / "cache"))
    data = image_folder(tmp_path / "imgs")
    ctx = Context(scale="full", seeds=1, data=f"imagefolder:{data}", max_steps=2)
    assert scale_config(ctx).depths == FULL.depths == (20, 56, 110)
    specs, seen = [], set()
    for m in (m for m in CLAIMS.values() if m.CLAIM.id not in SCALING_CLAIMS):  # those have their own test below
        for s in m.runs(ctx):
            if s.key not in seen:
                seen.add(s.key)
                specs.append(s)
    # plain/resnet x 20/56/110, the pre-activation pair; densenet-bc100 (dense-shortcuts; its resnet56 is the
    # ladder's), highway x 20/56/110 (highway-gates), 4 linked plain-110 chains (long-range-links; 0 links is plain110)
    assert len(specs) == 2 * 3 + 2 + 1 + 3 + 4
    runs = Runs(tmp_path / "runs")
    execute(specs, runs, say=lambda s: None)
    for s in specs:
        result = json.loads((runs.dir(s) / "result.json").read_text())
        assert result["status"] == "stopped" and result["final"]["step"] == 2
        assert s.run.train.precision == "bf16" and s.run.train.epochs == 164
        records = json.loads((runs.dir(s) / GRADIENTS).read_text())
        # 130 images at batch 128 is one step per epoch: two epochs ran, probed at init and every 2nd epoch
        assert [r["epoch"] for r in records] == [0, 2]
        # the pre-activation residual runs also record the residual/error alignment through training
        assert s.record_alignment == (s.run.model == "preresnet56")
        if s.record_alignment:
            assert [r["epoch"] for r in runs.records(s, ALIGNMENT)] == [0, 2]


def test_full_scale_ticket_configs_run_a_few_steps(tmp_path, monkeypatch):
    # lottery-ticket, skips-help-tickets and ticket-transfer train in measure (IMP rounds depend on each other), so
    # their FULL configs (resnet20, plain20, VGG-19; 160 epochs, bf16, rewind to step 2000) are smoked here: one
    # IMP round, the baselines and the moved masks, 2 steps each. To keep this cheap on the CPU: 8x8 images, and
    # VGG-19 at width x0.25 (at full width its 20M weights make checkpoint writes alone take ~20 s here).
    from skiplab.claims.tickets import run_set as _tickets
    from skiplab.pruning import MASKS, density, load_masks, rewind_file

    monkeypatch.setenv("SKIPLAB_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    for split, n in (("train", 13), ("test", 2)):
        for c in range(10):
            d = tmp_path / "imgs" / split / f"class{c}"
            d.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(d / f"{i}.png")
    ctx = Context(scale="full", seeds=1, data=f"imagefolder:{tmp_path / 'imgs'}", max_steps=2,
                  overrides=("vgg_width=0.25",))
    s = _tickets.scale_config(ctx)
    assert (s.rounds, s.compare_rounds, s.prune.rewind_step, s.vgg_width) == (1, (1,), 2, 0.25)
    assert (_tickets.FULL.depth, _tickets.FULL.vgg_depth, _tickets.FULL.prune.rewind_step) == (20, 19, 2000)
    ev = _tickets.evidence(ctx, tmp_path / "runs")
    assert ev["families"] == ["resnet", "plain", "vgg"] and ev["transfer_pairs"]["plain"]["paired"] == 19
    folders = []
    for fam in ev["families"]:
        chain = _tickets.chain_dir(tmp_path / "runs", ctx, s, fam, 0)
        assert (chain / "round-00" / rewind_file(2)).exists()
        assert round(density(load_masks(chain / "round-01" / MASKS)), 3) == 0.8
        folders += [p for p in chain.iterdir() if p.is_dir()]
    assert len(folders) == 3 * 4 + 2 * 3  # dense + 1 round + 2 baselines per net; 3 moved masks per source
    for d in folders:
        result = json.loads((d / "result.json").read_text())
        assert result["status"] == "stopped" and result["final"]["step"] == 2
        train = json.loads((d / "config.json").read_text())["run"]["train"]
        assert train["precision"] == "bf16" and train["epochs"] == 160 and train["lr"] == 0.1


def test_robustness_full_scale_training_configs_run_a_few_steps(tmp_path, monkeypatch):
    """robustness trains inside its measure step (matching needs weight snapshots along training, which claims runs
    do not keep), so its runs(ctx) is empty and its full-scale configs run here through its own job function:
    resnet20, plain20, vgg11 at width 0.5 and lipresnet20 at the smallest and largest budget, two steps each."""
    from skiplab.claims.adversarial.robustness.measurement import _jobs, scale_config, train_job
    monkeypatch.setenv("SKIPLAB_CACHE", str(tmp_path / "cache"))
    data = image_folder(tmp_path / "imgs")
    ctx = Context(scale="full", seeds=1, data=f"imagefolder:{data}", max_steps=2)
    s = scale_config(ctx)
    jobs = _jobs(ctx, s)
    assert s.train.epochs == 60 and s.train.precision == "bf16" and len(jobs) == 3 + 2
    threads = torch.get_num_threads()
    try:
        for j in jobs:
            r = train_job({**j, "threads": 1})  # small nets, few images: one thread is faster on the 2 busy cores
            assert r["status"] == "stopped" and r["steps"] == [0, 2] and len(r["weights"]) == 2, j["key"]
    finally:
        torch.set_num_threads(threads)


def test_full_scale_scaling_configs_run_a_few_steps(tmp_path, monkeypatch):
    # width-vs-depth, compound-scaling, efficient-blocks: their own recipe (60 epochs, bf16) on the generated tasks;
    # here on the fixture folder, which --data puts in both tasks' place (so the two width-vs-depth tasks share runs)
    from skiplab.claims.scaling import flops_matched as _scaling
    from skiplab.claims.scaling import compound_scaling

    monkeypatch.setenv("SKIPLAB_CACHE", str(tmp_path / "cache"))
    data = image_folder(tmp_path / "imgs")
    ctx = Context(scale="full", seeds=1, data=f"imagefolder:{data}", max_steps=2)
    specs = list({s.key: s for cid in SCALING_CLAIMS for s in CLAIMS[cid].runs(ctx)}.values())
    # width-vs-depth: inception + deep stack; compound-scaling: base, 2 smoke grid points, depth/width/resolution
    # only; efficient-blocks: basic blocks at its 2 budgets (its MBConv nets are compound-scaling's)
    assert len(specs) == 2 + 1 + 2 + 3 + 2
    assert len(compound_scaling.search_runs(ctx)) == 2 and _scaling.FULL.resolution == 22
    runs = Runs(tmp_path / "runs")
    execute(specs, runs, say=lambda s: None)
    for s in specs:
        result = json.loads((runs.dir(s) / "result.json").read_text())
        assert result["status"] == "stopped" and result["final"]["step"] == 2
        assert s.run.train.precision == "bf16" and s.run.train.epochs == 60
