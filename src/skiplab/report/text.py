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


def versions_text(results: dict) -> str:
    versions = results.get("versions") or {}
    return ", ".join(f"{k} {or_dash(v)}" for k, v in versions.items()) or DASH


def configs_json(configs: dict) -> str:
    return json.dumps(configs, indent=2, sort_keys=True, allow_nan=True)


# --- numbers --------------------------------------------------------------------------------------------------------

def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def scalar(x: Any, fmt: str | None) -> str:
    """One value in a column's format; null (a NaN or inf on the writer's side) reads 'n/a'."""
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
    return f"{x:.4g}"


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
