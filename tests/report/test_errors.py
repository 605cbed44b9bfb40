"""Bad input: one line naming the file and what is wrong; `skiplab report` exits 2 and writes nothing."""

import json

import pytest
from typer.testing import CliRunner

from skiplab.cli import app
from skiplab.errors import SkiplabError
from skiplab.report import ReportError, load_results, render_report

from .conftest import FIGURE_IDS, fixture_results, write_results

runner = CliRunner()


def _broken(mutate):
    results = fixture_results()
    mutate(results)
    return results


def _set_panel_kind(r, kind):
    r["claims"][2]["figures"][0]["panels"][1]["kind"] = kind


# (name, results.json content, what the message must say after "<file>: ")
BAD = [
    ("invalid-json", '{"schema": 1, "claims": [}', "not valid JSON (Expecting value at line 1, column 26)"),
    ("not-an-object", "[1, 2]", "top level: expected an object, got a list"),
    ("no-schema", {"claims": []}, "schema: missing (expected 1)"),
    ("future-schema", {"schema": 2, "claims": []}, "schema: 2 is not supported (this skiplab reads schema 1)"),
    ("claims-not-a-list", {"schema": 1, "claims": {"a": 1}}, "claims: expected a list, got an object"),
    ("bad-verdict", _broken(lambda r: r["claims"][1].update(verdict="maybe")),
     "claims[jacobian-spectrum].verdict: 'maybe' is not one of supported, not supported, inconclusive"),
    ("no-id", _broken(lambda r: r["claims"][0].pop("id")), "claims[0].id: missing (a string is required)"),
    ("unknown-panel-kind", _broken(lambda r: _set_panel_kind(r, "pie")),
     "claims[euler-stability].figures[euler-growth].panels[1].kind: 'pie' is not one of "
     "line, scatter, complex, bar, hist"),
    ("ragged-series", _broken(lambda r: r["claims"][0]["figures"][0]["panels"][0]["series"][2]["y"].pop()),
     "claims[degradation].figures[degradation-curves].panels[0].series[2].y: has 4 values but x has 5"),
    ("string-number", _broken(lambda r: r["claims"][1]["figures"][0]["panels"][0]["series"][0]["x"].insert(0, "1")),
     "claims[jacobian-spectrum].figures[jacobian-eigs].panels[0].series[0].x[0]: expected a number or null, "
     "got a string"),
    ("unsafe-figure-id", _broken(lambda r: r["claims"][0]["figures"][0].update(id="../../etc/x")),
     "claims[degradation].figures[0].id: '../../etc/x' cannot be a file name"),
    ("duplicate-figure-id", _broken(lambda r: r["claims"][1]["figures"][0].update(id="degradation-final")),
     "'degradation-final' appears twice"),
    ("ragged-row", _broken(lambda r: r["claims"][0]["numbers"]["rows"][0].pop()),
     "claims[degradation].numbers.rows[0]: has 5 cells but there are 6 columns"),
    ("unknown-format", _broken(lambda r: r["claims"][0]["numbers"]["format"].update(loss="sci")),
     "claims[degradation].numbers.format.loss: 'sci' is not one of percent, float, int, text"),
    ("format-of-no-column", _broken(lambda r: r["claims"][0]["numbers"]["format"].update(acc="percent")),
     "claims[degradation].numbers.format: 'acc' is not a column"),
    ("bad-circle", _broken(lambda r: r["claims"][1]["figures"][0]["panels"][0]["circle"].update(radius=-1)),
     "circle.radius: expected a positive number, got -1"),
    ("unknown-call", _broken(lambda r: r["claims"][0]["intervals"][1].update(call="maybe")),
     "claims[degradation].intervals[1].call: 'maybe' is not one of above, below, unclear"),
    ("string-mean", _broken(lambda r: r["claims"][0]["intervals"][0].update(mean="3.9")),
     "claims[degradation].intervals[0].mean: expected a number or null, got a string"),
    ("interval-without-name", _broken(lambda r: r["claims"][0]["intervals"][0].pop("name")),
     "claims[degradation].intervals[0].name: missing (a string is required)"),
    ("replicated-not-a-boolean", _broken(lambda r: r["claims"][0]["replication"].update(replicated="yes")),
     "claims[degradation].replication.replicated: expected true or false, got a string"),
    ("half-verdict", _broken(lambda r: r["claims"][2]["replication"]["halves"][1].update(verdict="unclear")),
     "claims[euler-stability].replication.halves[1].verdict: 'unclear' is not one of supported, not supported, "
     "inconclusive"),
    ("half-seed", _broken(lambda r: r["claims"][2]["replication"]["halves"][0].update(seeds=[0, "1"])),
     "claims[euler-stability].replication.halves[0].seeds[1]: expected a seed index, got '1'"),
    ("registration-status", _broken(lambda r: r["claims"][1]["rule_registration"].update(status="pending")),
     "claims[jacobian-spectrum].rule_registration.status: 'pending' is not one of registered, changed, "
     "unregistered"),
    ("history-reason", _broken(lambda r: r["claims"][2]["rule_registration"]["history"][0].update(reason=3)),
     "claims[euler-stability].rule_registration.history[0].reason: expected a string, got a number"),
    # per-seed values, versions per claim, grouped configs
    ("string-seed-value", _broken(lambda r: r["claims"][0]["intervals"][0]["values"].insert(0, "0.1")),
     "claims[degradation].intervals[0].values[0]: expected a number or null, got a string"),
    ("cell-values-not-a-list", _broken(lambda r: r["claims"][0]["numbers"]["rows"][0][3].update(values=0.1)),
     "claims[degradation].numbers.rows[0][3].values: expected a list, got a number"),
    ("nested-version", _broken(lambda r: r["claims"][0]["provenance"]["versions"].update(torch={"v": 2})),
     "claims[degradation].provenance.versions.torch: expected a string, got an object"),
    ("config-group-without-runs", _broken(lambda r: r["claims"][0]["configs"][1].pop("runs")),
     "claims[degradation].configs[1].runs: expected a list, got null"),
    ("config-group-seeds", _broken(lambda r: r["claims"][0]["configs"][1]["seeds"].append(4)),
     "claims[degradation].configs[1].seeds: has 3 entries but there are 2 runs"),
    ("configs-not-a-list", _broken(lambda r: r["claims"][0].update(configs="plain8")),
     "claims[degradation].configs: expected a list, got a string"),
    ("yformat", _broken(lambda r: r["claims"][0]["figures"][0]["panels"][0].update(yformat="%")),
     "claims[degradation].figures[degradation-curves].panels[0].yformat: '%' is not one of percent, float"),
]


