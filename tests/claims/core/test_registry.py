"""The rule registry: what a rule hash covers, registering with a reason, each claim's status, and the live check that
every claim's current rule is the one registered in skiplab/claims/rules.json."""

from __future__ import annotations

import dataclasses
import importlib
import json
import re
import subprocess
import sys
import uuid

import pytest

import skiplab.claims as claims_pkg
from skiplab.claims import CLAIMS
from skiplab.claims.core import registry as R
from skiplab.errors import ConfigError

HELPER = """
MARGIN = 0.05  # a tracked threshold
CACHE: dict = {}  # run-time state, not part of the rule


def judge(x):
    return "supported" if x > MARGIN else "not supported"
"""
NESTED_HELPER = """
MARGIN = 0.05  # a tracked threshold
CACHE: dict = {}  # run-time state, not part of the rule

if True:  # the same function one indentation level deeper
    def judge(x):
        return "supported" if x > MARGIN else "not supported"
"""
CLAIM = """
from skiplab.claims.core.contract import Claim, Verdict
from {lib} import SCALE
import {lib} as lib
from . import helper

CLAIM = Claim(id="fake-claim", kind="empirical", statement="s", source="t", rule="r")


def runs(ctx):
    return []


def budget(ctx):
    return "no budget"


def measure(ctx, done):
    helper.CACHE["seen"] = True
    return {{"x": SCALE * lib.FACTOR}}


def verdict(evidence):
    return Verdict(helper.judge(evidence["x"]), "")


def present(evidence):
    return {{}}, []
"""


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A fake chapter `skiplab.claims.<unique>` (tracked) with a helper and a claim module, and a library outside
    skiplab (untracked). `fake(helper_source, folder)` imports it and returns (claim module, helper, library)."""
    name, lib = f"zz_fake_{uuid.uuid4().hex[:8]}", f"zz_lib_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{lib}.py").write_text("SCALE = 2.0\nFACTOR = 3.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)

    def make(helper=HELPER, folder="a"):
        root = tmp_path / folder
        (root / name).mkdir(parents=True)
        (root / name / "__init__.py").write_text("")
        (root / name / "helper.py").write_text(helper)
        (root / name / "claim.py").write_text(CLAIM.format(lib=lib))
        for key in [k for k in sys.modules if k.startswith(f"skiplab.claims.{name}")]:
            del sys.modules[key]
        monkeypatch.setattr(claims_pkg, "__path__", [*claims_pkg.__path__[:1], str(root)])
        importlib.invalidate_caches()
        module = importlib.import_module(f"skiplab.claims.{name}.claim")
        return module, sys.modules[f"skiplab.claims.{name}.helper"], importlib.import_module(lib)

    yield make
    for key in [k for k in sys.modules if k.startswith(f"skiplab.claims.{name}") or k == lib]:
        del sys.modules[key]


def test_hash_is_stable_and_well_formed(fake):
    claim, _, _ = fake()
    assert re.fullmatch(r"sha256:[0-9a-f]{16}", R.rule_hash(claim))
    assert R.rule_hash(claim) == R.rule_hash(claim)


def test_hash_ignores_indentation_of_moved_code(fake):
    flat = R.rule_hash(fake(HELPER, "flat")[0])
    nested = R.rule_hash(fake(NESTED_HELPER, "nested")[0])
    assert flat == nested


def test_closure_covers_roots_helpers_and_tracked_constants(fake):
    claim, helper, lib = fake()
    items = R.rule_closure(claim)
    prefix = claim.__name__.rsplit(".", 1)[0]
    for role in ("verdict", "measure", "runs", "budget"):
        assert items[f"root {role}"] == f"{claim.__name__}.{role}"
    assert f"def {prefix}.helper.judge" in items
    assert items[f"const {prefix}.helper.MARGIN"] == "0.05"
    assert f"def {claim.__name__}.present" not in items  # presentation is not the rule
    # outside skiplab: by name only (the top-level package), whether imported by name or used as a module
    assert items[f"ref {claim.__name__}.SCALE"] == f"external {lib.__name__}.SCALE"
    assert items[f"ref {claim.__name__}.lib"] == f"module {lib.__name__}"


def test_changing_a_helper_constant_changes_the_hash(fake, monkeypatch):
    claim, helper, _ = fake()
    before = R.rule_hash(claim)
    monkeypatch.setattr(helper, "MARGIN", 0.06)
    assert R.rule_hash(claim) != before
    monkeypatch.setattr(helper, "MARGIN", 0.05)
    assert R.rule_hash(claim) == before


def test_untracked_changes_and_run_time_state_do_not_change_the_hash(fake, monkeypatch):
    claim, helper, lib = fake()
    before = R.rule_hash(claim)
    monkeypatch.setattr(lib, "FACTOR", 4.0)  # a library outside skiplab
    monkeypatch.setattr(claim, "SCALE", 5.0)  # a value imported from it
    monkeypatch.setattr(claim, "present", lambda evidence: ({"changed": True}, []))  # presentation
    claim.measure(None, None)  # fills the helper's cache
    assert helper.CACHE == {"seen": True}
    assert R.rule_hash(claim) == before


def test_a_shared_scale_config_is_part_of_every_rule_that_reads_it(monkeypatch):
    from skiplab.claims.depth import ladder
    key = "const skiplab.claims.depth.ladder.QUICK"
    readers = [m for m in CLAIMS.values() if key in R.rule_closure(m)]
    assert readers, "no claim reads the depth ladder's QUICK scale any more: pick another shared config here"
    before = {m.CLAIM.id: R.rule_hash(m) for m in readers}
    monkeypatch.setattr(ladder, "QUICK", dataclasses.replace(ladder.QUICK, probe_every=ladder.QUICK.probe_every + 1))
    assert all(R.rule_hash(m) != before[m.CLAIM.id] for m in readers)


def test_real_closures_follow_chapters_and_statistics_only():
    allowed_core = ("def skiplab.claims.core.stats.", "def skiplab.claims.core.contract.two_part")
    for m in CLAIMS.values():
        defs = [k for k in R.rule_closure(m) if k.startswith("def ")]
        assert all(k.startswith("def skiplab.claims.") for k in defs), m.CLAIM.id
        assert all(not k.startswith("def skiplab.claims.core.") or k.startswith(allowed_core) for k in defs), \
            (m.CLAIM.id, [k for k in defs if k.startswith("def skiplab.claims.core.")])


def test_tracked_modules():
    assert R.tracked_module("skiplab.claims.depth.ladder")
    assert R.tracked_module("skiplab.claims.core.stats")
    assert not R.tracked_module("skiplab.claims.core.engine")
    assert not R.tracked_module("skiplab.claims.core.contract")  # only two_part, as an object
    assert not R.tracked_module("skiplab.claims")
    assert not R.tracked_module("skiplab.models.net")


def test_register_appends_and_status_follows(fake, tmp_path, monkeypatch):
    claim, helper, _ = fake()
    path = tmp_path / "rules.json"
    assert R.status(claim, path)["status"] == "unregistered"
    assert R.register({"fake-claim": claim}, "registered", path, today="2026-01-02") == \
        [("fake-claim", R.rule_hash(claim))]
    st = R.status(claim, path)
    assert (st["status"], st["reason"], st["commit"]) == ("registered", "registered", None)  # not a git checkout
    assert R.describe(st) == "rule registered (uncommitted)"
    assert R.register({"fake-claim": claim}, "again", path) == []  # unchanged: nothing appended
    monkeypatch.setattr(helper, "MARGIN", 0.07)
    st = R.status(claim, path)
    assert st["status"] == "unregistered" and R.describe(st) == R.UNREGISTERED_TEXT
    R.register({"fake-claim": claim}, "margin raised to 0.07 (issue 0)", path, today="2026-01-03")
    entries = json.loads(path.read_text())["fake-claim"]
    assert [e["reason"] for e in entries] == ["registered", "margin raised to 0.07 (issue 0)"]
    assert [e["date"] for e in entries] == ["2026-01-02", "2026-01-03"]
    st = R.status(claim, path)
    assert st["status"] == "changed" and st["reason"] == "margin raised to 0.07 (issue 0)"
    assert R.describe(st).startswith("rule changed after registration: margin raised to 0.07 (issue 0)")


def test_register_refuses_an_empty_reason(fake, tmp_path):
    claim, _, _ = fake()
    for reason in ("", "   "):
        with pytest.raises(ConfigError, match="--reason"):
            R.register({"fake-claim": claim}, reason, tmp_path / "rules.json")
    assert not (tmp_path / "rules.json").exists()


def test_cli_refuses_register_without_a_reason(capsys):
    from skiplab.claims.register import main
    assert main(["register"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: register needs --reason") and "\n" not in err


def test_pre_registry_history_makes_a_rule_changed(fake, tmp_path):
    claim, _, _ = fake()
    path = tmp_path / "rules.json"
    R.save({"fake-claim": [{"hash": None, "commit": "abc1234", "date": "2025-01-01", "reason": "budget cut"}]}, path)
    R.register({"fake-claim": claim}, "registered", path, today="2025-02-01")
    st = R.status(claim, path)
    assert st["status"] == "changed" and [e["commit"] for e in st["history"]][0] == "abc1234"


def test_load_refuses_an_entry_without_reason(tmp_path):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"x": [{"hash": "sha256:0123456789abcdef", "date": "2025-01-01", "reason": ""}]}))
    with pytest.raises(ConfigError, match="x entry 0"):
        R.load(path)


def _git(cwd, *args):
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout.strip()


def test_status_names_the_commit_that_registered_the_hash_and_amend_stops_there(fake, tmp_path, monkeypatch):
    claim, helper, _ = fake()
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    path = repo / "rules.json"
    R.register({"fake-claim": claim}, "registered", path)
    monkeypatch.setattr(helper, "MARGIN", 0.08)
    R.register({"fake-claim": claim}, "registered", path, amend=True)  # not committed: replaced
    assert len(json.loads(path.read_text())["fake-claim"]) == 1
    _git(repo, "add", "rules.json")
    _git(repo, "commit", "-q", "-m", "register")
    st = R.status(claim, path)
    assert st["commit"] == _git(repo, "rev-parse", "--short", "HEAD") and re.fullmatch(r"\d{4}-\d\d-\d\d", st["date"])
    assert R.describe(st) == f"rule registered at {st['commit']}, {st['date']}"
    monkeypatch.setattr(helper, "MARGIN", 0.09)
    with pytest.raises(ConfigError, match="committed"):
        R.register({"fake-claim": claim}, "fix", path, amend=True)


def test_registry_file_is_well_formed_and_names_real_commits():
    registry = R.load()
    assert set(CLAIMS) <= set(registry), f"claims missing from {R.REGISTRY}: {sorted(set(CLAIMS) - set(registry))}"
    inside_git = subprocess.run(["git", "-C", str(R.REGISTRY.parent), "rev-parse"], capture_output=True).returncode == 0
    for cid, entries in registry.items():
        assert any(e["hash"] for e in entries), f"{cid}: no registered hash"
        for e in entries:
            if e["hash"] is None and inside_git:
                found = subprocess.run(["git", "-C", str(R.REGISTRY.parent), "cat-file", "-e",
                                        f"{e['commit']}^{{commit}}"], capture_output=True)
                assert found.returncode == 0, f"{cid}: history names commit {e['commit']}, which git does not know"


@pytest.mark.parametrize("claim_id", list(CLAIMS))
def test_every_rule_is_registered(claim_id):
    """The live check: a rule whose hash changed must be registered again, with the reason it changed."""
    module = CLAIMS[claim_id]
    entries = R.load().get(claim_id, [])
    latest = next((e["hash"] for e in reversed(entries) if e.get("hash")), None)
    current = R.rule_hash(module)
    assert current == latest, (
        f"{claim_id}: its rule changed after registration (hash {current}, registered {latest or 'never'} in "
        f"{R.REGISTRY}). Register the change with its reason: python -m skiplab.claims.register register "
        f"--reason \"<why the rule changed>\" {claim_id}   (`... show {claim_id}` lists what the hash covers)")
