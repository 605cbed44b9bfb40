"""The three ticket claims' verdicts on synthetic evidence: each returns each of its three outcomes."""

import math

from skiplab.claims.tickets import lottery_ticket as lt
from skiplab.claims.tickets import skips_help_tickets as sh
from skiplab.claims.tickets import ticket_transfer as tt
from skiplab.claims.tickets.accuracies import frontier

R, COMPARE = 13, [4, 8, 11, 13]  # 0.8^8 = 16.8%, 0.8^11 = 8.6%, 0.8^13 = 5.5%: three sparse compared rounds


def net(ticket, reinit=0.9, shuffled=0.9, transfer=None, seeds=3, dense=0.98):
    """ticket(r, seed) -> accuracy at round r >= 1; baselines constant or functions (i, seed) -> accuracy."""
    call = lambda f, *a: f(*a) if callable(f) else f  # noqa: E731
    out = {"model": "resnet14", "density": [[0.8 ** r for r in range(R + 1)]] * seeds,
           "ticket": [[dense] + [call(ticket, r, s) for r in range(1, R + 1)] for s in range(seeds)],
           "reinit": [[call(reinit, i, s) for i in range(len(COMPARE))] for s in range(seeds)],
           "shuffled": [[call(shuffled, i, s) for i in range(len(COMPARE))] for s in range(seeds)]}
    for key, val in (transfer or {}).items():
        out[key] = [[call(val, i, s) for i in range(len(COMPARE))] for s in range(seeds)]
    return out


def evidence(res, plain=None):
    ev = {"seeds": [0, 1, 2], "rounds": list(range(R + 1)), "compare_rounds": COMPARE,
          "families": ["resnet", "plain"], "nets": {"resnet": res, "plain": plain or net(0.98)},
          "transfer_pairs": {"plain": {"paired": 13, "layers": 13, "unpaired": []}}}
    ev["frontier"] = {f: [frontier(row) for row in ev["nets"][f]["ticket"]] for f in ("resnet", "plain")}
    return ev


def test_lottery_ticket_verdicts():
    good = evidence(net(0.975, reinit=0.95, shuffled=0.94))
    assert lt.verdict(good).verdict == "supported"
    lt.present(good)
    assert lt.verdict(evidence(net(0.90))).verdict == "not supported"  # misses dense by 8 points when sparse
    same = evidence(net(0.975, reinit=0.972, shuffled=0.94))  # re-init does as well as the ticket
    assert lt.verdict(same).verdict == "not supported" and "re-initialized" in lt.verdict(same).reason
    mixed = evidence(net(0.975, reinit=lambda i, s: 0.95 if s else 0.97))  # one seed's re-init is close
    assert lt.verdict(mixed).verdict == "inconclusive"
    broken = evidence(net(0.975, reinit=math.nan))
    assert lt.verdict(broken).verdict == "inconclusive" and "precondition" in lt.verdict(broken).reason


def test_skips_help_tickets_verdicts():
    stops_at = lambda last: (lambda r, s: 0.978 if r <= last else 0.9)  # noqa: E731
    helped = evidence(net(stops_at(11)), net(stops_at(8)))
    assert sh.verdict(helped).verdict == "supported"
    sh.present(helped)
    assert sh.verdict(evidence(net(stops_at(8)), net(stops_at(9)))).verdict == "not supported"
    one_seed = evidence(net(lambda r, s: 0.978 if r <= (11 if s == 0 else 8) else 0.9), net(stops_at(8)))
    assert sh.verdict(one_seed).verdict == "inconclusive"
    never = evidence(net(0.98), net(0.98))
    assert sh.verdict(never).verdict == "inconclusive" and "neither" in sh.verdict(never).reason
    unequal = evidence(net(stops_at(11)), net(stops_at(8), dense=0.90))
    assert "precondition" in sh.verdict(unequal).reason


def transfer(moved, moved_shuffled, own=0.975, own_shuffled=0.93):
    keys = {"transfer-plain": moved, "transfer-plain-init": moved, "transfer-plain-shuffled": moved_shuffled}
    return evidence(net(own, shuffled=own_shuffled, transfer=keys))


def test_ticket_transfer_verdicts():
    good = transfer(0.97, 0.93)
    assert tt.verdict(good).verdict == "supported"
    tt.present(good)
    assert tt.verdict(transfer(0.935, 0.93)).verdict == "not supported"  # no better than its shuffled control
    assert tt.verdict(transfer(0.95, 0.90)).verdict == "not supported"  # 2.5 points below the own ticket
    assert tt.verdict(transfer(lambda i, s: 0.97 if s else 0.93, 0.925)).verdict == "inconclusive"
    nothing = transfer(0.97, 0.97, own_shuffled=0.972)  # masks do not matter: no test
    assert tt.verdict(nothing).verdict == "inconclusive" and "do not matter" in tt.verdict(nothing).reason
