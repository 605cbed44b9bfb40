"""report.html: one self-contained page (inline CSS, figures as base64 data URIs, no script, no fetches).

A Content-Security-Policy in the page forbids scripts and every network fetch, so the page stays self-contained
even if a later edit slips in a link to a stylesheet: the browser would refuse it. Every string from results.json
goes through html.escape.
"""

from __future__ import annotations

import base64
from html import escape

from . import stats_text as S
from . import text as T

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

_CSS = """
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg-alt: #f6f8fa; }
body { font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--fg);
       max-width: 1180px; margin: 0 auto; padding: 24px 28px 60px; }
/* Nothing may widen the page past a phone's screen: long ids, commands and paths break anywhere, and wide
   content (tables, code blocks) scrolls inside its own box instead. */
h1, h2, h3, p, li, dd, summary, figcaption, .statement { overflow-wrap: anywhere; }
h1 { font-size: 1.7em; margin: 0 0 4px; }
h2 { font-size: 1.35em; margin: 40px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05em; margin: 22px 0 8px; }
.sub, .muted { color: var(--muted); }
code, pre { font: 0.88em/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
code { background: var(--bg-alt); padding: 1px 5px; border-radius: 4px; overflow-wrap: anywhere; }
pre { background: var(--bg-alt); padding: 12px; border-radius: 6px; overflow-x: auto; max-height: 480px;
      max-width: 100%; box-sizing: border-box; }
table { border-collapse: collapse; margin: 6px 0 14px; }
th, td { border: 1px solid var(--line); padding: 5px 10px; text-align: left; vertical-align: top; }
th { background: var(--bg-alt); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.num details { white-space: normal; min-width: 9em; text-align: left; }
details.seeds { margin: 2px 0 0; font-size: 0.85em; }
td.seeds { font-size: 0.85em; min-width: 11em; font-variant-numeric: tabular-nums; }
table.verdicts { width: 100%; }
table.verdicts td:nth-child(1), table.verdicts td:nth-child(3), table.verdicts td:nth-child(4) {
  white-space: nowrap; }
.scroll { overflow-x: auto; max-width: 100%; }
.badge { display: inline-block; padding: 1px 9px; border-radius: 10px; font-size: 0.85em; font-weight: 600;
         white-space: nowrap; }
.v-supported { background: #1a7f37; color: #fff; }
.v-not-supported { background: #cf222e; color: #fff; }
.v-inconclusive { background: #f0b400; color: #1f2328; }
dl.facts { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 4px 16px; margin: 8px 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; min-width: 0; }
.alert { color: #cf222e; font-weight: 600; }
ol.history, ol.calls { margin: 4px 0; padding-left: 22px; }
ol.calls > li { margin-bottom: 10px; }
.statement { font-size: 1.05em; border-left: 4px solid var(--line); margin: 8px 0; padding: 2px 12px; }
figure { margin: 18px 0; }
img { max-width: 100%; height: auto; }
figure img { border: 1px solid var(--line); border-radius: 4px; box-sizing: border-box; }
figcaption { margin-top: 4px; color: var(--muted); }
figcaption b { color: var(--fg); }
details { margin: 10px 0; }
summary { cursor: pointer; color: var(--muted); }
a { color: #0969da; text-decoration: none; }
a:hover { text-decoration: underline; }
@media (max-width: 640px) {
  body { font-size: 14px; padding: 12px 10px 40px; }
  dl.facts { grid-template-columns: minmax(0, 1fr); gap: 0; }
  dl.facts dd { margin-bottom: 8px; }
  th, td { padding: 4px 6px; }
  /* the verdict table as one card per claim: id, kind, badge, replicated on a line, the reason below */
  table.verdicts, table.verdicts tbody { display: block; }
  table.verdicts thead { display: none; }
  table.verdicts tr { display: block; padding: 6px 0; border-top: 1px solid var(--line); }
  table.verdicts td { display: inline; border: 0; padding: 0 6px 0 0; white-space: normal; }
  table.verdicts td:nth-child(2) { color: var(--muted); }
  table.verdicts td:nth-child(4)::before { content: "replicated: "; color: var(--muted); }
  table.verdicts td:nth-child(5) { display: block; padding-top: 2px; }
}
"""


def badge(verdict: str) -> str:
    return f'<span class="badge v-{verdict.replace(" ", "-")}">{escape(verdict)}</span>'


