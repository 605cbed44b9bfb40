"""The claim contract: every registered claim satisfies it, a module that does not is refused, and the context
checks itself."""

import ast
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

import skiplab.claims
from skiplab.claims import CLAIMS
from skiplab.claims.core.contract import CONTRACT, Claim, Context, check_claim_module
from skiplab.errors import ConfigError


def test_every_registered_claim_satisfies_the_contract():
    assert len(CLAIMS) == 25
    for cid, m in CLAIMS.items():
        assert check_claim_module(m) is m and m.CLAIM.id == cid
        assert all(callable(getattr(m, f)) for f in CONTRACT)


def test_a_module_missing_part_of_the_contract_is_refused():
    m = types.ModuleType("broken")
    m.CLAIM = Claim(id="broken", kind="empirical", statement="s", source="s", rule="r")
    m.runs = m.budget = m.measure = m.verdict = lambda *a: None
    with pytest.raises(TypeError, match="missing present"):
        check_claim_module(m)
    m.present, m.CLAIM = (lambda e: None), "not a Claim"
    with pytest.raises(TypeError, match="CLAIM must be"):
        check_claim_module(m)


def test_claim_declarations_are_checked():
    with pytest.raises(ValueError, match="lower-case"):
        Claim(id="Bad Id", kind="empirical", statement="s", source="s", rule="r")
    with pytest.raises(ValueError, match="kind"):
        Claim(id="ok", kind="anecdotal", statement="s", source="s", rule="r")  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs, field", [({"scale": "huge"}, "scale"), ({"seeds": 0}, "seeds"),
                                           ({"seeds": True}, "seeds"), ({"workers": 0}, "workers"),
                                           ({"max_steps": 0}, "max_steps"), ({"data": ""}, "data"),
                                           ({"overrides": ("epochs",)}, "epochs"),
                                           ({"overrides": ["a=1"]}, "overrides")])
def test_context_refuses_bad_values(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        Context(**kwargs)


def test_context_carries_workers_and_progress():
    said: list[str] = []
    ctx = Context(seeds=2, workers=1, say=said.append)
    assert ctx.seed_list == [0, 1] and ctx.workers == 1
    assert ctx.map(abs, [-3, 1, -2], "absolute values") == [3, 1, 2]
    assert len(said) == 3 and said[-1].startswith("[3/3] absolute values")
    # in spawned workers (which import the function by name: a builtin here), job order kept
    assert Context(workers=2).map(abs, [-3, 1, -2], "absolute values") == [3, 1, 2]
    assert Context(say=print) == Context()  # progress output is not part of a context's identity


TRAINERS = {"fit", "run_training", "train_dense", "train_masked", "imp"}


def test_claims_train_only_through_the_engine():
    """No claim calls a trainer in its measure or anywhere else: training happens in a Job's train() (RunSpec,
    FunctionRun, the ticket chains), which the engine calls before any claim measures."""
    root = Path(skiplab.claims.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for fn in node.body:
                    if isinstance(fn, ast.FunctionDef) and fn.name == "train":
                        fn.body = []  # a Job's train() is where training belongs
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", None))
                if name in TRAINERS:
                    offenders.append(f"{path.relative_to(root)}:{node.lineno} {name}")
    assert offenders == []


def _mypy(tmp_path: Path, lines: list[str]) -> subprocess.CompletedProcess:
    src = Path(skiplab.claims.__file__).parents[2]  # src/, so that mypy reads skiplab itself
    check = tmp_path / "contract_check.py"
    check.write_text("\n".join(["from skiplab.claims.core.contract import ClaimModule", *lines]) + "\n")
    # follow-imports=silent: skiplab's own modules are read for their types but not reported on
    return subprocess.run([sys.executable, "-m", "mypy", "--follow-imports=silent", "--ignore-missing-imports",
                           "--no-incremental", str(check)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "MYPYPATH": str(src)})


def test_a_type_checker_sees_every_claim_satisfy_the_protocol(tmp_path):
    """The contract is visible to type checkers: mypy accepts every registered claim module as a ClaimModule,
    and refuses a module that is not a claim."""
    lines = []
    for i, m in enumerate(CLAIMS.values()):
        parent, _, leaf = m.__name__.rpartition(".")
        lines += [f"from {parent} import {leaf} as claim_{i}", f"c_{i}: ClaimModule = claim_{i}"]
    ok = _mypy(tmp_path, lines)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = _mypy(tmp_path, ["from skiplab.claims.core import stats", "x: ClaimModule = stats"])
    assert bad.returncode == 1 and 'variable has type "ClaimModule"' in bad.stdout
