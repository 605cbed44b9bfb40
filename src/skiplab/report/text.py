"""What the HTML and the Markdown report share: formatted numbers, durations, grouping and anchors.

Both writers take their words from here, so the two reports cannot disagree on a number.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

DASH = "—"
VERIFICATION = "verification"


def is_verification(claim: dict) -> bool:
    """A claim whose kind mentions verification ("verification", "verification + empirical") is grouped with the
    verifications: its verdict checks the machinery or the mathematics, not the story told about it."""
    return VERIFICATION in claim["kind"].lower()


def groups(claims: list[dict]) -> list[tuple[str, str, list[dict]]]:
    """(group id, heading, claims) for verifications, then empirical claims, keeping each group's file order."""
    ver = [c for c in claims if is_verification(c)]
    emp = [c for c in claims if not is_verification(c)]
    return [("verifications", "Verifications", ver), ("empirical", "Empirical claims", emp)]


def anchors(claims: list[dict]) -> dict[str, str]:
    """claim id -> a unique, URL-safe section id (ids may hold spaces or slashes; two may slug to the same)."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for c in claims:
        base = "claim-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", c["id"]).strip("-") or "x")
        slug, k = base, 2
        while slug in taken:
            slug, k = f"{base}-{k}", k + 1
        taken.add(slug)
        out[c["id"]] = slug
    return out


def verdict_counts(claims: list[dict]) -> str:
    """'5 claims: 3 supported, 1 not supported, 1 inconclusive' (zero counts left out)."""
    counts = {v: sum(c["verdict"] == v for c in claims) for v in ("supported", "not supported", "inconclusive")}
    parts = [f"{n} {v}" for v, n in counts.items() if n]
    noun = "claim" if len(claims) == 1 else "claims"
    return f"{len(claims)} {noun}" + (": " + ", ".join(parts) if parts else "")


def or_dash(v: Any) -> str:
    return DASH if v is None or v == "" else str(v)


def duration(seconds: Any) -> str:
    """Seconds as a person reads them: '8.3 s', '2 min 05 s', '1 h 02 min'."""
    if not _finite(seconds):
        return DASH
    s = float(seconds)
    if s < 60:
        return f"{s:.1f} s"
    m, sec = divmod(int(round(s)), 60)
    if m < 60:
        return f"{m} min {sec:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


def seeds_text(results: dict) -> str:
    return or_dash(results.get("seeds"))


def versions_text(holder: dict) -> str:
    """'skiplab 0.1.0, python 3.11.7, ...' of a dict's `versions` (results.json's top level, or a provenance)."""
    versions = holder.get("versions") or {}
    return ", ".join(f"{k} {or_dash(v)}" for k, v in versions.items()) or DASH


def configs_json(config: dict) -> str:
    return json.dumps(config, indent=2, sort_keys=True, allow_nan=True)


# --- provenance: which call wrote what -------------------------------------------------------------------------------

def top_call(results: dict) -> dict:
    """The file's top-level call as a provenance record: the call that wrote a claim carrying none (written before
    claims carried their own, and so by the only call the file had)."""
    return {"command": results.get("command"), "created": results.get("created"), "seeds": results.get("seeds"),
            "scale": results.get("scale"), "device": (results.get("versions") or {}).get("device"),
            "wall_time": results.get("wall_time"), "versions": results.get("versions")}


def provenance(claim: dict, results: dict) -> dict:
    return claim.get("provenance") or top_call(results)


def calls(results: dict) -> list[tuple[dict, list[str]]]:
    """Each distinct call that wrote claims of `results`, oldest first, with the ids of the claims it wrote (file
    order). A merged file (reproduce into a folder that has results of other claims) holds several."""
    found: dict[str, tuple[dict, list[str]]] = {}
    for c in results["claims"]:
        p = provenance(c, results)
        key = json.dumps([p.get(k) for k in ("command", "created", "seeds", "scale", "device")], default=str)
        found.setdefault(key, (p, []))[1].append(c["id"])
    out = sorted(found.values(), key=lambda pc: str(pc[0].get("created") or ""))
    return out or [(top_call(results), [])]


def call_text(p: dict) -> str:
    """'created 2026-11-27T08:00:00Z, seeds 6, scale quick, device cpu, wall time 37 min 53 s': one call, but for
    its command (set as code by the caller) and its versions (versions_text)."""
    return (f"created {or_dash(p.get('created'))}, seeds {or_dash(p.get('seeds'))}, scale {or_dash(p.get('scale'))}"
            f", device {or_dash(p.get('device'))}, wall time {duration(p.get('wall_time'))}")


def config_groups(configs: dict | list | None) -> list[dict]:
    """The configs of a claim as groups {name, runs, seeds, folders, config}; a file written before runs were
    grouped holds {label: config} (one run), read here as one group per label."""
    if isinstance(configs, dict):
        return [{"name": label, "runs": [label], "seeds": [], "folders": [], "config": cfg}
                for label, cfg in configs.items()]
    return list(configs or [])


def runs_count(groups: list[dict]) -> str:
    n = sum(len(g.get("runs") or []) for g in groups)
    return f"{n} run{'' if n == 1 else 's'}" + (f" in {len(groups)} configurations" if len(groups) > 1 else "")


def group_line(g: dict) -> str:
    """'plain8: 6 runs, seeds 0-5' (the heading of one group of runs)."""
    seeds = [s for s in g.get("seeds") or [] if s is not None]
    n = len(g.get("runs") or [])
    text = f"{g.get('name') or DASH}: {n} run{'' if n == 1 else 's'}"
    if seeds:
        consecutive = len(seeds) > 1 and seeds == list(range(seeds[0], seeds[0] + len(seeds)))
        text += f", seed{'s' if len(seeds) > 1 else ''} " + (f"{seeds[0]}-{seeds[-1]}" if consecutive
                                                             else ", ".join(map(str, seeds)))
    return text


# --- numbers --------------------------------------------------------------------------------------------------------

def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def plain(x: float) -> str:
    """A number that is not a rate or a count: 4 significant digits, in decimals from 0.001 up to 10,000 (trailing
    zeros dropped: 0.41, 1.38, 0.0123, 255.9), else in scientific notation with all 4 digits (8.767e-08, 2.530e-11,
    1.893e+15), so tiny and huge numbers of one column line up."""
    if x == 0:
        return "0"
    text = f"{x:.4g}"
    if 1e-3 <= abs(x) < 1e4 and "e" not in text:
        return text
    return f"{x:.3e}"


def scalar(x: Any, fmt: str | None) -> str:
    """One value in a column's format; null (a NaN or inf on the writer's side) reads 'n/a'. One format per
    quantity: a rate (format "percent": errors, accuracies, shares) in % with 2 decimals; a count with thousands
    separators; anything else as `plain`."""
    if x is None:
        return "n/a"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, str) or fmt == "text":
        return str(x)
    if not math.isfinite(x):
        return "n/a"
    if fmt == "percent":
        return f"{100 * x:.2f}%"
    if fmt == "int" or (fmt is None and isinstance(x, int)):
        return f"{x:,.0f}"
    return plain(x)


def per_seed(value: Any, fmt: str | None) -> list[str]:
    """The per-seed values behind a {mean, std, n, values} cell, in its column's format, in seed order; [] when
    the cell is not one or results.json did not record them."""
    if not isinstance(value, dict) or not isinstance(value.get("values"), list):
        return []
    fmt = None if fmt == "text" else fmt
    return [scalar(v, fmt) for v in value["values"]]


def seeds_list(values: list[str]) -> str:
    """'seeds 0-2: 4.00%, 4.20%, 4.10%': per-seed values in seed order (indices into the call's seeds, as the
    replication halves count them)."""
    n = len(values)
    return (f"seeds 0-{n - 1}: " if n > 1 else "seed 0: ") + ", ".join(values)


def cell(value: Any, fmt: str | None, seeds: Any = None) -> str:
    """A table cell. {mean, std, n} reads 'mean ± std' (std left out for one seed or when missing); when fewer
    seeds than the run's made it (diverged runs are left out of a mean), the count is shown: '(n=2)'."""
    if not isinstance(value, dict):
        return scalar(value, fmt)
    fmt = None if fmt == "text" else fmt
    mean, std, n = value.get("mean"), value.get("std"), value.get("n")
    text = scalar(mean, fmt)
    if std is not None and _finite(mean) and n != 1:
        text += f" ± {scalar(std, fmt)}"
    if isinstance(n, int) and isinstance(seeds, int) and n != seeds:
        text += f" (n={n})"
    return text


