"""What produced each section, and the evidence under each mean. Known answers from the fixture (data/results.json):
two calls wrote it, degradation and jacobian-spectrum by an older call with torch 2.12, euler-stability by the
file's last call; lesion-robustness carries no provenance (written before claims had one) and is credited to the
file's top-level call. degradation's first two effects and three table cells carry per-seed values; its configs are
two groups of runs equal but for the seed, jacobian-spectrum's are in the older {label: config} form."""

import re

import pytest

from skiplab.report import render_report
from skiplab.report import text as T

from .conftest import fixture_results, write_results

OLD_CALL = ("skiplab reproduce degradation jacobian-spectrum --scale quick --seeds 3 --out /home/a-newcomer/"
            "experiments/skiplab-reproductions/a-rather-long-folder-name/without-any-break")
LAST_CALL = "skiplab reproduce --scale quick --seeds 3"


@pytest.fixture(scope="module")
def pages(rendered):
    folder, _ = rendered
    return (folder / "report.html").read_text(), (folder / "report.md").read_text()


def _section(page: str, claim: str) -> str:
    return re.search(rf'<section class="claim" id="claim-{claim}">(.*?)</section>', page, re.S).group(1)


def test_the_run_section_lists_every_call_oldest_first_with_the_claims_it_wrote(pages):
    html, md = pages
    run = re.search(r'<section id="run">(.*?)</section>', html, re.S).group(1)
    calls = re.findall(r"<li>(.*?)</li>", re.search(r'<ol class="calls">(.*?)</ol>', run, re.S).group(1), re.S)
    assert len(calls) == 2 and "<dt>written by</dt><dd>2 calls of skiplab, oldest first</dd>" in run
    assert f"<code>{OLD_CALL}</code>" in calls[0] and "torch 2.12.0+cpu" in calls[0]
    assert "created 2026-11-26T09:00:00Z, seeds 3, scale quick, device cpu, wall time 25 min 00 s" in calls[0]
    assert re.findall(r'href="#claim-([\w-]+)"', calls[0]) == ["degradation", "jacobian-spectrum"]
    assert f"<code>{LAST_CALL}</code>" in calls[1] and "torch 2.13.0+cpu" in calls[1] and "1 h 02 min" in calls[1]
    assert re.findall(r'href="#claim-([\w-]+)"', calls[1]) == ["euler-stability", "lesion-robustness"]
    assert f"1. `{OLD_CALL}`; created 2026-11-26T09:00:00Z" in md and f"2. `{LAST_CALL}`; created 2026-11-27" in md
    assert "   - **claims:** [euler-stability](#claim-euler-stability), [lesion-robustness](#claim-lesion-robustness)" \
        in md


def test_each_claim_names_the_call_and_versions_that_produced_it(pages):
    html, md = pages
    for claim, command, torch in (("degradation", OLD_CALL, "2.12.0"), ("jacobian-spectrum", OLD_CALL, "2.12.0"),
                                  ("euler-stability", LAST_CALL, "2.13.0"), ("lesion-robustness", LAST_CALL, "2.13.0")):
        section = _section(html, claim)
        assert f"<h3>Provenance</h3>\n<dl class=\"facts\"><dt>command</dt><dd><code>{command}</code></dd>" in section
        assert f"torch {torch}+cpu" in section, claim
    assert md.count(f"- **produced by:** `{OLD_CALL}`; created 2026-11-26T09:00:00Z, seeds 3") == 2
    assert md.count("versions skiplab 0.1.0, python 3.11.7, torch 2.13.0+cpu") == 1 + 2  # the Run list, 2 claims


def test_calls_group_claims_by_call_and_fall_back_to_the_top_level():
    results = fixture_results()
    assert [(p["command"], ids) for p, ids in T.calls(results)] == [
        (OLD_CALL, ["degradation", "jacobian-spectrum"]), (LAST_CALL, ["euler-stability", "lesion-robustness"])]
    for c in results["claims"]:
        c.pop("provenance", None)
    (p, ids), = T.calls(results)  # a file from before provenance: its one call wrote everything
    assert p["command"] == LAST_CALL and p["versions"]["torch"] == "2.13.0+cpu" and len(ids) == 4


def test_per_seed_values_sit_folded_under_their_mean(pages):
    html, md = pages
    table = re.search(r'<table class="numbers">(.*?)</table>', _section(html, "degradation"), re.S).group(1)
    first_row = re.search(r"<tbody><tr>(.*?)</tr>", table, re.S).group(1)
    assert ('<td class=num>0.20% ± 0.10%<details class="seeds"><summary>per seed</summary>seeds 0-2: 0.10%, '
            "0.20%, 0.30%</details></td>") in first_row
    assert "0.0123 ± 0.0011<details class=\"seeds\"><summary>per seed</summary>seeds 0-2: 0.0111, 0.0123, 0.0135" \
        in first_row
    assert table.count('<details class="seeds">') == 2  # only cells whose values were written
    assert "8.767e-08 ± 1.519e-07<details class=\"seeds\"><summary>per seed</summary>seeds 0-2: 2.629e-07, " \
           "1.000e-10, 0</details>" in _section(html, "jacobian-spectrum")
    assert ("<details><summary>per-seed values</summary>\n\n- plain, 8, 12,345, train error: seeds 0-2: 0.10%, "
            "0.20%, 0.30%\n- plain, 8, 12,345, loss: seeds 0-2: 0.0111, 0.0123, 0.0135\n\n</details>") in md
    assert "- stages.1.blocks.0, max \\|λ − 1\\|: seeds 0-2: 2.629e-07, 1.000e-10, 0" in md


def test_every_run_config_is_shown_once_per_group_collapsed(pages):
    html, md = pages
    deg = _section(html, "degradation")
    assert "<h3>Configs (5 runs in 2 configurations)</h3>" in deg
    summaries = re.findall(r"<details><summary>(.*?)</summary>", deg)
    assert summaries[-2:] == ["plain8: 3 runs, seeds 0-2", "plain56: 2 runs, seeds 0, 2"]
    assert "<code>../runs/claims/plain56-digits-9f8e7d6c5b4a3f2e/seed-2</code>" in deg
    assert deg.count("&quot;depth&quot;: 56") == 1 and deg.count("&quot;depth&quot;: 8") == 1
    # the older form, {label: config}: one run per label
    jac = _section(html, "jacobian-spectrum")
    assert "<h3>Configs (1 run)</h3>" in jac and "<summary>resnet20 seed 0: 1 run</summary>" in jac
    assert "### Configs (5 runs in 2 configurations)" in md and "<details><summary>plain56: 2 runs, seeds 0, 2" in md
    assert ("- **folders:** `../runs/claims/plain56-digits-9f8e7d6c5b4a3f2e/seed-0`, "
            "`../runs/claims/plain56-digits-9f8e7d6c5b4a3f2e/seed-2`") in md


def test_a_claim_without_provenance_or_configs_renders(tmp_path):
    folder = write_results(tmp_path, {"schema": 1, "command": "skiplab reproduce x", "claims": [
        {"id": "bare", "kind": "verification", "verdict": "inconclusive", "configs": []}]})
    html = render_report(folder)["report.html"].read_text()
    assert "<code>skiplab reproduce x</code>" in _section(html, "bare") and "<h3>Configs" not in html
    assert "created —, seeds —, scale —, device —, wall time —" in html
