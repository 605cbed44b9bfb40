"""Shared fixtures: the hand-written results.json (every panel kind, all three verdicts, verification and empirical
claims, nulls for NaN, missing optional fields; two calls' provenance, one claim without any; per-seed values on
some means; configs grouped by all but the seed and in the older {label: config} form; long unbroken words a phone
must wrap) copied into a fresh folder, rendered once per module."""

import base64
import io
import json
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

from skiplab.report import render_report

FIXTURE = Path(__file__).parent / "data" / "results.json"
FIGURE_IDS = ["degradation-curves", "degradation-final", "jacobian-eigs", "euler-growth"]
PANELS = {"degradation-curves": 2, "degradation-final": 1, "jacobian-eigs": 2, "euler-growth": 2}


def fixture_results() -> dict:
    return json.loads(FIXTURE.read_text())


def write_results(folder: Path, results: dict | str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(results if isinstance(results, str) else json.dumps(results))
    return folder


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """(folder, {name: path}) of the fixture rendered once."""
    folder = tmp_path_factory.mktemp("report")
    shutil.copy(FIXTURE, folder / "results.json")
    return folder, render_report(folder)


def data_uri_pngs(html: str) -> list[Image.Image]:
    """Every embedded PNG of a page, decoded (raises if one is not a valid PNG)."""
    out = []
    for b64 in re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html):
        img = Image.open(io.BytesIO(base64.b64decode(b64, validate=True)))
        img.load()
        out.append(img)
    return out