def is_numeric_column(rows: list[list], j: int) -> bool:
    """Right-align a column whose cells are all numbers (or mean/std cells), as tables of figures are read."""
    vals = [r[j] for r in rows if r[j] is not None]
    return bool(vals) and all(isinstance(v, dict) or (_finite(v) or isinstance(v, float)) for v in vals)


def numbers_rows(numbers: dict, seeds: Any) -> tuple[list[str], list[list[str]], list[bool]]:
    """(column names, formatted rows, right-align flags) of a claim's numbers table."""
    columns = numbers["columns"]
    rows = numbers.get("rows") or []
    fmt = numbers.get("format") or {}
    text = [[cell(v, fmt.get(col), seeds) for col, v in zip(columns, row)] for row in rows]
    numeric = [is_numeric_column(rows, j) and fmt.get(col) != "text" for j, col in enumerate(columns)]
    return columns, text, numeric


def numbers_seeds(numbers: dict) -> list[list[list[str]]]:
    """Per cell of the numbers table, its per-seed values formatted (empty where there are none)."""
    columns, fmt = numbers["columns"], numbers.get("format") or {}
    return [[per_seed(v, fmt.get(col)) for col, v in zip(columns, row)] for row in numbers.get("rows") or []]


def row_name(row: list, text: list[str], i: int) -> str:
    """What names a row of a numbers table in a list apart from the table: its cells before the first mean/std
    cell ('plain, 56'), else its position."""
    k = next((j for j, v in enumerate(row) if isinstance(v, dict)), len(row))
    return ", ".join(text[:k]) or f"row {i + 1}"
