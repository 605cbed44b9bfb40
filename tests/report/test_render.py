"""The report's content: known numbers, verdicts, grouping, escaping, figures, and determinism."""

import ast
import json
import re
from pathlib import Path

import numpy as np
from PIL import Image

import skiplab.report
from skiplab.report import load_results, render_report
from skiplab.report.figures import DPI, LEGEND_PAD_IN, LEGEND_ROW_IN, PANEL_H, PANEL_W
from skiplab.report.text import cell, duration, plain

from .conftest import FIGURE_IDS, PANELS, data_uri_pngs, fixture_results, write_results

# per figure of the fixture: the lines of its title (wrapped to the figure's width), the lines of its tallest legend
TITLE_LINES = {"degradation-curves": 1, "degradation-final": 1, "jacobian-eigs": 1, "euler-growth": 0}
LEGEND_ROWS = {"degradation-curves": 1, "degradation-final": 1, "jacobian-eigs": 2, "euler-growth": 1}


def test_writes_the_html_the_markdown_and_one_png_per_figure(rendered):
    folder, paths = rendered
    assert set(paths) == {"report.html", "report.md"} | {f"figures/{f}.png" for f in FIGURE_IDS}
    assert all(p.is_file() and p.parent.resolve().is_relative_to(folder.resolve()) for p in paths.values())
    assert not list(folder.rglob("*.tmp")), "atomic writes left temp files"


def test_html_holds_every_claim_verdict_reason_commit_and_header(rendered):
    folder, _ = rendered
    html = (folder / "report.html").read_text()
    for c in fixture_results()["claims"]:
        assert f'id="{"claim-" + c["id"]}"' in html and f'href="#claim-{c["id"]}"' in html
        assert f'v-{c["verdict"].replace(" ", "-")}">{c["verdict"]}</span>' in html
    # a claim without a rule registration shows its rule's commit (those with one: test_statistics.py)
    assert "<dt>rule commit</dt><dd><code>9e8d7c6b5a</code></dd>" in html and "<code>uncommitted</code>" not in html
    assert "plain-56 train error 4.10% ± 0.30% vs plain-8 0.20% ± 0.10%; resnet-56 0.10%." in html
    assert "4 claims: 2 supported, 1 not supported, 1 inconclusive" in html
    # the run header (every call: test_provenance.py)
    assert "<code>skiplab reproduce --scale quick --seeds 3</code>" in html
    assert "torch 2.13.0+cpu" in html and "2026-11-27T08:00:00Z" in html
    assert "1 h 02 min" in html and "1 min 01 s" in html and "4.3 s" in html
    assert "<h3>Configs (5 runs in 2 configurations)</h3>" in html and "&quot;plain56&quot;" in html


def test_numbers_are_formatted_per_column(rendered):
    html = (rendered[0] / "report.html").read_text()
    cells = re.findall(r"<td class=num>([^<]*)", html)  # a cell's text, before any per-seed values folded under it
    for expected in ["12,345", "853,018", "0.20% ± 0.10%", "4.10% ± 0.30%", "7.10% ± 0.60%", "0.0123 ± 0.0011",
                     "n/a (n=2)", "0.0045", "0.41 ± 0.02", "1.38", "n/a", "1.20% ± 0.40%", "71.00% ± 5.00%",
                     # tiny and large plain numbers: scientific notation, 4 significant digits, mean and std alike
                     "8.767e-08 ± 1.519e-07", "2.528e+04"]:
        assert expected in cells, expected
    assert "<td>diverged: 0 of 3</td>" in html  # a text column stays left-aligned text


