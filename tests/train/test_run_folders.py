"""Run folders are found by the hash of their config, so a refactoring must not move them: users have finished runs
on disk. The names below were computed by the code of commit 0b941ec and moved once by PROTOCOL 3 (a finite loss
blow-up is divergence, issue 25); change them only with a PROTOCOL bump."""

import dataclasses
from pathlib import Path

from skiplab.claims.core.contract import Context
from skiplab.claims.depth import ladder
from skiplab.claims.tickets import run_set
from skiplab.data import load_dataset
from skiplab.train.experiment import ModelConfig, RunConfig, locate_run

OUT = Path("runs")


def test_train_run_folders_keep_their_names():
    digits = load_dataset("digits")
    assert locate_run(RunConfig(), digits, OUT) == OUT / "train/resnet20-digits-253b560e11/seed-0"
    smaller = RunConfig(model=ModelConfig("resnet20", {"depth": 14, "width_mult": 0.25}))
    assert locate_run(smaller, digits, OUT) == OUT / "train/resnet20-digits-9ea61635ca/seed-0"
    assert (locate_run(smaller, digits, OUT, "claims", {"probes": {"gradients": 1}})
            == OUT / "claims/resnet20-digits-f8981d2eeb/seed-0")


def test_claims_run_folders_keep_their_names():
    assert ladder.spec(Context(), "preresnet", 20, 0).folder(OUT) == OUT / "claims/preresnet20-digits-7c5679d1b3/seed-0"
    assert ladder.spec(Context(), "plain", 14, 1).folder(OUT) == OUT / "claims/plain20-digits-89dc6612b7/seed-1"
    # the ticket run set's quick scale moved to mnist1d-10k (issue 21): a new chain; the digits chain keeps its name
    old_quick = dataclasses.replace(run_set.QUICK, data="digits", dims=2, width_mult=0.25)
    assert run_set.chain_dir(OUT, None, old_quick, "resnet", 0) == OUT / "tickets/resnet-digits-69e68ef892/seed-0"
    assert (run_set.chain_dir(OUT, None, run_set.scale_config(Context()), "resnet", 0)
            == OUT / "tickets/resnet-mnist1d-10k-7f156c37ea/seed-0")
