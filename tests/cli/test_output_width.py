"""At 80 columns (a default terminal, or output to a pipe) nothing a user needs next is cut: every model name,
config key, default, block and attack name and every path comes out whole, never ending in an ellipsis."""

import pytest
from typer.testing import CliRunner

from skiplab.cli import app
from skiplab.cli.listing import option_rows
from skiplab.models import describe_models

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py
ELLIPSIS = "\N{HORIZONTAL ELLIPSIS}"


def table_rows(output):
    """{left cell: right cell} of a two-column boxed table, each cell's lines joined: a row starts where the left
    cell is not blank, and its wrapped or folded lines follow with the left cell blank."""
    rows, key = {}, None
    for line in output.splitlines():
        cells = line.split("\N{BOX DRAWINGS LIGHT VERTICAL}")
        if len(cells) != 4:
            continue  # borders, the header, the title
        left, right = cells[1].strip(), cells[2].strip()
        if left:
            rows[left], key = [right], left
        elif key is not None:
            rows[key].append(right)
    return {k: " ".join(v) for k, v in rows.items()}


def squeeze(text):
    """Text without whitespace: a cell wrapped at a space or folded inside a word compares equal to the original."""
    return "".join(text.split())


@pytest.mark.parametrize("width", [80, 40, 30])  # 30: too narrow for the longest word beside every name
def test_list_models_prints_every_name_and_description_whole(columns, width):
    columns(width)
    r = runner.invoke(app, ["list", "models"])
    assert r.exit_code == 0 and ELLIPSIS not in r.output, r.output
    got, want = table_rows(r.output), describe_models()
    assert set(got) == set(want)  # each name whole, on one line
    assert {k: squeeze(v) for k, v in got.items()} == {k: squeeze(v) for k, v in want.items()}


@pytest.mark.parametrize("width", [80, 40])
def test_list_options_prints_every_key_and_default_whole(columns, width):
    columns(width)
    r = runner.invoke(app, ["list", "options", "--model", "resnet20"])
    assert r.exit_code == 0 and ELLIPSIS not in r.output, r.output
    got, want = table_rows(r.output), option_rows("resnet20")
    assert {squeeze(k) for k in got} == set(want)
    assert {squeeze(k): squeeze(v) for k, v in got.items()} == {k: squeeze(v) for k, v in want.items()}
    assert "(defaultFalse)" in squeeze(got["model.preact"])


def test_probe_tables_keep_block_and_attack_names_and_paths_whole(columns, resnet_run, effnet_run, tmp_path):
    columns(80)
    blocks = ["stages.0.blocks.0", "stages.1.blocks.0", "stages.2.blocks.0"]
    long_json = tmp_path / "a-folder-whose-name-alone-is-longer-than-half-of-an-80-column-terminal" / "probe.json"
    for args, names in ((["gradients", "-n", "16"], ["stem", *blocks]), (["jacobian", "--calibrate", "64"], blocks),
                        (["readout", "-n", "16", "--calibrate", "64"], ["stem", *blocks]),
                        (["lipschitz", "-n", "16", "--calibrate", "64"], blocks)):
        r = runner.invoke(app, ["probe", *args, "--run", str(resnet_run), "--json", str(long_json)])
        assert r.exit_code == 0 and ELLIPSIS not in r.output, r.output
        firsts = [line.split()[0] for line in r.output.splitlines() if line.split()]
        assert all(n in firsts for n in names), (args, r.output)
        assert f"wrote {long_json}" in r.output.splitlines()
    r = runner.invoke(app, ["probe", "alignment", "--run", str(effnet_run), "-n", "16", "--calibrate", "64"])
    assert r.exit_code == 0 and ELLIPSIS not in r.output, r.output
    assert "stages.0.blocks.0" in [line.split()[0] for line in r.output.splitlines() if line.split()]
    # the attack table: a row per attack, named in full (pgd10x1-linf-margin-cosine is 26 characters)
    r = runner.invoke(app, ["probe", "attack", "--run", str(resnet_run), "-n", "8", "--calibrate", "64",
                            "--steps", "10", "--eps", "0.01"])
    assert r.exit_code == 0 and ELLIPSIS not in r.output, r.output
    rows = {line.split()[0]: line.split()[1:] for line in r.output.splitlines() if line.split()}
    for attack in ("fgsm-linf-ce", "pgd10x1-linf-ce-fixed", "pgd10x1-linf-margin-cosine"):
        assert len(rows[attack]) == 2 and all(v.endswith("%") for v in rows[attack])  # epsilon 0 and 0.01
    assert "worst of all" in r.output


def test_prune_prints_the_run_folder_whole(columns, resnet_run):
    columns(80)
    r = runner.invoke(app, ["prune", "--run", str(resnet_run), "--rounds", "1"])
    assert r.exit_code == 0 and ELLIPSIS not in r.output, r.output
    assert f"run folder: {resnet_run} (the folders above are inside it)" in r.output.splitlines()
    (round_dir,) = resnet_run.glob("prune-*/round-01")
    assert str(round_dir.relative_to(resnet_run)) in r.output.split()
    assert len(str(resnet_run)) > 80  # the point of the test: a path longer than the terminal


def test_train_and_bench_print_paths_whole(columns, tmp_path):
    columns(80)
    out = tmp_path / "runs-in-a-folder-with-a-name-long-enough-to-pass-the-edge-of-an-80-column-terminal"
    r = runner.invoke(app, ["train", "-m", "resmlp", "-d", "digits", "--epochs", "1", "--out", str(out),
                            "--set", "model.depth=2", "--set", "train.max_steps=2"])
    assert r.exit_code == 0, r.output
    (run_dir,) = (out / "train").glob("*/seed-0")
    assert f"  run folder: {run_dir}" in r.output.splitlines()
    results = out / "bench.json"
    r = runner.invoke(app, ["bench", "--device", "cpu", "--models", "resnet8", "--batch", "2", "--steps", "1",
                            "--repeats", "1", "--out", str(results)])
    assert r.exit_code == 0 and ELLIPSIS not in r.output, r.output
    assert f"results: {results}" in r.output.splitlines()
    assert r.output.splitlines()[0].startswith("throughput on cpu: resnet8; settings skiplab, eager-fp32, eager-bf16;")
