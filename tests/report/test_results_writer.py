"""The writer's side of what the report shows (claims/core/reproduce.py, stats.py): every run's config grouped by
all but the seed, the per-seed values behind each judged effect and each table mean (Effect.values, summary's
"values"), and versions kept per claim when an older results.json is merged."""

import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from skiplab.claims.core import reproduce as R
from skiplab.claims.core.contract import Verdict
from skiplab.claims.core.stats import effect, judge, summary


@dataclass(frozen=True)
class _Job:
    label: str
    depth: int
    seed: int

    def resolved(self, folder: Path) -> dict:
        # as RunSpec's: the seed is in the folder, not the config; a FunctionRun's config may carry one
        return {"model": {"depth": self.depth}, "train": {"epochs": 2}, "seed": self.seed}


class _Done:
    def __init__(self, root: Path) -> None:
        self.root = root

    def dir(self, job: _Job) -> Path:
        return self.root / "runs" / "claims" / f"d{job.depth}" / f"seed-{job.seed}"


def test_runs_equal_but_for_the_seed_are_one_group_with_their_seeds_and_folders(tmp_path):
    jobs = [_Job(f"plain{d} seed {s}", d, s) for d in (8, 56) for s in range(3)] + [_Job("plain8 seed 3", 8, 3)]
    groups = R.run_configs(jobs, _Done(tmp_path), tmp_path / "quick")
    assert [(g["name"], g["seeds"], len(g["runs"])) for g in groups] == [("plain8", [0, 1, 2, 3], 4),
                                                                         ("plain56", [0, 1, 2], 3)]
    assert groups[0]["config"] == {"model": {"depth": 8}, "train": {"epochs": 2}}  # the seed left out
    assert groups[1]["folders"][2] == "../runs/claims/d56/seed-2"  # relative to results.json's folder
    assert groups[0]["runs"][3] == "plain8 seed 3"
    # a RunSpec keeps its seed in its RunConfig; the IMP chains' labels go on after the seed
    assert R._seed_of(SimpleNamespace(run=SimpleNamespace(seed=5))) == 5 and R._seed_of(SimpleNamespace()) is None
    chain = SimpleNamespace(label="IMP resnet seed 0, 13 round(s)", seed=0, depth=20, resolved=lambda f: {"x": 1})
    assert R.run_configs([chain], _Done(tmp_path), tmp_path)[0]["name"] == "IMP resnet, 13 round(s)"


def _rule(ev: dict) -> Verdict:
    a = effect("difference", ev["diff"], 0.1)
    b = effect("rate", ev["rate"], 0.01, examples=100, rates=[ev["rate"]])
    return Verdict("supported" if a.call == "above" and b.call == "above" else "inconclusive", a.text())


EVIDENCE = {"diff": [1.0, 2.0, 1.5, 1.25], "rate": [0.1, 0.2, 0.15, 0.125]}


def test_each_judged_effect_carries_the_per_seed_values_of_all_seeds_not_of_a_half():
    judged = judge(_rule, EVIDENCE, 4)
    assert [list(iv["values"]) for iv in judged["intervals"]] == [EVIDENCE["diff"], EVIDENCE["rate"]]
    assert judged["intervals"][0]["mean"] == 1.4375 == sum(EVIDENCE["diff"]) / 4
    halves = [[h["seeds"] for h in judged["replication"]["halves"]]]
    assert halves == [[[0, 1], [2, 3]]]  # judged on halves too, but the intervals shown are all seeds'


def test_a_table_cell_carries_its_per_seed_values():
    cell = summary(EVIDENCE["diff"])
    assert cell == {"mean": 1.4375, "std": cell["std"], "n": 4, "values": EVIDENCE["diff"]}
    assert summary([1.0, float("nan")])["values"][0] == 1.0 and summary([1.0, float("nan")])["mean"] is None


def test_merging_keeps_versions_only_for_claims_the_old_top_level_call_wrote(tmp_path):
    vers = {"torch": "2.12.0+cpu", "device": "cpu"}
    old = {"schema": 1, "command": "skiplab reproduce b", "created": "2026-12-01T00:00:00Z", "scale": "quick",
           "seeds": 6, "data": "claims' defaults", "versions": vers, "wall_time": 10.0,
           "claims": [{"id": "a", "provenance": {"command": "skiplab reproduce a", "created": "2026-11-30T00:00:00Z"}},
                      {"id": "b", "provenance": {"command": "skiplab reproduce b", "created": "2026-12-01T00:00:00Z"}},
                      {"id": "c"}]}
    path = tmp_path / "results.json"
    path.write_text(json.dumps(old))
    ctx = SimpleNamespace(scale="quick", seeds=6, data=None)
    a, b, c = R._previous(path, ctx)
    assert "versions" not in a["provenance"]  # another call's versions are unknown, not guessed
    assert b["provenance"]["versions"] == vers and c["provenance"]["versions"] == vers
    assert c["provenance"]["command"] == "skiplab reproduce b"