def test_cell_and_duration_known_answers():
    assert cell({"mean": 0.041, "std": 0.003, "n": 3}, "percent", 3) == "4.10% ± 0.30%"
    assert cell({"mean": 0.041, "std": 0.003, "n": 1}, "percent", 3) == "4.10% (n=1)"  # no std of one seed
    assert cell({"mean": 2.0, "std": 0.5}, "int") == "2 ± 0"  # int format rounds, as the column asks
    assert cell(1234567, "int") == "1,234,567" and cell(0.5, None) == "0.5" and cell(7, None) == "7"
    assert cell(None, "percent") == "n/a" and cell(True, None) == "yes" and cell("x", "percent") == "x"
    assert cell(float("nan"), "float") == "n/a"
    # one format per quantity: rates in % with 2 decimals; other numbers 4 significant digits, decimals from 0.001
    # to 10,000, else scientific with all 4 digits (so 2.53e-11 and 1.737e-11 of one column line up)
    assert [plain(x) for x in (0.4878, 0.2635, 255.94, 0.00123, 9999.4, 0)] == \
        ["0.4878", "0.2635", "255.9", "0.00123", "9999", "0"]
    assert [plain(x) for x in (8.767e-08, 2.53e-11, 1.737e-11, 99999.0, 1892828544936618.8, -3e-4)] == \
        ["8.767e-08", "2.530e-11", "1.737e-11", "1.000e+05", "1.893e+15", "-3.000e-04"]
    assert cell({"mean": 8.767e-08, "std": 1.519e-07, "n": 6}, "float", 6) == "8.767e-08 ± 1.519e-07"
    assert cell({"mean": 0.4878, "std": 0.2635, "n": 6}, "percent", 6) == "48.78% ± 26.35%"
    assert [duration(s) for s in (None, 8.26, 125, 3725.4)] == ["—", "8.3 s", "2 min 05 s", "1 h 02 min"]


def test_verifications_are_listed_apart_from_empirical_claims(rendered):
    html = (rendered[0] / "report.html").read_text()
    tables = dict(re.findall(r'<table class="verdicts" id="(\w+)">(.*?)</table>', html, re.S))
    assert set(tables) == {"verifications", "empirical"}
    assert html.index('id="verifications"') < html.index('id="empirical"') < html.index('<section id="run">')
    ids = {k: re.findall(r'href="#claim-([\w-]+)"', v) for k, v in tables.items()}
    assert ids == {"verifications": ["jacobian-spectrum", "euler-stability"],
                   "empirical": ["degradation", "lesion-robustness"]}


def test_strings_are_escaped(rendered):
    folder, _ = rendered
    html = (folder / "report.html").read_text()
    assert "<script" not in html.lower() and "<b>tag</b>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "a | pipe &amp; &lt;b&gt;tag&lt;/b&gt;" in html
    md = (folder / "report.md").read_text()
    assert not re.search(r"(?<!\\)<(script|b>)", md) and r"\<script\>" in md and r"a \| pipe \& \<b\>tag\</b\>" in md


def test_html_is_self_contained(rendered):
    html = (rendered[0] / "report.html").read_text()
    assert not re.search(r"""(src|href)=["'](?!data:image/png;base64,|#)""", html), "a reference leaves the page"
    assert "http://" not in html and "https://" not in html and "@import" not in html and "url(" not in html
    assert "default-src 'none'; img-src data:" in html  # the browser itself refuses any fetch or script


def test_each_figure_is_embedded_once_as_a_sane_png(rendered):
    folder, _ = rendered
    html = (folder / "report.html").read_text()
    imgs = data_uri_pngs(html)
    assert len(imgs) == len(FIGURE_IDS) == html.count("<img ")
    for fid, img in zip(FIGURE_IDS, imgs):
        assert img.format == "PNG"
        # panels side by side, PANEL_W inches each at DPI; one row; a title adds a strip on top, the legends one
        # below (one line of entries each here: LEGEND_ROW_IN + LEGEND_PAD_IN; the tallest legend sets the strip)
        assert img.width == round(PANEL_W * DPI * PANELS[fid]), fid
        inches = PANEL_H + TITLE_LINES[fid] * 0.3 + LEGEND_ROWS[fid] * LEGEND_ROW_IN + LEGEND_PAD_IN
        assert abs(img.height - inches * DPI) <= 1, (fid, img.size)  # Matplotlib truncates to whole pixels
        on_disk = Image.open(folder / "figures" / f"{fid}.png")
        assert on_disk.size == img.size and np.array_equal(np.asarray(on_disk), np.asarray(img))