@pytest.mark.parametrize("content, message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_results_give_one_line_naming_the_file(tmp_path, content, message):
    path = write_results(tmp_path, content) / "results.json"
    with pytest.raises(ReportError) as e:
        load_results(path)
    text = str(e.value)
    assert isinstance(e.value, SkiplabError) and "\n" not in text
    assert text.startswith(f"{path}: ") and message in text, text


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(ReportError, match=r"results\.json: no such file"):
        render_report(tmp_path)
    (tmp_path / "results.json").write_bytes(b'{"schema": 1, "claims": ["\xff"]}')
    with pytest.raises(ReportError, match=r"results\.json: not UTF-8 text$"):
        render_report(tmp_path)


def test_cli_renders_and_prints_the_paths(tmp_path):
    folder = write_results(tmp_path / "out", fixture_results())
    r = runner.invoke(app, ["report", str(folder)])
    assert r.exit_code == 0, r.output
    printed = r.stdout.split()
    assert printed == [str(folder / "figures" / f"{f}.png") for f in FIGURE_IDS] + [
        str(folder / "report.md"), str(folder / "report.html")]


@pytest.mark.parametrize("content", [None, "{not json", json.dumps({"schema": 1, "claims": "none"}),
                                     json.dumps(_broken(lambda r: _set_panel_kind(r, "pie")))],
                         ids=["missing", "invalid-json", "claims-not-a-list", "unknown-panel-kind"])
def test_cli_exits_2_with_one_error_line_and_writes_nothing(tmp_path, content):
    if content is not None:
        (tmp_path / "results.json").write_text(content)
    r = runner.invoke(app, ["report", str(tmp_path)])
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {tmp_path / 'results.json'}: "), r.stderr
    assert "Traceback" not in r.output and r.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == (["results.json"] if content else [])


def test_a_failed_rerender_keeps_the_previous_report_intact(tmp_path):
    """The bad panel is in the last claim: every earlier figure would draw, but none may be written."""
    folder = write_results(tmp_path, fixture_results())
    before = {p: p.read_bytes() for p in render_report(folder).values()}
    results = fixture_results()
    results["claims"][0]["figures"][0]["title"] = "a new title"  # would change the first figure and both pages
    results["claims"][3]["figures"] = [{"id": "late", "panels": [{"kind": "pie", "series": []}]}]
    write_results(folder, results)
    r = runner.invoke(app, ["report", str(folder)])
    assert r.exit_code == 2 and "claims[lesion-robustness].figures[late].panels[0].kind" in r.stderr
    after = {p for p in folder.rglob("*") if p.is_file()}
    assert after == set(before) | {folder / "results.json"}
    assert all(p.read_bytes() == b for p, b in before.items())
