"""The words and numbers of a claim's statistics, shared by the HTML, the Markdown and the README table.

A claim of results.json may carry `intervals` (each effect its rule judged: a 95% interval against a margin),
`replication` (the verdict on each half of the seeds) and `rule_registration` (whether its rule's hash is the one
registered). All three are optional: a results.json written before them renders as it did.
"""

from __future__ import annotations

import math
from typing import Any

from .text import DASH, or_dash

PERCENT = "percent"  # a rate; its numbers are printed in percentage points


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def number(x: Any, unit: str, signed: bool = False) -> str:
    """An effect's number as the claim's reason prints it (claims/core/stats.py, Effect.text): a rate in points
    with two decimals; a plain number with two decimals unless it is very small or very large (then 3 significant
    digits); null (NaN on the writer's side) reads 'n/a'."""
    if not _finite(x):
        return "n/a"
    v = 100 * x if unit == PERCENT else float(x)
    if unit == PERCENT or v == 0 or 0.01 <= abs(v) < 1e4:
        return f"{v:+.2f}" if signed else f"{v:.2f}"
    return f"{v:+.3g}" if signed else f"{v:.3g}"


def level_text(intervals: list[dict]) -> str:
    """'95% interval' (the level the writer used; 0.95 if it did not say)."""
    levels: set[float] = {float(e["level"]) for e in intervals if _finite(e.get("level"))} or {0.95}
    return f"{100 * levels.pop():g}% interval" if len(levels) == 1 else "interval"


def interval_header(intervals: list[dict]) -> list[str]:
    return ["effect", "mean", level_text(intervals), "margin used (registered)", "noise (1 SE)", "seeds", "call"]


def interval_row(e: dict) -> list[str]:
    """One effect as the cells of interval_header."""
    unit = e.get("unit") or ""
    f = lambda key, signed=False: number(e.get(key), unit, signed)  # noqa: E731
    margin = f("margin")
    if _finite(e.get("registered")) and e.get("registered") != e.get("margin"):
        margin += f" (registered {f('registered')})"  # raised to 2 SE of the measurement's noise
    noise = f("noise_se") + (f", {e['noise']}" if e.get("noise") else "")
    name = str(e["name"]) + (" (points)" if unit == PERCENT else "")
    seeds = f"{e['seeds']:.0f}" if _finite(e.get("seeds")) else DASH
    return [name, f("mean", True), f"[{f('lo', True)}, {f('hi', True)}]", margin, noise, seeds,
            or_dash(e.get("call"))]


def interval_seeds(e: dict) -> list[str]:
    """The per-seed values whose mean the effect is (paired differences, or one arm's values), as its mean is
    printed (a rate in points); [] when results.json did not record them."""
    values = e.get("values")
    return [number(v, e.get("unit") or "", True) for v in values] if isinstance(values, list) else []


def has_seeds(intervals: list[dict]) -> bool:
    return any(isinstance(e.get("values"), list) for e in intervals)


INTERVAL_NOTE = ("Rates are in percentage points. The call is \"above\" when the whole interval lies above the "
                 "margin used, \"below\" when it lies below, else \"unclear\"; the margin used is the registered one "
                 "raised to at least 2 standard errors of the measurement's own noise.")


def first_effect(claim: dict) -> str:
    """The claim's first judged effect, 'name: mean [lo, hi] vs margin', and how many it judged ('1 of 3'): the
    README's table, which has room for one (the first is not always the one that decided; the report has all)."""
    intervals = claim.get("intervals") or []
    if not intervals:
        return DASH
    e = intervals[0]
    unit = e.get("unit") or ""
    f = lambda key, signed=False: number(e.get(key), unit, signed)  # noqa: E731
    return (f"{e['name']}: {f('mean', True)} [{f('lo', True)}, {f('hi', True)}] vs {f('margin')}"
            + (" points" if unit == PERCENT else "") + (f" (1 of {len(intervals)})" if len(intervals) > 1 else ""))


# --- replication ----------------------------------------------------------------------------------------------------

def replicated(claim: dict) -> str:
    """The verdict table's cell: yes / no; n/a where no effect was judged (verifications); a dash for a claim
    written before replication was recorded."""
    if "replication" not in claim:
        return DASH
    rep = claim["replication"]
    return "n/a" if rep is None else "yes" if rep["replicated"] else "no"


def seed_range(seeds: list[int]) -> str:
    """[0, 1, 2] -> '0-2'; seeds that are not consecutive are listed."""
    if len(seeds) > 1 and list(seeds) == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(str(s) for s in seeds)


def replication_line(claim: dict) -> str | None:
    """'replicated: both halves (seeds 0-2, 3-5) say supported' or 'not replicated: seeds 0-2 say supported,
    seeds 3-5 say inconclusive'; None for a claim written before replication was recorded."""
    if "replication" not in claim:
        return None
    rep = claim["replication"]
    if rep is None:
        return "n/a: the rule judged no effect over seeds (a verification, or a precondition stopped it)"
    halves = rep["halves"]
    if rep["replicated"]:
        seeds = ", ".join(seed_range(h["seeds"]) for h in halves)
        return f"replicated: both halves (seeds {seeds}) say {claim['verdict']}"
    return "not replicated: " + ", ".join(f"seeds {seed_range(h['seeds'])} say {h['verdict']}" for h in halves)


def halves(claim: dict) -> list[tuple[str, str, str]]:
    """(seeds, verdict, reason) of each half, for the collapsed detail under the replication line."""
    rep = claim.get("replication") or {}
    return [(seed_range(h["seeds"]), h["verdict"], or_dash(h.get("reason"))) for h in rep.get("halves", [])]


# --- registration ---------------------------------------------------------------------------------------------------

def registration(claim: dict) -> tuple[str, bool, list[str]] | None:
    """(line, alert, history) of the rule's registration: alert (shown in red) when the rule changed after it was
    registered or was never registered; history only for a changed rule. None when results.json has no
    registration, and the report shows the rule's commit instead."""
    reg = claim.get("rule_registration")
    if reg is None:
        return None
    status = reg["status"]
    if status == "registered":
        return (f"rule registered at {reg.get('commit') or 'an unknown commit'}, "
                f"{reg.get('date') or 'an unknown date'}"), False, []
    if status == "unregistered":
        return f"rule not registered: its hash {or_dash(reg.get('hash'))} is not in the registry", True, []
    history = [f"{or_dash(h.get('date'))}, commit {or_dash(h.get('commit'))}, hash {or_dash(h.get('hash'))}: "
               f"{or_dash(h.get('reason'))}" for h in reg.get("history") or []]
    return f"rule changed after registration: {reg.get('reason') or 'no reason recorded'}", True, history
