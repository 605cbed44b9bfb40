"""The README's verdict table, generated from a committed results.json so its numbers cannot drift from a run.

It rewrites only the lines between the markers `<!-- verdicts:begin -->` and `<!-- verdicts:end -->`:

    python -m skiplab.report.readme                      # results/quick/results.json into README.md
    python -m skiplab.report.readme RESULTS README --check   # exit 1 if the table is not what RESULTS gives

One row per claim, in results.json's order: claim (linked to its section of docs/claims.md), kind, verdict,
replicated, and the first judged effect (the claim's first judged effect, "mean [lo, hi] vs margin"); a line under
the table names the results file, the command that wrote it, its seeds and its date.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from .. import _atomic
from . import stats_text as S
from .markdown import _verdict, esc
from .schema import ReportError, load_results

BEGIN, END = "<!-- verdicts:begin -->", "<!-- verdicts:end -->"
RESULTS, README = "results/quick/results.json", "README.md"
COMMAND = "python -m skiplab.report.readme"


def verdict_block(results: dict, source: str) -> str:
    """The Markdown between the markers: the table and the line naming where it comes from. `source` is the
    results file as the README should name it (relative to the README's folder)."""
    lines = ["| claim | kind | verdict | replicated | first judged effect (all in the report) |",
             "|---|---|---|---|---|"]
    for c in results["claims"]:
        anchor = re.sub(r"[^a-z0-9-]", "", c["id"].lower())  # GitHub's id of docs/claims.md's heading `## <id>`
        lines.append(f"| [{esc(c['id'])}](docs/claims.md#{anchor}) | {esc(c['kind'])} | {_verdict(c['verdict'])} | "
                     f"{esc(S.replicated(c))} | {esc(S.first_effect(c))} |")
    calls = _calls(results)
    if len(calls) == 1:
        (what, _), = calls.items()
        lines += ["", f"Generated from `{source}`, written by {what}; regenerate with `{COMMAND}`."]
    else:  # a merged file: say which call wrote which claims, so no call is credited with another's work
        lines += ["", f"Generated from `{source}` (regenerate with `{COMMAND}`), written by {len(calls)} calls:", ""]
        lines += [f"- {what}: {', '.join(ids)}" for what, ids in calls.items()]
    return "\n".join(lines)


def _call_text(p: dict) -> str:
    """"`command` (6 seeds, 2026-12-05, 37.9 min on cpu)" for one provenance record."""
    created = str(p.get("created") or "")
    date = created[:10] if re.match(r"\d{4}-\d{2}-\d{2}", created) else created or "an unknown date"
    seeds, command, wall = p.get("seeds"), p.get("command"), p.get("wall_time")
    took = f", {wall / 60:.1f} min on {esc(str(p.get('device') or '?'))}" \
        if isinstance(wall, (int, float)) and wall > 0 else ""
    return (f"{f'`{command}`' if command else 'an unknown command'} "
            f"({seeds if seeds is not None else 'unknown'} seeds, {esc(date)}{took})")


def _calls(results: dict) -> dict[str, list[str]]:
    """Each distinct call that wrote claims of `results` -> the ids it wrote, in the file's order. A claim without
    its own provenance (written before claims carried one) is the file's top-level call's."""
    top = {"command": results.get("command"), "created": results.get("created"), "seeds": results.get("seeds"),
           "device": (results.get("versions") or {}).get("device"), "wall_time": results.get("wall_time")}
    calls: dict[str, list[str]] = {}
    for c in results["claims"]:
        calls.setdefault(_call_text(c.get("provenance") or top), []).append(esc(c["id"]))
    return calls or {_call_text(top): []}


def current_block(readme: str, name: str = README) -> tuple[int, int]:
    """(start, end) offsets of the text between the markers; ReportError unless each marker is there once, in
    order."""
    counts = (readme.count(BEGIN), readme.count(END))
    if counts != (1, 1) or readme.index(BEGIN) > readme.index(END):
        raise ReportError(f"{name}: expected one {BEGIN} line followed by one {END} line around the verdict "
                          f"table (found {counts[0]} and {counts[1]})")
    return readme.index(BEGIN) + len(BEGIN), readme.index(END)


def update_readme(readme: str, block: str, name: str = README) -> str:
    """`readme` with the text between the markers replaced by `block`; the rest is left byte for byte."""
    start, end = current_block(readme, name)
    return readme[:start] + "\n" + block + "\n" + readme[end:]


def source_name(results_path: Path, readme_path: Path) -> str:
    """The results file as the README names it: relative to the README's folder, with forward slashes."""
    try:
        rel = os.path.relpath(results_path.resolve(), readme_path.resolve().parent)
    except ValueError:  # another drive on Windows
        rel = str(results_path)
    return Path(rel).as_posix()


def generate(results_path: Path, readme_path: Path) -> tuple[str, str]:
    """(README as it is, README as results_path makes it)."""
    try:
        readme = readme_path.read_text(encoding="utf-8")
    except OSError as e:
        raise ReportError(f"{readme_path}: cannot read it ({e.strerror or e})") from None
    block = verdict_block(load_results(results_path), source_name(results_path, readme_path))
    return readme, update_readme(readme, block, str(readme_path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description="Regenerate the README's verdict table from a "
                                     "results.json (only the lines between the verdicts markers change).")
    parser.add_argument("results", nargs="?", default=RESULTS, type=Path, help=f"default {RESULTS}")
    parser.add_argument("readme", nargs="?", default=README, type=Path, help=f"default {README}")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if the table is out of date")
    args = parser.parse_args(argv)
    try:
        old, new = generate(args.results, args.readme)
    except ReportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if old == new:
        print(f"{args.readme}: the verdict table is up to date with {args.results}")
        return 0
    if args.check:
        print(f"{args.readme}: the verdict table differs from {args.results}; run `{COMMAND} {args.results} "
              f"{args.readme}`", file=sys.stderr)
        return 1
    _atomic.write_text(args.readme, new)
    print(f"{args.readme}: verdict table regenerated from {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
