"""reversible-memory: the verdict's three outcomes on synthetic evidence, and present() on it."""

from skiplab.claims import CLAIMS
from skiplab.claims.memory import reversible_memory as R
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED


def evidence(recon=(1e-6, 2e-6), grad=(1e-6, 1e-6), rev=(100, 101, 102), res=(100, 500, 2400),
             ratios=((1.3, 1.4, 1.5), (1.2, 1.3, 1.4))):
    return {"seeds": [0, 1], "verify_blocks": 102, "recon": list(recon), "grad": list(grad),
            "blocks": [21, 105, 501], "saved": {"revnet": list(rev), "resnet": list(res)},
            "timed": [21, 105], "time_ratio": [list(r) for r in ratios], "peak_blocks": [21, 105],
            "peak": {"revnet": [10 * 2 ** 20, 11 * 2 ** 20], "resnet": [20 * 2 ** 20, None]}}


def test_all_outcomes():
    assert R.verdict(evidence()).verdict == SUPPORTED
    # verification fails on every seed: a finding, whatever the memory shows
    assert R.verdict(evidence(recon=(2e-4, 3e-4))).verdict == NOT_SUPPORTED
    assert R.verdict(evidence(grad=(2e-5, 3e-5))).verdict == NOT_SUPPORTED
    assert R.verdict(evidence(rev=(100, 150, 200))).verdict == NOT_SUPPORTED  # memory grows
    assert R.verdict(evidence(ratios=((1.3, 1.4), (1.7, 1.8)))).verdict == NOT_SUPPORTED  # too slow
    assert R.verdict(evidence(recon=(1e-6, 2e-5))).verdict == INCONCLUSIVE  # seeds disagree
    assert R.verdict(evidence(ratios=((1.3, 1.4), (1.5, 1.7, 1.8)))).verdict == INCONCLUSIVE
    assert R.verdict(evidence(res=(100, 120, 150))).verdict == INCONCLUSIVE  # the baseline does not grow


def test_registered_and_presentable():
    assert CLAIMS["reversible-memory"] is R and R.runs.__call__
    numbers, figs = R.present(evidence())
    assert len(numbers["rows"]) == 2 + 3 * 2 + 2 + 2 * 2
    assert [p["kind"] for p in figs[0]["panels"]] == ["line", "line", "line"]
