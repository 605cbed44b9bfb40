"""The statistics of a claim in the report: its judged effects (interval, margin, noise, call), its replication on
two halves of the seeds, and its rule's registration. Known answers from the fixture (data/results.json):
degradation carries three effects, replicates and is registered; jacobian-spectrum is a verification (replication
n/a) whose rule is not registered; euler-stability is not replicated and its rule changed after registration;
lesion-robustness was written before these fields existed and renders as before."""

import math
import re

import pytest

from skiplab.claims.core import stats
from skiplab.report import render_report
from skiplab.report import stats_text as S

from .conftest import fixture_results, write_results


def _section(page: str, claim: str) -> str:
    """The HTML of one claim's section."""
    return re.search(rf'<section class="claim" id="claim-{claim}">(.*?)</section>', page, re.S).group(1)


def _rows(html_table: str) -> list[list[str]]:
    """The cells of each body row (header rows hold no <td>)."""
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", html_table)]
    return [r for r in rows if r]


@pytest.fixture(scope="module")
def pages(rendered):
    folder, _ = rendered
    return (folder / "report.html").read_text(), (folder / "report.md").read_text()


def test_the_intervals_table_prints_rates_in_points_and_the_margin_used_beside_the_registered_one(pages):
    html, md = pages
    table = re.search(r'<table class="intervals">(.*?)</table>', _section(html, "degradation"), re.S).group(1)
    assert re.findall(r"<th>(.*?)</th>", table) == ["effect", "mean", "per seed", "95% interval",
                                                    "margin used (registered)", "noise (1 SE)", "seeds", "call"]
    assert _rows(table) == [
        # a rate: 0.039 is +3.90 points, as are its per-seed values; the margin 0.02 was raised to 2 SE of the
        # binomial noise, 2.88
        ["plain depth effect (points)", "+3.90", "seeds 0-5: +3.50, +4.00, +3.60, +4.20, +4.10, +4.00",
         "[+3.01, +4.79]", "2.88 (registered 2.00)", "1.44, binomial SE of one run on 450 examples", "6", "above"],
        # a plain number: margin used = registered, so it is printed once
        ["early-layer log ratio", "-1.00", "seeds 0-5: -1.20, -0.80, -1.10, -0.90, -1.30, -0.70", "[-1.46, -0.54]",
         "0.69", "0.19, seed-to-seed SE (sd / sqrt(k))", "6", "below"],
        # a tiny value keeps 3 significant digits; null (NaN) bounds and noise read n/a; no per-seed values written
        ["residual slope", "+0.00123", "—", "[n/a, n/a]", "0.00", "n/a, seed-to-seed SE (sd / sqrt(k))", "1",
         "unclear"],
    ]
    assert "| plain depth effect (points) | +3.90 | seeds 0-5: +3.50, +4.00, +3.60, +4.20, +4.10, +4.00 | " \
           "\\[+3.01, +4.79\\] | 2.88 (registered 2.00) | 1.44, binomial SE of one run on 450 examples | 6 | above |" \
           in md
    assert "|---|---:|---|---:|---:|---|---:|---|" in md
    # claims without effects get no table
    assert html.count('<table class="intervals">') == 1 and md.count("### Effects judged") == 1


def test_an_intervals_table_without_per_seed_values_has_no_such_column(tmp_path):
    """A results.json written before effects carried their values renders as before: seven columns."""
    results = fixture_results()
    for c in results["claims"]:
        c["figures"] = []
        for e in c.get("intervals") or []:
            e.pop("values", None)
    paths = render_report(write_results(tmp_path, results))
    html, md = paths["report.html"].read_text(), paths["report.md"].read_text()
    assert "<th>mean</th><th>95% interval</th>" in html and "per seed</th>" not in html
    assert "|---|---:|---:|---:|---|---:|---|" in md


def test_the_verdict_tables_say_whether_each_verdict_replicated(pages):
    html, md = pages
    rows = {re.search(r">([\w-]+)</a>", r[0]).group(1): r[3] for r in _rows(html.split('<section id="run">')[0])}
    # a verification judged no effect: n/a; a claim written before replication was recorded: a dash
    assert rows == {"jacobian-spectrum": "n/a", "euler-stability": "no", "degradation": "yes",
                    "lesion-robustness": "—"}
    assert "<th>verdict</th><th>replicated</th><th>reason</th>" in html
    assert "| claim | kind | verdict | replicated | reason |" in md
    assert "| [jacobian-spectrum](#claim-jacobian-spectrum) | verification | ❌ **not supported** | n/a |" in md
    assert "| [degradation](#claim-degradation) | empirical | ✅ **supported** | yes |" in md


