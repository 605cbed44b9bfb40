"""The same claim with the same seeds on the same machine gives identical evidence, run twice from scratch."""

from pathlib import Path

import pytest

from skiplab.claims import Context, get_claim
from skiplab.claims.core.reproduce import reproduce

JUDGED = ("verdict", "reason", "evidence", "numbers", "figures", "intervals", "replication")


@pytest.mark.slow
def test_a_claim_run_twice_from_scratch_gives_identical_evidence(tmp_path: Path):
    # vanishing-gradients trains the depth ladder (plain and residual twins at three depths; two steps each here,
    # short of the first epoch's probe, so the verdict is inconclusive for want of trained records) and probes
    # gradient signals at init: cheap, and its numbers pass through init, data order and probing (training's own
    # determinism is tests/train/test_fit.py's bit-identical resume). Two output folders, so nothing is reused.
    ctx = Context(seeds=2, workers=2, max_steps=2)
    first, second = (reproduce([get_claim("vanishing-gradients")], ctx, tmp_path / name, "test")["results"]["claims"][0]
                     for name in ("a", "b"))
    signals = [s["r_init"] for nets in first["evidence"]["nets"].values() for s in nets]
    assert len(signals) == 12 and all(isinstance(v, float) and v == v for v in signals)  # something was measured
    for key in JUDGED:
        assert first[key] == second[key], key