def render_html(results: dict, pngs: dict[str, bytes]) -> str:
    """The whole page. `pngs` maps figure id -> PNG bytes (render_figures)."""
    claims = results["claims"]
    anchors = T.anchors(claims)
    title = "skiplab report" + (f": {results['command']}" if results.get("command") else "")
    parts = [
        "<!doctype html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
        "<h1>skiplab report</h1>",
        f'<p class="sub">{escape(T.verdict_counts(claims))}</p>',
        _verdict_tables(claims, anchors),
        _run_header(results, anchors),
    ]
    parts += [_claim_section(c, anchors[c["id"]], results, pngs) for c in claims]
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def _verdict_tables(claims: list[dict], anchors: dict[str, str]) -> str:
    out = ['<section id="verdicts">', "<h2>Verdicts</h2>"]
    for gid, heading, members in T.groups(claims):
        out.append(f"<h3>{heading} ({len(members)})</h3>")
        if not members:
            out.append('<p class="muted">none in this run</p>')
            continue
        out.append(f'<div class="scroll"><table class="verdicts" id="{gid}"><thead><tr><th>claim</th><th>kind</th>'
                   "<th>verdict</th><th>replicated</th><th>reason</th></tr></thead><tbody>")
        for c in members:
            out.append(f'<tr><td><a href="#{anchors[c["id"]]}">{escape(c["id"])}</a></td>'
                       f'<td>{escape(c["kind"])}</td><td>{badge(c["verdict"])}</td>'
                       f'<td>{escape(S.replicated(c))}</td><td>{escape(T.or_dash(c.get("reason")))}</td></tr>')
        out.append("</tbody></table></div>")
    out.append("</section>")
    return "\n".join(out)


def _facts(rows: list[tuple[str, str]]) -> str:
    """A definition list; values are HTML already (the caller escapes)."""
    return '<dl class="facts">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"


def _code_or_dash(v: object) -> str:
    return f"<code>{escape(str(v))}</code>" if v else T.DASH


def _call(p: dict) -> str:
    """One call's facts: its command as code; when, with how many seeds, at which scale, where and how long; the
    versions of what ran it."""
    return _facts([("command", _code_or_dash(p.get("command"))), ("call", escape(T.call_text(p))),
                   ("versions", escape(T.versions_text(p)))])


def _run_header(results: dict, anchors: dict[str, str]) -> str:
    """The data and every distinct call that wrote the file, oldest first, each with the claims it wrote: a
    merged file (claims of several `reproduce` calls) credits no call with another's work."""
    calls = T.calls(results)
    items = []
    for p, ids in calls:
        links = ", ".join(f'<a href="#{anchors[i]}">{escape(i)}</a>' for i in ids) or T.DASH
        items.append(f"<li>{_call(p)}{_facts([('claims', links)])}</li>")
    return ('<section id="run"><h2>Run</h2>'
            + _facts([("data", escape(T.or_dash(results.get("data")))),
                      ("written by", f"{len(calls)} call{'s' if len(calls) != 1 else ''} of skiplab, oldest first")])
            + f'<ol class="calls">{"".join(items)}</ol></section>')


def _seeds(values: list[str]) -> str:
    """Per-seed values, collapsed under the mean they make."""
    return f'<details class="seeds"><summary>per seed</summary>{escape(T.seeds_list(values))}</details>'


def _numbers_table(numbers: dict, seeds: object) -> str:
    columns, rows, numeric = T.numbers_rows(numbers, seeds)
    per_seed = T.numbers_seeds(numbers)
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f'<td{" class=num" if num else ""}>{escape(v)}{_seeds(ps) if ps else ""}</td>'
                                    for v, num, ps in zip(row, numeric, row_seeds)) + "</tr>"
                   for row, row_seeds in zip(rows, per_seed))
    return (f'<div class="scroll"><table class="numbers"><thead><tr>{head}</tr></thead><tbody>{body}</tbody>'
            "</table></div>")


