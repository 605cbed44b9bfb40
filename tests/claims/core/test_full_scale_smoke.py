"""Every full-scale training configuration of the claims runs a few steps on fixture data (a CIFAR-shaped image
folder), recording its gradient probe, so a GPU run is not the first to find a broken config."""

import json

import numpy as np
from PIL import Image

from skiplab.claims import CLAIMS
from skiplab.claims.core.contract import Context
from skiplab.claims.core.engine import ALIGNMENT, GRADIENTS, Done, RunSpec, execute
from skiplab.claims.depth.ladder import FULL, scale_config

from ..conftest import image_folder


SCALING_CLAIMS = ("width-vs-depth", "compound-scaling", "efficient-blocks")


def test_full_scale_configs_run_a_few_steps(tmp_path, monkeypatch):
    monkeypatch.setenv("SKIPLAB_CACHE", str(tmp_path / "cache"))
    data = image_folder(tmp_path / "imgs")
    ctx = Context(scale="full", seeds=1, data=f"imagefolder:{data}", max_steps=2)
    assert scale_config(ctx).depths == FULL.depths == (20, 56, 110)
    specs, seen = [], set()
    for m in (m for m in CLAIMS.values() if m.CLAIM.id not in SCALING_CLAIMS):  # those have their own test below
        for s in m.runs(ctx):
            # the probed runs; the others (snapshots, NFE, IMP chains, FunctionRuns) have their own smoke tests
            if isinstance(s, RunSpec) and s.probes is not None and s.key not in seen:
                seen.add(s.key)
                specs.append(s)
    # plain/resnet x 20/56/110, the pre-activation pair; densenet-bc100 (dense-shortcuts; its resnet56 is the
    # ladder's), highway x 20/56/110 (highway-gates), 4 linked plain-110 chains (long-range-links; 0 links is plain110)
    assert len(specs) == 2 * 3 + 2 + 1 + 3 + 4
    runs = execute(specs, Done(tmp_path / "runs"), say=lambda s: None)
    for s in specs:
        result = json.loads((runs.dir(s) / "result.json").read_text())
        assert result["status"] == "stopped" and result["final"]["step"] == 2
        assert s.run.train.precision == "bf16" and s.run.train.epochs == 164
        records = json.loads((runs.dir(s) / GRADIENTS).read_text())
        # 130 images at batch 128 is one step per epoch: two epochs ran, probed at init and every 2nd epoch
        assert [r["epoch"] for r in records] == [0, 2]
        # the pre-activation residual runs also record the residual/error alignment through training
        assert s.probes.alignment == (s.run.model.name == "preresnet56")
        if s.probes.alignment:
            assert [r["epoch"] for r in runs.records(s, ALIGNMENT)] == [0, 2]


def test_full_scale_ticket_configs_run_a_few_steps(tmp_path, monkeypatch):
    # lottery-ticket, skips-help-tickets and ticket-transfer share one IMP run set, whose FULL configs (resnet20,
    # plain20, VGG-16; 160 epochs, bf16, rewind to step 2000) are smoked here through the engine: one IMP round per
    # chain, then the baselines and the moved masks (jobs that start after their chains), 2 steps each. To keep this
    # cheap on the CPU: 8x8 images, and VGG-16 at width x0.25 (at full width its 15M weights make checkpoint writes
    # alone take ~20 s here).
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
    assert (_tickets.FULL.depth, _tickets.FULL.vgg_depth, _tickets.FULL.prune.rewind_step) == (20, 16, 2000)
    jobs = _tickets.runs(ctx)
    assert [type(j).__name__ for j in jobs] == ["TicketChain"] * 3 + ["TicketCompare"] * 3
    done = execute(jobs, Done(tmp_path / "runs"), say=lambda s: None)
    ev = _tickets.evidence(ctx, done)
    assert ev["families"] == ["resnet", "plain", "vgg"] and ev["transfer_pairs"]["plain"]["paired"] == 19
    folders = []
    for fam in ev["families"]:
        chain = _tickets.chain_dir(tmp_path / "runs", ctx.data_root, s, fam, 0)
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
    """robustness's runs snapshot their weights (matching reads the accuracy curve): resnet20, plain20, vgg11 at
    width 0.5 and lipresnet20 at the smallest and largest budget, two steps each."""
    from skiplab.claims.adversarial import robustness
    from skiplab.claims.adversarial.robustness.measurement import scale_config
    monkeypatch.setenv("SKIPLAB_CACHE", str(tmp_path / "cache"))
    data = image_folder(tmp_path / "imgs")
    ctx = Context(scale="full", seeds=1, data=f"imagefolder:{data}", max_steps=2)
    s = scale_config(ctx)
    specs = robustness.runs(ctx)
    assert s.train.epochs == 60 and s.train.precision == "bf16" and len(specs) == 3 + 2
    done = execute(specs, Done(tmp_path / "runs"), say=lambda s: None)
    for sp in specs:
        snaps = done.snapshots(sp)
        assert done.result(sp)["status"] == "stopped" and snaps["steps"] == [0, 2], sp.label
        assert all(done.snapshot_file(sp, step).exists() for step in snaps["steps"])


def test_full_scale_scaling_configs_run_a_few_steps(tmp_path, monkeypatch):
    # width-vs-depth, compound-scaling, efficient-blocks: their own recipe (60 epochs, bf16) on the generated tasks;
    # here on the fixture folder, which --data puts in both tasks' place (so the two width-vs-depth tasks share runs)
    from skiplab.claims.scaling import flops_matched as _scaling
    from skiplab.claims.scaling import compound_scaling

    monkeypatch.setenv("SKIPLAB_CACHE", str(tmp_path / "cache"))
    data = image_folder(tmp_path / "imgs")
    ctx = Context(scale="full", seeds=1, data=f"imagefolder:{data}", max_steps=2)
    specs = list({s.key: s for cid in SCALING_CLAIMS for s in CLAIMS[cid].runs(ctx)}.values())
    # width-vs-depth: inception + deep stack; compound-scaling: base, 2 smoke grid points x 3 search seeds,
    # depth/width/resolution only; efficient-blocks: basic blocks at its 2 budgets (its MBConv nets are
    # compound-scaling's on this data)
    assert len(specs) == 2 + 1 + 2 * 3 + 3 + 2
    assert len(compound_scaling.search_runs(ctx)) == 2 and _scaling.FULL.resolution == 22
    runs = execute(specs, Done(tmp_path / "runs"), say=lambda s: None)
    for s in specs:
        result = json.loads((runs.dir(s) / "result.json").read_text())
        assert result["status"] == "stopped" and result["final"]["step"] == 2
        assert s.run.train.precision == "bf16" and s.run.train.epochs == 60
