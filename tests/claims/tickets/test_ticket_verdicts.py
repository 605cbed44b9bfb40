"""The three ticket claims' verdicts on synthetic evidence with 6 seeds: each returns each of its three outcomes,
and an effect whose seed halves disagree is not replicated.

Accuracies are rates on 450 held-out test images (digits' split; the quick run now has 10000), so every margin is
at least 2 binomial standard errors of the two accuracies compared (e.g. 2.1 points at 97% vs 98%), and that noise
also widens each interval: the values below are chosen with those widths in mind (see the comments)."""

import math

from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from skiplab.claims.core.stats import judge
from skiplab.claims.tickets import lottery_ticket as lt
from skiplab.claims.tickets import skips_help_tickets as sh
from skiplab.claims.tickets import ticket_transfer as tt
from skiplab.claims.tickets.accuracies import frontier

R, COMPARE = 13, [4, 8, 11, 13]  # 0.8^8 = 16.8%, 0.8^11 = 8.6%, 0.8^13 = 5.5%: three sparse compared rounds
SEEDS, TEST = 6, 450


def net(ticket, reinit=0.9, shuffled=0.9, transfer=None, dense=0.97):
    """ticket(r, seed) -> accuracy at round r >= 1; baselines constant or functions (i, seed) -> accuracy."""
    call = lambda f, *a: f(*a) if callable(f) else f  # noqa: E731
    out = {"model": "resnet14", "density": [[0.8 ** r for r in range(R + 1)]] * SEEDS,
           "ticket": [[dense] + [call(ticket, r, s) for r in range(1, R + 1)] for s in range(SEEDS)],
           "reinit": [[call(reinit, i, s) for i in range(len(COMPARE))] for s in range(SEEDS)],
           "shuffled": [[call(shuffled, i, s) for i in range(len(COMPARE))] for s in range(SEEDS)]}
    for key, val in (transfer or {}).items():
        out[key] = [[call(val, i, s) for i in range(len(COMPARE))] for s in range(SEEDS)]
    return out


def evidence(res, plain=None):
    ev = {"seeds": list(range(SEEDS)), "rounds": list(range(R + 1)), "compare_rounds": COMPARE,
          "families": ["resnet", "plain"], "nets": {"resnet": res, "plain": plain or net(0.97)},
          "examples": TEST, "transfer_pairs": {"plain": {"paired": 13, "layers": 13, "unpaired": []}}}
    ev["frontier"] = {f: [frontier(row) for row in ev["nets"][f]["ticket"]] for f in ("resnet", "plain")}
    return ev


def jitter(value):
    """value +- 0.2 points alternating over seeds: a little seed-to-seed spread."""
    return lambda _, s: value + (0.002 if s % 2 else -0.002)


def test_lottery_ticket_verdicts():
    # dense 97%, ticket 98%: dense - ticket -1 point, whose interval (+-2.7 points) lies below its 2.1-point
    # margin; the baselines at 90% are 8 points behind (margin 3.1, interval +-4)
    good = evidence(net(jitter(0.98), reinit=0.90, shuffled=0.90))
    assert lt.verdict(good).verdict == SUPPORTED
    assert "dense - ticket" in lt.verdict(good).reason and "margin" in lt.verdict(good).reason
    lt.present(good)
    misses = lt.verdict(evidence(net(0.85)))  # 12 points below dense when sparse (margin 3.7)
    assert misses.verdict == NOT_SUPPORTED and "misses" in misses.reason
    same = lt.verdict(evidence(net(0.98, reinit=0.99)))  # the re-init does as well as the ticket
    assert same.verdict == NOT_SUPPORTED and "re-initialized" in same.reason
    close = lt.verdict(evidence(net(0.98, reinit=0.95)))  # 3 points ahead of re-init: [-0.1, +6.1] vs 2.4
    assert close.verdict == INCONCLUSIVE
    broken = lt.verdict(evidence(net(0.98, reinit=math.nan)))
    assert broken.verdict == INCONCLUSIVE and "precondition" in broken.reason


