"""The verdict table `skiplab reproduce` prints: one row per claim run, with whether its verdict replicated on both
halves of the seeds (n/a where no effect was judged), from results.json's claim entries."""

from rich.console import Console

from skiplab.cli.reproduce import verdict_table

HALVES = [{"seeds": [0, 1, 2], "verdict": "supported", "reason": "a"},
          {"seeds": [3, 4, 5], "verdict": "inconclusive", "reason": "b"}]
CLAIMS = [
    {"id": "degradation", "kind": "empirical", "verdict": "supported", "reason": "effect +3.90 [+3.01, +4.79]",
     "replication": {"halves": [{**HALVES[0]}, {**HALVES[1], "verdict": "supported"}], "replicated": True}},
    {"id": "boosting", "kind": "empirical", "verdict": "supported", "reason": "r",
     "replication": {"halves": HALVES, "replicated": False}},
    {"id": "tddft-euler", "kind": "verification", "verdict": "supported", "reason": "31/31 checks",
     "replication": None},
]


def _lines(claims: list[dict]) -> list[str]:
    console = Console(record=True, width=200, color_system=None)
    console.print(verdict_table(claims, "quick", 6))
    return console.export_text().splitlines()


def test_the_table_has_a_replicated_column_yes_no_or_na():
    lines = _lines(CLAIMS)
    assert lines[0].strip() == "verdicts (quick scale, 6 seeds)"
    assert [c.strip() for c in lines[2].split("┃")[1:-1]] == ["claim", "kind", "verdict", "replicated", "reason"]
    rows = [[c.strip() for c in ln.split("│")[1:-1]] for ln in lines if ln.startswith("│")]
    assert rows == [["degradation", "empirical", "supported", "yes", "effect +3.90 [+3.01, +4.79]"],
                    ["boosting", "empirical", "supported", "no", "r"],
                    ["tddft-euler", "verification", "supported", "n/a", "31/31 checks"]]


def test_a_claim_kept_from_an_older_results_json_shows_a_dash():
    rows = [ln for ln in _lines([{"id": "old", "kind": "empirical", "verdict": "inconclusive", "reason": "[x]"}])
            if ln.startswith("│")]
    # the reason's brackets are text, not rich markup
    assert [c.strip() for c in rows[0].split("│")[1:-1]] == ["old", "empirical", "inconclusive", "—", "[x]"]