def test_the_replication_line_names_the_halves_and_keeps_their_reasons_folded(pages):
    html, md = pages
    deg, eul = _section(html, "degradation"), _section(html, "euler-stability")
    assert "<dt>replication</dt><dd>replicated: both halves (seeds 0-2, 3-5) say supported<details>" in deg
    assert '<li>seeds 3-5: <span class="badge v-supported">supported</span> plain depth effect +4.10' in deg
    assert "<dd>not replicated: seeds 0-2 say supported, seeds 3-5 say inconclusive<details>" in eul
    assert '<li>seeds 3-5: <span class="badge v-inconclusive">inconclusive</span> a boundary run diverged</li>' in eul
    assert "<dd>n/a: the rule judged no effect over seeds" in _section(html, "jacobian-spectrum")
    assert "<dt>replication</dt>" not in _section(html, "lesion-robustness")
    assert "- **replication:** not replicated: seeds 0-2 say supported, seeds 3-5 say inconclusive" in md
    assert "- seeds 3-5: ⚠️ **inconclusive**: a boundary run diverged" in md


def test_a_changed_or_unregistered_rule_is_shown_in_red_a_registered_one_is_not(pages):
    html, md = pages
    assert "<dt>rule registration</dt><dd>rule registered at 3f2a1b9c0d, 2026-11-20</dd>" in \
        _section(html, "degradation")
    hash_ab = "sha256:" + "ab" * 32
    assert (f'<dd><span class="alert">rule not registered: its hash {hash_ab} is not in the registry</span></dd>'
            in _section(html, "jacobian-spectrum"))
    eul = _section(html, "euler-stability")
    assert ('<span class="alert">rule changed after registration: margin raised from 0.5 to 1.0 after the '
            "solver&#x27;s &lt;b&gt;bug&lt;/b&gt; fix</span><ol class=\"history\">") in eul
    history = re.findall(r"<li>(.*?)</li>", re.search(r'<ol class="history">(.*?)</ol>', eul).group(1))
    assert history == [f"2026-11-20, commit 1a2b3c4, hash sha256:{'c3' * 32}: first registration",
                       f"2026-11-25, commit —, hash sha256:{'d4' * 32}: margin raised from 0.5 to 1.0 after the "
                       "solver&#x27;s &lt;b&gt;bug&lt;/b&gt; fix"]
    assert html.count('class="alert"') == 2 and ".alert { color: #cf222e;" in html
    assert "<dt>rule commit</dt>" not in eul + _section(html, "degradation")  # the registration replaces it
    # Markdown has no colour: the same lines, marked
    assert "- **rule registration:** rule registered at 3f2a1b9c0d, 2026-11-20" in md
    assert f"- **rule registration:** ❗ **rule not registered: its hash {hash_ab} is not in the registry**" in md
    assert f"  - 2026-11-20, commit 1a2b3c4, hash sha256:{'c3' * 32}: first registration" in md


def test_number_formatting_known_answers_and_agreement_with_the_reason_strings():
    assert S.number(0.039, "percent", True) == "+3.90" and S.number(0.0144, "percent") == "1.44"
    assert S.number(-1.0, "", True) == "-1.00" and S.number(0.00123, "", True) == "+0.00123"
    assert S.number(123456.0, "") == "1.23e+05" and S.number(0, "", True) == "+0.00"
    assert S.number(None, "percent") == "n/a" and S.number(float("nan"), "") == "n/a"
    # the report prints an effect as the claim's reason does (claims/core/stats.py)
    for unit in ("percent", ""):
        for x in (0.039, -0.5, 0.00123, 123456.0, 0.0, -7e-5, float("inf")):
            for signed in (False, True):
                assert S.number(x if math.isfinite(x) else None, unit, signed) == stats._num(unit)(x, signed)


def test_seed_ranges_first_effect_and_missing_fields():
    assert [S.seed_range(s) for s in ([0, 1, 2], [3, 4, 5], [0, 2, 4], [3])] == ["0-2", "3-5", "0, 2, 4", "3"]
    claims = {c["id"]: c for c in fixture_results()["claims"]}
    assert S.first_effect(claims["degradation"]) == "plain depth effect: +3.90 [+3.01, +4.79] vs 2.88 points (1 of 3)"
    assert S.first_effect(claims["jacobian-spectrum"]) == "—" and S.first_effect(claims["lesion-robustness"]) == "—"
    assert S.registration(claims["lesion-robustness"]) is None and S.replication_line(claims["lesion-robustness"]) \
        is None
    assert S.level_text([]) == "95% interval" and S.level_text([{"level": 0.9}]) == "90% interval"
