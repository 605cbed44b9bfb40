"""reversible-memory: the verdict's three outcomes on synthetic evidence of 6 seeds, its replication on seed
halves, and present() on it."""

from skiplab.claims import CLAIMS
from skiplab.claims.memory import reversible_memory as R
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from skiplab.claims.core.stats import judge

SEEDS = 6
RECON = (1e-6, 2e-6, 1e-6, 1.5e-6, 2e-6, 1e-6)
GRAD = (1e-6,) * SEEDS
# per timed depth, per seed: the median step-time ratio RevNet / ResNet of that seed's repeats
FAST = ((1.3, 1.4, 1.35, 1.3, 1.4, 1.35), (1.2, 1.3, 1.25, 1.2, 1.3, 1.25))


def evidence(recon=RECON, grad=GRAD, rev=(100, 101, 102), res=(100, 500, 2400), ratios=FAST):
    return {"seeds": list(range(SEEDS)), "verify_blocks": 102, "recon": list(recon), "grad": list(grad),
            "recon_fp32_stream": [1e-3] * SEEDS, "blocks": [21, 105, 501],
            "saved": {"revnet": list(rev), "resnet": list(res)}, "timed": [21, 105],
            "time_ratio": [list(r) for r in ratios], "peak_blocks": [21, 105],
            "peak": {"revnet": [10 * 2 ** 20, 11 * 2 ** 20], "resnet": [20 * 2 ** 20, None]}}


def test_all_outcomes():
    v = R.verdict(evidence())
    assert v.verdict == SUPPORTED and "6 seeds" in v.reason
    # verification fails on every seed: a finding, whatever the memory shows
    assert R.verdict(evidence(recon=(2e-4, 3e-4) * 3)).verdict == NOT_SUPPORTED
    assert R.verdict(evidence(grad=(2e-5, 3e-5) * 3)).verdict == NOT_SUPPORTED
    assert R.verdict(evidence(rev=(100, 150, 200))).verdict == NOT_SUPPORTED  # memory grows
    # too slow at the deeper timed depth: its interval lies above 1.6
    assert R.verdict(evidence(ratios=(FAST[0], (1.7, 1.8, 1.75, 1.8, 1.7, 1.75)))).verdict == NOT_SUPPORTED
    assert R.verdict(evidence(recon=(1e-6, 2e-5) * 3)).verdict == INCONCLUSIVE  # seeds disagree
    # the time ratio's interval straddles 1.6
    assert R.verdict(evidence(ratios=(FAST[0], (1.4, 1.8, 1.5, 1.7, 1.6, 1.65)))).verdict == INCONCLUSIVE
    assert R.verdict(evidence(res=(100, 120, 150))).verdict == INCONCLUSIVE  # the baseline does not grow


def test_replication_halves_disagree():
    # one seed of the second half times 1.58 at 105 blocks: all six lie below 1.6, that half's interval does not
    ratios = (FAST[0], (1.2, 1.25, 1.2, 1.25, 1.58, 1.2))
    j = judge(R.verdict, evidence(ratios=ratios), SEEDS)
    assert j["verdict"].verdict == SUPPORTED
    assert [h["verdict"] for h in j["replication"]["halves"]] == [SUPPORTED, INCONCLUSIVE]
    assert j["replication"]["replicated"] is False
    assert judge(R.verdict, evidence(), SEEDS)["replication"]["replicated"] is True


def test_registered_and_presentable():
    assert CLAIMS["reversible-memory"] is R and R.runs.__call__
    numbers, figs = R.present(evidence())
    assert len(numbers["rows"]) == 3 + 3 * 2 + 2 + 2 * 2
    assert [p["kind"] for p in figs[0]["panels"]] == ["line", "line", "line"]
