"""Read and check `results.json` (docs/results-schema.md) before anything is drawn or written.

Checking everything up front is what lets a bad file end in one line naming the file and the field, instead of a
matplotlib traceback halfway through the figures. Required: `schema` (1), `claims`, and each claim's `id`, `kind`
and `verdict`; every other field is optional (missing or null shows as a dash) but, when present, must have the
documented type. Keys the schema does not name are ignored, so a newer writer can add fields without breaking an
older reader.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from ..errors import SkiplabError
from ..config import nesting_depth
from .checks import _Bad, _choice, _fail, _list, _name, _num, _numbers_list, _obj, _opt_num, _str

SCHEMA_VERSION = 1
VERDICTS = ("supported", "not supported", "inconclusive")
PANEL_KINDS = ("line", "scatter", "complex", "bar", "hist")
SCALES = ("linear", "log", "symlog")
STYLES = ("solid", "dashed", "dotted", "points")
FORMATS = ("percent", "float", "int", "text")
AXIS_FORMATS = ("percent", "float")  # a panel's y tick labels: a fraction in % (figures.py), or plain numbers
CALLS = ("above", "below", "unclear")  # an interval against its margin (claims/core/stats.py)
UNITS = ("percent", "")
REGISTRATION = ("registered", "changed", "unregistered")
# Figure ids become file names (figures/<id>.png): no separators, no leading dot, nothing a shell would mangle.
FIGURE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
# Deeper than this is no results.json (the committed one nests 12 levels; configs add a few). Drawing and the
# report's JSON dumps recurse per level, so a file ~1,000 deep that parsed would fail later with a RecursionError.
MAX_DEPTH = 100


class ReportError(SkiplabError):
    """A results.json that is missing, unreadable, or not the documented schema."""


def load_results(path: str | Path) -> dict[str, Any]:
    """Parse and check one results.json; raise ReportError (one line: file and problem) if it is not usable."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file (write it with `skiplab reproduce`)") from None
    except UnicodeDecodeError:
        raise ReportError(f"{path}: not UTF-8 text") from None
    except OSError as e:
        raise ReportError(f"{path}: cannot read it ({e.strerror or e})") from None
    too_deep = f"{path}: nests deeper than {MAX_DEPTH} levels (a results.json is about 12 deep); not a results file"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ReportError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    except RecursionError:  # the parser recurses once per level: ~1,000 levels exhaust the stack
        raise ReportError(too_deep) from None
    if nesting_depth(data, MAX_DEPTH) > MAX_DEPTH:
        raise ReportError(too_deep)
    try:
        _check_results(data)
    except _Bad as e:
        raise ReportError(f"{path}: {e}") from None
    return data


# --- the schema -----------------------------------------------------------------------------------------------------

def _check_results(data: Any) -> None:
    _obj(data, "top level")
    if "schema" not in data:
        _fail("schema", "missing (expected 1)")
    if data["schema"] != SCHEMA_VERSION:
        _fail("schema", f"{data['schema']!r} is not supported (this skiplab reads schema {SCHEMA_VERSION})")
    for key in ("created", "command", "scale", "data"):
        _str(data, key, "top level")
    _opt_num(data, "seeds", "top level")
    _opt_num(data, "wall_time", "top level")
    _check_versions(data.get("versions"), "versions")
    if "claims" not in data:
        _fail("claims", "missing (expected a list of claims)")
    ids: set[str] = set()
    figure_ids: set[str] = set()
    for i, claim in enumerate(_list(data["claims"], "claims")):
        _check_claim(claim, f"claims[{i}]", ids, figure_ids)


def _check_claim(claim: Any, where: str, ids: set[str], figure_ids: set[str]) -> None:
    _obj(claim, where)
    _str(claim, "id", where, required=True)
    if claim["id"] in ids:
        _fail(f"{where}.id", f"{claim['id']!r} appears twice")
    ids.add(claim["id"])
    where = f"claims[{claim['id']}]"  # from here on the id says more than the index
    _str(claim, "kind", where, required=True)
    _choice(claim, "verdict", where, VERDICTS, required=True)
    for key in ("statement", "source", "rule", "rule_commit", "reason", "budget"):
        _str(claim, key, where)
    _opt_num(claim, "wall_time", where)
    if claim.get("numbers") is not None:
        _check_numbers(claim["numbers"], f"{where}.numbers")
    for j, fig in enumerate(_list(claim.get("figures") or [], f"{where}.figures")):
        _check_figure(fig, f"{where}.figures[{j}]", figure_ids)
    if claim.get("configs") is not None:
        _check_configs(claim["configs"], f"{where}.configs")
    if claim.get("provenance") is not None:
        prov = _obj(claim["provenance"], f"{where}.provenance")
        for key in ("command", "created", "scale", "device"):
            _str(prov, key, f"{where}.provenance")
        for key in ("seeds", "wall_time"):
            _opt_num(prov, key, f"{where}.provenance")
        _check_versions(prov.get("versions"), f"{where}.provenance.versions")
    _check_statistics(claim, where)


