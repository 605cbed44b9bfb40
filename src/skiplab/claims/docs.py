"""docs/claims.md, generated from the claim modules so the page cannot drift from the rules the code judges by.

    python -m skiplab.claims.docs > docs/claims.md

An intro (the three verdicts, verifications and empirical claims, the statistics), a table of contents, then a
section per claim in the registry's order: its statement, source, what a fair test of it needs (`fair_test`, where
the claim states it) and its rule, all from its `CLAIM`.
"""

from __future__ import annotations

import re
import sys

from skiplab.report.markdown import esc

from . import CLAIMS
from .core.contract import Claim

COMMAND = "python -m skiplab.claims.docs > docs/claims.md"

INTRO = """\
# The claims skiplab checks

Each claim of the residual-network story is an experiment that ends in a verdict: `skiplab reproduce <id>` trains
(or reuses) the runs it needs, measures, and judges the measurement by the claim's rule. The report
(`report.html`, `report.md`, `results.json`) shows the numbers, the figures and how each verdict was reached; this
page lists what each claim says, where it comes from, what a fair test of it needs and the rule it is judged by.

## Three verdicts

- **supported**: the effect the rule names clears its margin in the direction the claim predicts, and every
  precondition of a fair test holds (for example: the nets compared were trained well enough to compare).
- **not supported**: the effect clears its margin in the other direction, or the part of the claim it tests is
  false. This is a finding, reported as such.
- **inconclusive**: the interval of the effect overlaps the margin (the data cannot tell), or a precondition of a
  fair test failed, and the reason says which.

## Verifications and empirical claims

A **verification** checks a mathematical fact numerically (a convergence order, a stability boundary, a path
count, the unrolled sum); it can still fail, and then it has found a bug. An **empirical** claim is about what
training does. A claim of kind "verification + empirical" has a part of each: it is not supported if either part is
not, supported if both are, and inconclusive otherwise.

## How an empirical verdict is decided

The statistics are in `src/skiplab/claims/core/stats.py`; in short:

- **An interval over seeds.** The effect (usually a per-seed difference between two arms; the seeds are paired:
  seed s of every arm shares its data order and, where it can, its initialization) is averaged over the seeds, at
  least 6 at quick scale (`--seeds 6`, the default), and judged on the 95% Student-t interval of that mean, with
  k - 1 degrees of freedom. A t-interval rather than a bootstrap: with 6 seeds a percentile bootstrap covers about
  88% instead of 95%, with 3 about 75%.
- **The test set's own noise.** Where the effect is an error rate or accuracy on held-out examples, those examples
  are one sample shared by every seed, so their binomial variance is added to the interval's, with
  Welch-Satterthwaite degrees of freedom in place of k - 1 (that part is known, not estimated): more seeds cannot
  average it away. So a claim that two arms *match* within a margin of 2 binomial standard errors cannot be shown
  on such a test set (the interval's half-width is at least 1.96 of them): it stays inconclusive until the test set
  grows.
- **A margin of at least 2 standard errors of noise.** The margin a rule registers is raised, where needed, to 2
  standard errors of the measurement's own noise: for a rate on n examples the binomial sqrt(p(1 - p)/n), summed in
  quadrature over the two arms of a difference; for any other statistic the seed-to-seed standard error
  sd / sqrt(k). Supported or not supported only when the whole interval lies on one side of the margin.
- **Replication.** The verdict is computed again on each of two disjoint halves of the seeds (seeds 0-2 and 3-5 of
  6); it is *replicated* only if both halves reach the verdict of all the seeds. A verification judges no effect
  over seeds: its replication is n/a.
- **Registered rules.** Each rule's hash (of the verdict, the measurement and what they read;
  `src/skiplab/claims/core/registry.py`) is registered in the repository before its results are looked at. The
  report prints "rule registered at <commit>, <date>", or in red a rule changed after registration (with the
  reason and the history) or a rule that is not registered.
"""


def anchor(claim_id: str) -> str:
    """GitHub's id for the heading `### <id>` (claim ids are lower-case words joined by '-')."""
    return re.sub(r"[^a-z0-9-]", "", claim_id.lower())


def para(text: str) -> str:
    """Text for a paragraph: escaped as a table cell would be, except '|' and '>', which are markup only in a table
    or at the start of a line, so ||x|| and >= stay readable in the raw file."""
    return esc(text).replace("\\|", "|").replace("\\>", ">")


def section(claim: Claim, module: str) -> list[str]:
    out = [f"### {claim.id}", "", f"*{claim.kind}* · `skiplab reproduce {claim.id}` · `{module}`", "",
           f"**Claim.** {para(claim.statement)}", "", f"**Source.** {para(claim.source)}", ""]
    if claim.fair_test:
        out += [f"**A fair test.** {para(claim.fair_test)}", ""]
    return out + [f"**Rule.** {para(claim.rule)}", ""]


def render() -> str:
    """The whole page."""
    out = [INTRO, "## The claims", "", f"Generated by `{COMMAND}` from the claim modules; edit those, not this page.",
           "", "| claim | kind | statement |", "|---|---|---|"]
    out += [f"| [{m.CLAIM.id}](#{anchor(m.CLAIM.id)}) | {m.CLAIM.kind} | {esc(m.CLAIM.statement)} |"
            for m in CLAIMS.values()]
    out.append("")
    for m in CLAIMS.values():
        out += section(m.CLAIM, getattr(m, "__name__", ""))  # a module; the Protocol does not name __name__
    return "\n".join(out).rstrip("\n") + "\n"


if __name__ == "__main__":
    sys.stdout.buffer.write(render().encode("utf-8"))  # UTF-8 whatever the locale: the page is committed
