"""The README's verdict table is generated from the committed quick-scale results, never typed by hand: the block
between its verdicts markers must be what `python -m skiplab.report.readme` makes of results/quick/results.json."""

from pathlib import Path

import pytest

from skiplab.report.readme import COMMAND, current_block, generate

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "quick" / "results.json"
README = ROOT / "README.md"


def test_the_readme_verdict_table_is_generated_from_the_committed_results():
    if not RESULTS.is_file():  # a failure, not a skip: the README's verdicts must come from a committed run
        pytest.fail("results/quick/results.json is missing: run `skiplab reproduce --scale quick --out results`, "
                    f"commit results/quick/results.json, then regenerate the README's table with `{COMMAND}`")
    readme, expected = generate(RESULTS, README)
    start, end = current_block(readme)
    new_start, new_end = current_block(expected)
    assert readme[start:end] == expected[new_start:new_end], \
        f"README.md's verdict table is not what results/quick/results.json gives: run `{COMMAND}`"
    assert readme == expected  # and nothing outside the markers would change
