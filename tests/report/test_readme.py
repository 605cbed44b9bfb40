"""The README verdict-table generator on the report fixture: the table's known rows, the line naming the results
file, a rewrite that touches only the lines between the markers, and the command's exit codes."""

import pytest

from skiplab.report import ReportError
from skiplab.report.readme import BEGIN, END, current_block, main, update_readme, verdict_block

from .conftest import FIXTURE, fixture_results

README = f"# title\n\nintro | 1.5x\n\n{BEGIN}\n| a hand-typed | table |\n{END}\n\n## after\n\n3 seeds\n"


def _one_call() -> dict:
    """The fixture as one call wrote it: its claims without their own provenance (the fixture has two calls)."""
    results = fixture_results()
    for c in results["claims"]:
        c.pop("provenance", None)
    return results


def test_the_block_has_one_row_per_claim_and_names_its_source():
    lines = verdict_block(_one_call(), "results/quick/results.json").splitlines()
    assert lines[:2] == ["| claim | kind | verdict | replicated | first judged effect (all in the report) |",
                         "|---|---|---|---|---|"]
    assert lines[2:6] == [
        "| [degradation](docs/claims.md#degradation) | empirical | ✅ **supported** | yes | "
        r"plain depth effect: +3.90 \[+3.01, +4.79\] vs 2.88 points (1 of 3) |",
        "| [jacobian-spectrum](docs/claims.md#jacobian-spectrum) | verification | ❌ **not supported** | n/a | — |",
        "| [euler-stability](docs/claims.md#euler-stability) | verification + empirical | ⚠️ **inconclusive** | no "
        "| — |",
        "| [lesion-robustness](docs/claims.md#lesion-robustness) | empirical | ✅ **supported** | — | — |"]
    assert lines[6:] == ["", "Generated from `results/quick/results.json`, written by `skiplab reproduce --scale "
                         "quick --seeds 3` (3 seeds, 2026-11-27, 62.1 min on cpu); regenerate with "
                         "`python -m skiplab.report.readme`."]


def test_a_merged_file_names_each_call_with_the_claims_it_wrote():
    results = _one_call()
    later = {"command": "skiplab reproduce euler-stability", "created": "2026-12-05T10:00:00Z", "seeds": 3,
             "scale": "quick", "device": "cpu", "wall_time": 90.0}
    results["claims"][2]["provenance"] = later
    lines = verdict_block(results, "results/quick/results.json").splitlines()
    assert lines[6:] == [
        "", "Generated from `results/quick/results.json` (regenerate with `python -m skiplab.report.readme`), "
            "written by 2 calls:", "",
        "- `skiplab reproduce --scale quick --seeds 3` (3 seeds, 2026-11-27, 62.1 min on cpu): degradation, "
        "jacobian-spectrum, lesion-robustness",
        "- `skiplab reproduce euler-stability` (3 seeds, 2026-12-05, 1.5 min on cpu): euler-stability"]


def test_only_the_lines_between_the_markers_change():
    new = update_readme(README, "| x |\n|---|")
    assert new == f"# title\n\nintro | 1.5x\n\n{BEGIN}\n| x |\n|---|\n{END}\n\n## after\n\n3 seeds\n"
    assert update_readme(new, "| x |\n|---|") == new  # idempotent
    for bad in ("no markers", f"{END}\n{BEGIN}\n", f"{BEGIN}\n{BEGIN}\n{END}\n"):
        with pytest.raises(ReportError, match="expected one <!-- verdicts:begin --> line"):
            current_block(bad)


def test_the_command_rewrites_checks_and_names_the_file_relative_to_the_readme(tmp_path, capsys):
    results = tmp_path / "results" / "quick" / "results.json"
    results.parent.mkdir(parents=True)
    results.write_text(FIXTURE.read_text())
    readme = tmp_path / "README.md"
    readme.write_text(README)
    assert main([str(results), str(readme), "--check"]) == 1 and readme.read_text() == README
    assert main([str(results), str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("# title\n\nintro | 1.5x\n\n") and text.endswith(f"{END}\n\n## after\n\n3 seeds\n")
    assert "Generated from `results/quick/results.json`" in text and "| [degradation](docs/claims.md#" in text
    assert main([str(results), str(readme), "--check"]) == 0
    readme.write_text("no markers\n")
    capsys.readouterr()
    assert main([str(results), str(readme)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {readme}: expected one {BEGIN}")
    assert main([str(tmp_path / "none.json"), str(readme)]) == 2 and "no such file" in capsys.readouterr().err