def test_lottery_ticket_halves_disagree():
    # seeds 0-2: the ticket 4 points above dense and 19 above both baselines (supported: with 3 seeds the t-interval
    # is +-4.3 binomial SE wide, so matching needs a ticket well above dense); seeds 3-5: 15 points below dense
    split = evidence(net(lambda r, s: 0.99 if s < 3 else 0.80, reinit=0.80, shuffled=0.80, dense=0.95))
    j = judge(lt.verdict, split, SEEDS)
    assert [h["verdict"] for h in j["replication"]["halves"]] == [SUPPORTED, NOT_SUPPORTED]
    assert j["verdict"].verdict == INCONCLUSIVE and j["replication"]["replicated"] is False


def stops_at(last):
    """A ticket matching dense (97.8% vs 98%) up to round `last` (an int, or a function of the seed), then 90%."""
    end = last if callable(last) else (lambda s: last)
    return lambda r, s: 0.978 if r <= end(s) else 0.9


def twins(res_last, plain_last=8, plain_dense=0.98):
    return evidence(net(stops_at(res_last), dense=0.98), net(stops_at(plain_last), dense=plain_dense))


def test_skips_help_tickets_verdicts():
    # frontier differences 3, 4, 3, 4, 3, 4 rounds: mean 3.5 [2.9, 4.1] above the 2-round margin
    helped = twins(lambda s: 11 + s % 2)
    assert sh.verdict(helped).verdict == SUPPORTED
    sh.present(helped)
    assert sh.verdict(twins(8, 9)).verdict == NOT_SUPPORTED  # the plain ticket lasts a round longer
    # differences 3, 1, 3, 1, 3, 1: mean 2 [0.8, 3.2] straddles the margin
    assert sh.verdict(twins(lambda s: 9 + 2 * (s % 2 == 0))).verdict == INCONCLUSIVE
    never = sh.verdict(evidence(net(0.98, dense=0.98), net(0.98, dense=0.98)))
    assert never.verdict == INCONCLUSIVE and "neither" in never.reason
    unequal = sh.verdict(twins(11, plain_dense=0.90))
    assert unequal.verdict == INCONCLUSIVE and "precondition" in unequal.reason


def test_skips_help_tickets_halves_disagree():
    # seeds 0-2: the residual frontier 3 rounds later; seeds 3-5: 1 round earlier
    j = judge(sh.verdict, twins(lambda s: 11 if s < 3 else 7), SEEDS)
    assert [h["verdict"] for h in j["replication"]["halves"]] == [SUPPORTED, NOT_SUPPORTED]
    assert j["replication"]["replicated"] is False


def transfer(moved, moved_shuffled, own=0.98, own_shuffled=0.90):
    keys = {"transfer-plain": moved, "transfer-plain-init": moved, "transfer-plain-shuffled": moved_shuffled}
    return evidence(net(own, shuffled=own_shuffled, transfer=keys))


def test_ticket_transfer_verdicts():
    # own ticket 8 points above its shuffled mask (masks matter); the moved mask 9 points above its shuffled
    # control and 1 point above the own ticket: own - moved [-3.1, +1.1] lies below its 1.6-point margin
    good = transfer(0.99, 0.90)
    assert tt.verdict(good).verdict == SUPPORTED
    tt.present(good)
    assert tt.verdict(transfer(0.93, 0.95)).verdict == NOT_SUPPORTED  # below its shuffled control
    assert tt.verdict(transfer(0.88, 0.85)).verdict == NOT_SUPPORTED  # 10 points below the own ticket
    # 6 points above its shuffled control ([+1.7, +10.3] vs a 3.4-point margin), 2 below the own ticket
    assert tt.verdict(transfer(0.96, 0.90)).verdict == INCONCLUSIVE
    nothing = tt.verdict(transfer(0.99, 0.90, own_shuffled=0.99))  # masks do not matter: no test
    assert nothing.verdict == INCONCLUSIVE and "do not matter" in nothing.reason


def test_ticket_transfer_halves_disagree():
    # seeds 0-2: the moved mask 4 points above the own ticket and 19 above its shuffled control; seeds 3-5: 15
    # points below its shuffled control
    split = transfer(lambda i, s: 0.99 if s < 3 else 0.80, lambda i, s: 0.80 if s < 3 else 0.95, own=0.95,
                     own_shuffled=0.80)
    j = judge(tt.verdict, split, SEEDS)
    assert [h["verdict"] for h in j["replication"]["halves"]] == [SUPPORTED, NOT_SUPPORTED]
    assert j["replication"]["replicated"] is False
