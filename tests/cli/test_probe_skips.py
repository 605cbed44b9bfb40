"""`skiplab probe alignment|jacobian`: a skipped block is explained in words, with what to use instead; a net whose
every block is skipped gets that said once, as one error line with exit status 2."""

import pytest
from typer.testing import CliRunner

from skiplab.cli import app

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def probe(*args):
    return runner.invoke(app, ["probe", *args, "--calibrate", "64"])


def one_error_line(r):
    assert r.exit_code == 2, r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.output
    return lines[0]


def test_alignment_on_original_resnet_blocks_says_why_and_what_instead_once(resnet_run):
    line = one_error_line(probe("alignment", "--run", str(resnet_run), "-n", "16"))
    assert line == ("error: alignment: every block of resnet8 is additive-post (original ResNet: relu after the sum), "
                    "where the residual F is not what the block adds; alignment needs pre-activation residual blocks "
                    "(x + F(x)): train a preresnet (e.g. --model preresnet20), or this run's config with "
                    "--set model.preact=true")


def test_alignment_on_a_dense_net_names_each_kind_once(densenet_run):
    line = one_error_line(probe("alignment", "--run", str(densenet_run), "-n", "16"))
    assert line.startswith("error: alignment: every block of densenet40 is a concat (dense) layer: it appends its "
                           "branch's output to its input instead of adding it; or plain (no shortcut): ")
    assert line.count("concat") == 1 and line.endswith("(e.g. --model preresnet20 on images, resmlp on vectors)")


def test_alignment_explains_the_blocks_it_skips_beside_those_it_probes(effnet_run):
    r = probe("alignment", "--run", str(effnet_run), "-n", "16")
    assert r.exit_code == 0, r.output
    assert ("skipped stages.1.blocks.0, stages.2.blocks.0: plain (no shortcut): its output replaces its input, so "
            "no residual is added; alignment needs pre-activation residual blocks (x + F(x))") in r.output
    probed = [line.split()[0] for line in r.output.splitlines() if line.strip().startswith("stages.")
              and "skipped" not in line]
    assert probed == ["stages.0.blocks.0", "stages.1.blocks.1", "stages.2.blocks.1"]


def test_jacobian_says_why_a_block_is_skipped(resnet_run):
    r = probe("jacobian", "--run", str(resnet_run))
    assert r.exit_code == 0, r.output
    # digits are 1x8x8; ResNet-8's second and third stages start with a stride-2 block
    for name, shapes in (("stages.1.blocks.0", "(4, 8, 8) -> (4, 4, 4)"),
                         ("stages.2.blocks.0", "(4, 4, 4) -> (4, 2, 2)")):
        assert (f"skipped {name}: it changes the shape {shapes}, so its Jacobian is not square and has no "
                "eigenvalues; the end-to-end singular values below take in every block") in r.output
    assert "end-to-end d features / d input" in r.output


def test_jacobian_on_a_net_that_reshapes_every_block_is_one_line(densenet_run):
    line = one_error_line(probe("jacobian", "--run", str(densenet_run)))
    assert line.startswith("error: jacobian: no block of densenet40 keeps its input's shape (stages.0.blocks.0 "
                           "changes the shape (")
    assert ("so its Jacobian is not square and has no eigenvalues; so do all the others): block spectra need blocks "
            "that keep their shape; train a residual net such as --model preresnet20") in line
    assert line.endswith("with `skiplab probe gradients`")
