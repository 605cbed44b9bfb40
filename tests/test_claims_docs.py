"""docs/claims.md is generated from the claim modules (`python -m skiplab.claims.docs > docs/claims.md`): it must be
what the generator prints now, and the generator prints every claim's fields, escaped for Markdown."""

from pathlib import Path

from skiplab.claims import CLAIMS, Claim
from skiplab.claims.docs import COMMAND, anchor, render, section

DOC = Path(__file__).resolve().parents[1] / "docs" / "claims.md"


def test_docs_claims_md_is_up_to_date_with_the_claim_modules():
    assert DOC.is_file(), f"docs/claims.md is missing: run `{COMMAND}`"
    assert DOC.read_text(encoding="utf-8") == render(), f"docs/claims.md is out of date: run `{COMMAND}`"


def test_every_claim_has_a_linked_section_in_registry_order():
    page = render()
    headings = [line[4:] for line in page.splitlines() if line.startswith("### ")]
    assert headings == list(CLAIMS)
    for cid, m in CLAIMS.items():
        assert f"| [{cid}](#{anchor(cid)}) | {m.CLAIM.kind} |" in page
    for words in ("**supported**", "**not supported**", "**inconclusive**", "95% Student-t interval",
                  "standard errors of the measurement's own noise", "(`--seeds 6`, the default)",
                  "two disjoint halves of the seeds", "Registered rules."):
        assert words in page, words


def test_a_section_known_answer_with_and_without_a_fair_test():
    claim = Claim("toy-claim", "empirical", "alpha*beta^2 ~ 2 with ||x|| <b>", "Doe 2020", "supported if d >= 1",
                  fair_test="same budget | same data")
    assert section(claim, "skiplab.claims.toy") == [
        "### toy-claim", "", "*empirical* · `skiplab reproduce toy-claim` · `skiplab.claims.toy`", "",
        r"**Claim.** alpha\*beta^2 \~ 2 with ||x|| \<b>", "", "**Source.** Doe 2020", "",
        "**A fair test.** same budget | same data", "", "**Rule.** supported if d >= 1", ""]
    bare = Claim("toy-claim", "verification", "s", "src", "r")
    assert not any("fair test" in line for line in section(bare, "m"))
    assert anchor("euler-stability") == "euler-stability"