def _intervals_table(intervals: list[dict]) -> str:
    """Each effect the rule judged: mean (and its per-seed values), interval, margin, noise, seeds, call
    (claims/core/stats.py)."""
    header = S.interval_header(intervals)
    text_cols = {0, 4, 6}  # the effect's name, how noise was estimated, and the call are words, the rest numbers
    with_seeds = S.has_seeds(intervals)
    rows = []
    for e in intervals:
        cells = [f'<td{"" if j in text_cols else " class=num"}>{escape(v)}</td>'
                 for j, v in enumerate(S.interval_row(e))]
        if with_seeds:  # few (one per seed) and the evidence itself: shown, not collapsed
            values = S.interval_seeds(e)
            cells.insert(2, f'<td class="seeds">{escape(T.seeds_list(values)) if values else T.DASH}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    if with_seeds:
        header = header[:2] + ["per seed"] + header[2:]
    head = "".join(f"<th>{escape(c)}</th>" for c in header)
    return (f'<div class="scroll"><table class="intervals"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}'
            f'</tbody></table></div><p class="muted">{escape(S.INTERVAL_NOTE)}</p>')


def _configs(configs: dict | list) -> str:
    """Every run's resolved config, one collapsed block per group of runs equal but for the seed."""
    groups = T.config_groups(configs)
    if not groups:
        return ""
    out = [f"<h3>Configs ({escape(T.runs_count(groups))})</h3>"]
    for g in groups:
        folders = "".join(f"<li><code>{escape(f)}</code></li>" for f in g.get("folders") or [])
        runs = ", ".join(g.get("runs") or [])
        out.append(f"<details><summary>{escape(T.group_line(g))}</summary>"
                   + _facts([("runs", escape(runs or T.DASH))]
                            + ([("folders", f"<ul>{folders}</ul>")] if folders else []))
                   + f"<pre>{escape(T.configs_json(g.get('config') or {}))}</pre></details>")
    return "\n".join(out)


def _replication(c: dict) -> str:
    """The replication line, the halves' verdicts and reasons collapsed under it."""
    line = escape(S.replication_line(c) or T.DASH)
    halves = S.halves(c)
    if not halves:
        return line
    items = "".join(f"<li>seeds {escape(s)}: {badge(v)} {escape(why)}</li>" for s, v, why in halves)
    return f"{line}<details><summary>the halves' reasons</summary><ul>{items}</ul></details>"


def _registration(c: dict) -> tuple[str, str]:
    """(label, value) of the facts row saying where the rule comes from: its registration, else its commit."""
    reg = S.registration(c)
    if reg is None:
        return "rule commit", _code_or_dash(c.get("rule_commit"))
    line, alert, history = reg
    value = f'<span class="alert">{escape(line)}</span>' if alert else escape(line)
    if history:
        value += '<ol class="history">' + "".join(f"<li>{escape(h)}</li>" for h in history) + "</ol>"
    return "rule registration", value


def _figure(fig: dict, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    title, caption = fig.get("title") or fig["id"], fig.get("caption")
    cap = f"<b>{escape(title)}</b>" + (f" {escape(caption)}" if caption else "")
    return (f'<figure id="fig-{escape(fig["id"])}"><img src="data:image/png;base64,{data}" alt="{escape(title)}">'
            f"<figcaption>{cap}</figcaption></figure>")


def _claim_section(c: dict, anchor: str, results: dict, pngs: dict[str, bytes]) -> str:
    e = lambda v: escape(T.or_dash(v))  # noqa: E731
    out = [f'<section class="claim" id="{anchor}">', f"<h2>{escape(c['id'])} {badge(c['verdict'])}</h2>"]
    if c.get("statement"):
        out.append(f'<p class="statement">{escape(c["statement"])}</p>')
    out.append(_facts([
        ("kind", e(c["kind"])),
        ("source", e(c.get("source"))),
        ("rule", e(c.get("rule"))),
        _registration(c),
        ("verdict", f"{badge(c['verdict'])} {e(c.get('reason'))}"),
        *([("replication", _replication(c))] if "replication" in c else []),
        ("budget", e(c.get("budget"))),
        ("compute time (its runs, summed, + measuring)", escape(T.duration(c.get("wall_time")))),
    ]))
    out += ["<h3>Provenance</h3>", _call(T.provenance(c, results))]
    if c.get("intervals"):
        out += ["<h3>Effects judged</h3>", _intervals_table(c["intervals"])]
    if c.get("numbers"):
        out += ["<h3>Numbers</h3>", _numbers_table(c["numbers"], results.get("seeds"))]
    if c.get("figures"):
        out.append("<h3>Figures</h3>")
        out += [_figure(f, pngs[f["id"]]) for f in c["figures"]]
    if c.get("configs"):
        out.append(_configs(c["configs"]))
    out += ['<p class="muted"><a href="#verdicts">&uarr; verdict table</a></p>', "</section>"]
    return "\n".join(out)
