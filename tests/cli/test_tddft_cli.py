"""`skiplab tddft`: a short run prints the summary and writes observables, summary and plot; bad input exits 2
with one line and writes nothing."""

import json

import numpy as np
from typer.testing import CliRunner

from skiplab.cli import app

runner = CliRunner()
SMALL = ["--dx", "0.4", "--box", "10", "--dt", "0.1", "--t-end", "30"]


def test_tddft_hydrogen_kick_writes_observables_and_spectrum(tmp_path):
    r = runner.invoke(app, ["tddft", "--system", "h", "--functional", "exx", "--propagator", "crank-nicolson",
                            "--kick", "1e-3", "--out", str(tmp_path), *SMALL])
    assert r.exit_code == 0, r.output
    assert "SCF converged" in r.output and "exact reference" in r.output and "TRK sum rule" in r.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert abs(summary["ground_state"]["energy"] - summary["exact"]["energy"]) < 1e-10  # TDHF = exact, 1 electron
    assert summary["propagation"]["norm_drift"] < 1e-12 and summary["propagation"]["records"] == 300
    assert abs(summary["spectrum"]["trk"] - 1.0) < 1e-2
    obs = np.load(tmp_path / "observables.npz")
    assert obs["t"].shape == obs["dipole"].shape == (301,) and "strength" in obs.files
    assert (tmp_path / "tddft.png").read_bytes()[:4] == b"\x89PNG"


def test_tddft_euler_diverges_and_says_so(tmp_path):
    r = runner.invoke(app, ["tddft", "--system", "he", "--functional", "hartree", "--propagator", "euler",
                            "--laser", "0.01,0.5,10", "--kick", "0", "--no-exact", "--out", str(tmp_path), *SMALL])
    assert r.exit_code == 0, r.output
    assert "DIVERGED" in r.output
    assert json.loads((tmp_path / "summary.json").read_text())["propagation"]["diverged_step"] > 0


def test_tddft_bad_input(tmp_path):
    (tmp_path / "v.txt").write_text("0 1\n")
    for args, message in ((["--propagator", "etsr"], "did you mean 'etrs'"),
                          (["--functional", "lda2"], "did you mean 'lda'"),
                          (["--system", "hee"], "did you mean 'he'"),
                          (["--dt", "-0.1"], "--dt must be > 0"),
                          (["--laser", "1,2"], "E0,omega,duration"),
                          (["--kick", "0"], "nothing perturbs"),
                          (["--system", "harmonic", "--electrons", "4", "--functional", "exx"], "exact exchange"),
                          (["--system", "he", "--electrons", "3"], "even number"),
                          (["--potential", str(tmp_path / "v.txt")], "--potential"),
                          (["--potential", str(tmp_path / "missing.txt")], "--potential"),
                          (["--dx", "0.3", "--box", "1"], "whole number")):
        r = runner.invoke(app, ["tddft", "--out", str(tmp_path / "out"), *SMALL, *args])
        assert r.exit_code == 2, (args, r.output)
        assert r.output.strip().startswith("error:") and message in r.output, (args, r.output)
        assert len(r.output.strip().splitlines()) == 1
        assert not (tmp_path / "out").exists()