def _has_colour(img: Image.Image, hexcolour: str, at_least: int = 20) -> bool:
    rgb = np.asarray(img.convert("RGB")).reshape(-1, 3)
    want = np.array([int(hexcolour[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(rgb.astype(int) - want).sum(axis=1) <= 6).sum()) >= at_least


def test_figures_draw_their_series(rendered):
    figs = {f: Image.open(rendered[0] / "figures" / f"{f}.png") for f in FIGURE_IDS}
    blue, red, green = "#1f77b4", "#d62728", "#2ca02c"
    assert _has_colour(figs["degradation-curves"], blue) and _has_colour(figs["degradation-curves"], red)
    assert _has_colour(figs["degradation-curves"], green, 5)  # the 'points' series
    assert _has_colour(figs["degradation-final"], blue, 500) and _has_colour(figs["degradation-final"], red, 500)
    # the complex panel's cross at 1 + 0i is pure black, thick enough to count
    assert _has_colour(figs["jacobian-eigs"], "#000000", 40)
    for img in figs.values():
        assert np.asarray(img.convert("L")).std() > 10, "a blank figure"


def test_markdown_links_each_figure_file_and_the_same_content(rendered):
    folder, _ = rendered
    md = (folder / "report.md").read_text()
    for fid in FIGURE_IDS:
        assert f"](figures/{fid}.png)" in md and (folder / "figures" / f"{fid}.png").is_file()
    for c in fixture_results()["claims"]:
        assert f'<a id="claim-{c["id"]}"></a>' in md and f"](#claim-{c['id']})" in md
    assert "| plain | 56 | 853,018 | 4.10% ± 0.30% | 7.10% ± 0.60% | n/a (n=2) |" in md
    assert "|---|---:|---:|---:|---:|---:|" in md
    assert md.index("### Verifications (2)") < md.index("### Empirical claims (2)") < md.index("## Run")
    assert "`9e8d7c6b5a`" in md and "❌ **not supported**" in md and "⚠️ **inconclusive**" in md


def test_rendering_is_a_pure_function_of_results_json(rendered, tmp_path):
    """A second render, in another folder and another test, writes the same bytes (no dates, no versions)."""
    first, paths = rendered
    again = render_report(write_results(tmp_path, fixture_results()))
    assert again.keys() == paths.keys()
    for name, path in again.items():
        assert path.read_bytes() == (first / name).read_bytes(), name


def test_missing_optional_fields_render_as_dashes(tmp_path):
    folder = write_results(tmp_path, {"schema": 1, "claims": [
        {"id": "bare", "kind": "verification", "verdict": "inconclusive"},
        {"id": "nulls", "kind": "empirical", "verdict": "supported", "source": None, "numbers": None,
         "figures": [], "configs": None, "wall_time": None}]})
    paths = render_report(folder)
    assert set(paths) == {"report.html", "report.md"} and not (folder / "figures").exists()
    html = paths["report.html"].read_text()
    assert "<dt>source</dt><dd>—</dd>" in html and "<dt>command</dt><dd>—</dd>" in html
    assert "<h3>Numbers</h3>" not in html and "<img" not in html and "<details>" not in html
    assert "2 claims: 1 supported, 1 inconclusive" in html


def test_load_results_accepts_the_fixture_and_keeps_nulls():
    results = load_results(Path(__file__).parent / "data" / "results.json")
    rows = results["claims"][0]["numbers"]["rows"]
    assert rows[1][5] == {"mean": None, "std": None, "n": 2}


def _imported_modules(tree: ast.AST, package: str) -> list[str]:
    """Absolute names of every module an AST imports (relative imports resolved against `package`)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{parent}.{base}".rstrip(".")
            out += [base] + [f"{base}.{a.name}" for a in node.names]
    return out


def test_report_layer_imports_no_claim_no_training_and_no_torch():
    forbidden = ("torch", "torchvision", "skiplab.claims", "skiplab.train", "matplotlib.pyplot")
    for path in Path(skiplab.report.__file__).parent.glob("*.py"):
        for name in _imported_modules(ast.parse(path.read_text()), "skiplab.report"):
            assert not any(name == f or name.startswith(f + ".") for f in forbidden), f"{path.name}: {name}"
        assert len(path.read_text().splitlines()) < 300, path.name
    # the resolver itself: `from .. import _atomic` in skiplab.report is skiplab._atomic
    assert "skiplab._atomic" in _imported_modules(ast.parse("from .. import _atomic"), "skiplab.report")
    assert "skiplab.train.loop" in _imported_modules(ast.parse("from ..train import loop"), "skiplab.report")


def test_results_json_round_trips_through_json(tmp_path):
    """NaN/inf are written as null by the writer; the reader also takes the bare tokens Python's json emits."""
    results = fixture_results()
    for c in results["claims"]:
        c["figures"] = []  # only the table matters here; drawing would only cost time
    results["claims"][3]["numbers"]["rows"][0][1] = {"mean": float("nan"), "std": float("inf"), "n": 3}
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps(results))  # writes NaN / Infinity tokens
    html = render_report(folder)["report.html"].read_text()
    assert "<tr><td>resnet-20</td><td class=num>n/a</td>" in html and "1.20% ± 0.40%" not in html
    assert "<img " not in html
