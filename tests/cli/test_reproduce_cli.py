"""`skiplab reproduce` end to end on a tiny budget: every claim runs, the verdict table prints, results.json and
the report are written; a second call reuses every run; bad input exits 2 before anything is trained."""

import json

from typer.testing import CliRunner

from skiplab.claims import CLAIMS
from skiplab.cli import app

runner = CliRunner()
TINY = ["--seeds", "1", "--steps", "2", "--workers", "1", "--set", "depths=[8,14,20]", "--set", "jacobian_depth=8"]


def test_reproduce_all_claims_on_a_tiny_budget(tmp_path):
    r = runner.invoke(app, ["reproduce", "--out", str(tmp_path), *TINY])
    assert r.exit_code == 0, r.output
    results = json.loads((tmp_path / "quick" / "results.json").read_text())
    ids = [c["id"] for c in results["claims"]]
    assert ids == list(CLAIMS) and ids[:4] == ["degradation", "degradation-cause", "vanishing-gradients",
                                               "jacobian-near-identity"]
    for c in results["claims"]:
        assert c["verdict"] in ("supported", "not supported", "inconclusive") and c["rule"] and c["rule_commit"]
        assert c["figures"] and c["numbers"]["rows"]
        assert c["id"] in r.output
    # two steps cannot train resnet-20 below 1%: the degradation precondition must catch it
    assert results["claims"][0]["verdict"] == "inconclusive" and "precondition" in results["claims"][0]["reason"]
    html = (tmp_path / "quick" / "report.html").read_text()
    assert html.count("data:image/png;base64,") == sum(len(c["figures"]) for c in results["claims"])
    assert "report.html" in r.output

    again = runner.invoke(app, ["reproduce", "degradation", "--out", str(tmp_path), *TINY])
    assert again.exit_code == 0 and again.output.count("reused") == 6
    kept = json.loads((tmp_path / "quick" / "results.json").read_text())
    assert [c["id"] for c in kept["claims"]] == ids[1:] + ["degradation"]  # the others are kept, not lost
    # each claim keeps the call that wrote it; the top level names the last call
    first, second = results["claims"][1]["provenance"], kept["claims"][-1]["provenance"]
    assert kept["claims"][0]["provenance"] == first and first["command"] != second["command"]
    assert "degradation" in second["command"] and second["command"] == kept["command"] and second["seeds"] == 1


def test_reproduce_bad_input(tmp_path):
    for args, message in ((["degradaton"], "did you mean 'degradation'"),
                          (["--set", "depths=[8,20]"], "at least 3 depths"),
                          (["--set", "train.lrr=1"], "did you mean 'lr'"),
                          (["--scale", "huge"], "quick, cifar, full"),
                          (["--data", "nodata"], "unknown dataset"),
                          # a claim whose runs are FunctionRuns on a dataset: refused before anything trains
                          (["exploding-residuals", "--data", "nodata"], "unknown dataset")):
        r = runner.invoke(app, ["reproduce", "--out", str(tmp_path / "out"), *args])
        assert r.exit_code == 2, (args, r.output)
        assert r.output.strip().startswith("error:") and message in r.output, (args, r.output)
        assert not (tmp_path / "out").exists()
