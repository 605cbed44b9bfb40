"""report.md: the HTML report's content in Markdown, figures linked as figures/<id>.png.

Strings from results.json are backslash-escaped where Markdown would read them as markup or raw HTML (CommonMark
allows a backslash before any ASCII punctuation), so a `<script>` in a reason stays text on GitHub and elsewhere.
"""

from __future__ import annotations

import re

from . import stats_text as S
from . import text as T

_MARK = {"supported": "✅", "not supported": "❌", "inconclusive": "⚠️"}  # colour stand-ins: Markdown has none
# `_` inside a word (x86_64, plain_20) is never emphasis in CommonMark, so it is left bare for the raw reader.
_SPECIAL = re.compile(r"([\\`*\[\]<>|~#&!{}]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")


def esc(s: object) -> str:
    """Escape one line of text for a paragraph or a table cell (newlines would break a table row)."""
    return _SPECIAL.sub(r"\\\1", str(s)).replace("\r", " ").replace("\n", " ")


def _verdict(v: str) -> str:
    return f"{_MARK[v]} **{v}**"


def _code(s: object) -> str:
    """Inline code that survives backticks inside it: the fence is one backtick longer than any run inside."""
    s = str(s).replace("\n", " ")
    ticks = "`" * (max((len(m) for m in re.findall(r"`+", s)), default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{ticks}{pad}{s}{pad}{ticks}"


def _table(header: list[str], rows: list[list[str]], right: list[bool] | None = None) -> list[str]:
    right = right or [False] * len(header)
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if r else "---" for r in right) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out + [""]


def render_markdown(results: dict) -> str:
    claims = results["claims"]
    anchors = T.anchors(claims)
    out = ["# skiplab report", "", esc(T.verdict_counts(claims)), "", "## Verdicts", ""]
    for _, heading, members in T.groups(claims):
        out += [f"### {heading} ({len(members)})", ""]
        if not members:
            out += ["none in this run", ""]
            continue
        out += _table(["claim", "kind", "verdict", "replicated", "reason"],
                      [[f"[{esc(c['id'])}](#{anchors[c['id']]})", esc(c["kind"]), _verdict(c["verdict"]),
                        esc(S.replicated(c)), esc(T.or_dash(c.get("reason")))] for c in members])
    calls = T.calls(results)
    out += ["## Run", "", f"- **data:** {esc(T.or_dash(results.get('data')))}",
            f"- **written by:** {len(calls)} call{'s' if len(calls) != 1 else ''} of skiplab, oldest first", ""]
    for k, (p, ids) in enumerate(calls, 1):
        out += [f"{k}. {_call_line(p)}", "   - **claims:** " + (", ".join(
            f"[{esc(i)}](#{anchors[i]})" for i in ids) or T.DASH)]
    out.append("")
    for c in claims:
        out += _claim(c, anchors[c["id"]], results)
    return "\n".join(out).rstrip("\n") + "\n"


def _call_line(p: dict) -> str:
    """One call: its command as code, then its facts on one line."""
    cmd = p.get("command")
    return f"{_code(cmd) if cmd else T.DASH}; {esc(T.call_text(p))}; versions {esc(T.versions_text(p))}"


def _registration(c: dict) -> tuple[str, str, list[str]]:
    """(label, value, history lines) of where the rule comes from: its registration, else its commit. Markdown
    has no colour: a changed or unregistered rule is marked with ❗ and bold."""
    reg = S.registration(c)
    if reg is None:
        commit = c.get("rule_commit")
        return "rule commit", _code(commit) if commit else T.DASH, []
    line, alert, history = reg
    return "rule registration", f"❗ **{esc(line)}**" if alert else esc(line), history


def _claim(c: dict, anchor: str, results: dict) -> list[str]:
    # An explicit anchor: heading-derived ids differ between renderers, the verdict table's links must not.
    out = [f'<a id="{anchor}"></a>', "", f"## {esc(c['id'])}: {_verdict(c['verdict'])}", ""]
    if c.get("statement"):
        out += [f"> {esc(c['statement'])}", ""]
    label, registration, history = _registration(c)
    facts = [
        ("kind", esc(c["kind"])),
        ("source", esc(T.or_dash(c.get("source")))),
        ("rule", esc(T.or_dash(c.get("rule")))),
        (label, registration),
        ("verdict", f"{_verdict(c['verdict'])}: {esc(T.or_dash(c.get('reason')))}"),
        *([("replication", esc(S.replication_line(c)))] if "replication" in c else []),
        ("budget", esc(T.or_dash(c.get("budget")))),
        ("compute time (its runs, summed, + measuring)", T.duration(c.get("wall_time"))),
        ("produced by", _call_line(T.provenance(c, results))),
    ]
    for k, v in facts:
        out.append(f"- **{k}:** {v}")
        if k == label:  # a changed rule's history, nested under its line
            out += [f"  - {esc(h)}" for h in history]
    out.append("")
    if S.halves(c):
        out += ["<details><summary>the halves' reasons</summary>", ""]
        out += [f"- seeds {esc(s)}: {_verdict(v)}: {esc(why)}" for s, v, why in S.halves(c)]
        out += ["", "</details>", ""]
    if c.get("intervals"):
        out += ["### Effects judged", ""] + _intervals(c["intervals"]) + [esc(S.INTERVAL_NOTE), ""]
    if c.get("numbers"):
        columns, rows, numeric = T.numbers_rows(c["numbers"], results.get("seeds"))
        out += ["### Numbers", ""]
        out += _table([esc(col) for col in columns], [[esc(v) for v in row] for row in rows], numeric)
        out += _numbers_seeds(c["numbers"], rows)
    if c.get("figures"):
        out += ["### Figures", ""]
        for f in c["figures"]:
            title = f.get("title") or f["id"]
            out += [f"![{esc(title)}](figures/{f['id']}.png)", "",
                    f"*{esc(title)}*" + (f" {esc(f['caption'])}" if f.get("caption") else ""), ""]
    groups = T.config_groups(c.get("configs"))
    if groups:
        out += [f"### Configs ({esc(T.runs_count(groups))})", ""]
    for g in groups:  # one collapsed block per group of runs equal but for the seed
        body = T.configs_json(g.get("config") or {})
        fence = "`" * max(3, max((len(m) for m in re.findall(r"`+", body)), default=0) + 1)
        out += [f"<details><summary>{esc(T.group_line(g))}</summary>", ""]
        out += [f"- **runs:** {esc(', '.join(g.get('runs') or []) or T.DASH)}"]
        if g.get("folders"):
            out += ["- **folders:** " + ", ".join(_code(f) for f in g["folders"])]
        out += ["", f"{fence}json", body, fence, "", "</details>", ""]
    return out


def _intervals(intervals: list[dict]) -> list[str]:
    """The judged effects' table; a "per seed" column after the mean where results.json has the values."""
    header = S.interval_header(intervals)
    rows = [S.interval_row(e) for e in intervals]
    right = [j not in (0, 4, 6) for j in range(7)]
    if S.has_seeds(intervals):
        header = header[:2] + ["per seed"] + header[2:]
        rows = [row[:2] + [T.seeds_list(S.interval_seeds(e)) if S.interval_seeds(e) else T.DASH] + row[2:]
                for row, e in zip(rows, intervals)]
        right = right[:2] + [False] + right[2:]
    return _table([esc(h) for h in header], [[esc(v) for v in row] for row in rows], right)


def _numbers_seeds(numbers: dict, text: list[list[str]]) -> list[str]:
    """The per-seed values behind the table's means, collapsed under it: one line per row and column."""
    lines = [f"- {esc(T.row_name(row, row_text, i))}, {esc(col)}: {esc(T.seeds_list(values))}"
             for i, (row, row_text, row_seeds) in enumerate(zip(numbers.get("rows") or [], text,
                                                                 T.numbers_seeds(numbers)))
             for col, values in zip(numbers["columns"], row_seeds) if values]
    return ["<details><summary>per-seed values</summary>", ""] + lines + ["", "</details>", ""] if lines else []