def _check_versions(versions: Any, where: str) -> None:
    if versions is None:
        return
    for k, v in _obj(versions, where).items():
        if isinstance(v, (dict, list)):
            _fail(f"{where}.{k}", f"expected a string, got {_name(v)}")


def _check_configs(configs: Any, where: str) -> None:
    """{label: config} (one run, as written before groups) or a list of groups of runs equal but for the seed."""
    if isinstance(configs, dict):
        return
    for i, g in enumerate(_list(configs, where)):
        w = f"{where}[{i}]"
        _obj(g, w)
        _str(g, "name", w)
        _obj(g.get("config"), f"{w}.config")
        runs = _list(g.get("runs"), f"{w}.runs", nonempty=True)
        for key in ("runs", "folders"):
            for k, x in enumerate(_list(g.get(key) or [], f"{w}.{key}")):
                if not isinstance(x, str):
                    _fail(f"{w}.{key}[{k}]", f"expected a string, got {_name(x)}")
        for k, s in enumerate(_list(g.get("seeds") or [], f"{w}.seeds")):
            if s is not None and (isinstance(s, bool) or not isinstance(s, int)):
                _fail(f"{w}.seeds[{k}]", f"expected a seed or null, got {_name(s)}")
        for key in ("seeds", "folders"):
            if g.get(key) is not None and len(g[key]) != len(runs):
                _fail(f"{w}.{key}", f"has {len(g[key])} entries but there are {len(runs)} runs")


def _check_statistics(claim: dict, where: str) -> None:
    """intervals, replication and rule_registration: optional, so a results.json written before them renders."""
    for i, e in enumerate(_list(claim.get("intervals") or [], f"{where}.intervals")):
        w = f"{where}.intervals[{i}]"
        _obj(e, w)
        _str(e, "name", w, required=True)
        for key in ("mean", "lo", "hi", "registered", "margin", "noise_se", "seeds", "examples", "level"):
            _opt_num(e, key, w)
        _str(e, "noise", w)
        _choice(e, "unit", w, UNITS)
        _choice(e, "call", w, CALLS)
        _numbers_list(e, "values", w, None, required=False)
    if claim.get("replication") is not None:
        w = f"{where}.replication"
        rep = _obj(claim["replication"], w)
        if not isinstance(rep.get("replicated"), bool):
            _fail(f"{w}.replicated", f"expected true or false, got {_name(rep.get('replicated'))}")
        for j, half in enumerate(_list(rep.get("halves"), f"{w}.halves", nonempty=True)):
            hw = f"{w}.halves[{j}]"
            _obj(half, hw)
            _choice(half, "verdict", hw, VERDICTS, required=True)
            _str(half, "reason", hw)
            for k, s in enumerate(_list(half.get("seeds"), f"{hw}.seeds", nonempty=True)):
                if isinstance(s, bool) or not isinstance(s, int) or s < 0:
                    _fail(f"{hw}.seeds[{k}]", f"expected a seed index, got {s!r}")
    if claim.get("rule_registration") is not None:
        w = f"{where}.rule_registration"
        reg = _obj(claim["rule_registration"], w)
        _choice(reg, "status", w, REGISTRATION, required=True)
        for key in ("hash", "commit", "date", "reason"):
            _str(reg, key, w)
        for j, h in enumerate(_list(reg.get("history") or [], f"{w}.history")):
            _obj(h, f"{w}.history[{j}]")
            for key in ("hash", "date", "commit", "reason"):
                _str(h, key, f"{w}.history[{j}]")


def _check_numbers(numbers: Any, where: str) -> None:
    _obj(numbers, where)
    columns = _list(numbers.get("columns"), f"{where}.columns", nonempty=True)
    for i, c in enumerate(columns):
        if not isinstance(c, str):
            _fail(f"{where}.columns[{i}]", f"expected a string, got {_name(c)}")
    for i, row in enumerate(_list(numbers.get("rows") or [], f"{where}.rows")):
        _list(row, f"{where}.rows[{i}]")
        if len(row) != len(columns):
            _fail(f"{where}.rows[{i}]", f"has {len(row)} cells but there are {len(columns)} columns")
        for j, cell in enumerate(row):
            _check_cell(cell, f"{where}.rows[{i}][{j}]")
    for col, fmt in _obj(numbers.get("format") or {}, f"{where}.format").items():
        if col not in columns:
            _fail(f"{where}.format", f"{col!r} is not a column (columns: {', '.join(columns)})")
        if fmt not in FORMATS:
            _fail(f"{where}.format.{col}", f"{fmt!r} is not one of {', '.join(FORMATS)}")


def _check_cell(cell: Any, where: str) -> None:
    if cell is None or isinstance(cell, (str, bool, int, float)):
        return
    if not isinstance(cell, dict):
        _fail(where, f"expected a number, a string, null or {{mean, std, n}}, got {_name(cell)}")
    if "mean" not in cell:
        _fail(where, "a {mean, std, n} cell needs 'mean'")
    _opt_num(cell, "mean", where)
    _opt_num(cell, "std", where)
    _numbers_list(cell, "values", where, None, required=False)
    n = cell.get("n")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
        _fail(f"{where}.n", f"expected a count, got {n!r}")


def _check_figure(fig: Any, where: str, figure_ids: set[str]) -> None:
    _obj(fig, where)
    _str(fig, "id", where, required=True)
    if not FIGURE_ID.fullmatch(fig["id"]):
        _fail(f"{where}.id", f"{fig['id']!r} cannot be a file name (use letters, digits, '.', '_', '-')")
    if fig["id"] in figure_ids:
        _fail(f"{where}.id", f"{fig['id']!r} appears twice (figure ids name files and must be unique)")
    figure_ids.add(fig["id"])
    where = f"{where[:where.rindex('.')]}.figures[{fig['id']}]"
    _str(fig, "title", where)
    _str(fig, "caption", where)
    for k, panel in enumerate(_list(fig.get("panels"), f"{where}.panels", nonempty=True)):
        _check_panel(panel, f"{where}.panels[{k}]")


def _check_panel(panel: Any, where: str) -> None:
    _obj(panel, where)
    _choice(panel, "kind", where, PANEL_KINDS, required=True)
    for key in ("title", "xlabel", "ylabel"):
        _str(panel, key, where)
    _choice(panel, "xscale", where, SCALES)
    _choice(panel, "yscale", where, SCALES)
    _choice(panel, "yformat", where, AXIS_FORMATS)
    for i, h in enumerate(_list(panel.get("hlines") or [], f"{where}.hlines")):
        _obj(h, f"{where}.hlines[{i}]")
        _num(h.get("y"), f"{where}.hlines[{i}].y", nullable=False)
        _str(h, "label", f"{where}.hlines[{i}]")
    if panel.get("unit_circle") is not None and not isinstance(panel["unit_circle"], bool):
        _fail(f"{where}.unit_circle", f"expected true or false, got {_name(panel['unit_circle'])}")
    if panel.get("circle") is not None:
        circle = _obj(panel["circle"], f"{where}.circle")
        center = _list(circle.get("center"), f"{where}.circle.center")
        if len(center) != 2:
            _fail(f"{where}.circle.center", "expected [real, imaginary]")
        for i, c in enumerate(center):
            _num(c, f"{where}.circle.center[{i}]", nullable=False)
        r = circle.get("radius")
        _num(r, f"{where}.circle.radius", nullable=False)
        if not (r > 0 and math.isfinite(r)):
            _fail(f"{where}.circle.radius", f"expected a positive number, got {r!r}")
    for i, s in enumerate(_list(panel.get("series") or [], f"{where}.series")):
        _check_series(s, f"{where}.series[{i}]", panel["kind"])


def _check_series(s: Any, where: str, kind: str) -> None:
    _obj(s, where)
    _str(s, "label", where)
    _choice(s, "style", where, STYLES)
    group = s.get("group")
    if group is not None and (isinstance(group, bool) or not isinstance(group, int) or group < 0):
        _fail(f"{where}.group", f"expected a non-negative integer, got {group!r}")
    if kind == "hist":
        _numbers_list(s, "values", where, None)
        bins = s.get("bins")
        if bins is not None and (isinstance(bins, bool) or not isinstance(bins, int) or bins < 1):
            _fail(f"{where}.bins", f"expected a positive integer, got {bins!r}")
        return
    if kind == "bar":
        xs = _list(s.get("x"), f"{where}.x")
        for i, x in enumerate(xs):
            if not isinstance(x, (str, int, float)) or isinstance(x, bool):
                _fail(f"{where}.x[{i}]", f"expected a category name, got {_name(x)}")
        n = len(xs)
    else:
        n = _numbers_list(s, "x", where, None)
    _numbers_list(s, "y", where, n)
    _numbers_list(s, "yerr", where, n, required=False)
    if kind == "scatter":
        _numbers_list(s, "c", where, n, required=False)
