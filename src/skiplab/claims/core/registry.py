"""The registry of claim rules: a hash of everything a claim's verdict depends on, and the rule's recorded history.

`skiplab/claims/rules.json` holds, per claim id, a list of entries, oldest first:
`{"hash": "sha256:<16 hex>", "date": "YYYY-MM-DD", "reason": "..."}`. The first hashed entry registers the rule
(reason "registered"); each later one records a change of the rule and why it was made. Entries with
`"hash": null` and a `"commit"` come from before the registry existed: changes made after a result had been seen,
disclosed in the commit that made them. `status(module)` compares a claim's current hash with the registry, and
`python -m skiplab.claims.register register --reason "..." [ids]` appends an entry for every rule whose hash
changed (`check` lists every claim's status and exits 1 if one is unregistered; `show ID` prints what its hash
covers).

**What the hash covers** (`rule_closure`). It starts from the claim module's `verdict`, `measure`, `runs` and
`budget` (the verdict and what decides the evidence and the budget it judges) and follows what they read:
- each function's or class's source text (`inspect.getsource`, dedented, so moving code to another indentation
  level does not change it), keyed by its qualified name (so moving it to another module does);
- every global name and attribute chain the source reads (`degradation.MARGIN`, `ladder.scale_config`, also in
  nested functions, lambdas, decorators and annotations) and names imported inside a function, resolved in the
  function's module, and the values of a function's closure cells. What they resolve to is followed when it is
  defined in a *tracked* module: the chapters (every module under `skiplab.claims` outside `skiplab.claims.core`),
  `skiplab.claims.core.stats` (the statistics every verdict uses) and the one function
  `skiplab.claims.core.contract.two_part`. Functions and classes are included by source and followed recursively;
  a tracked module is a namespace its attributes are resolved in;
- constants bound in a tracked module (assigned there, or imported from another tracked module) by value:
  numbers, strings, tuples, frozensets, enums, numpy scalars and arrays, and dataclass instances field by field
  (the QUICK / FULL scale configs, including the defaults of their nested configs such as `TrainConfig`). A mutable
  container (dict, list, set) is included by the source of its module-level assignment instead, so a cache filled
  at run time (the ticket run set's `_CACHE`) does not change the hash; an object without a stable repr (one that
  prints its address) is included the same way. A value a tracked module imports from an untracked one (the
  verdict labels from contract, `INTEGRATORS` from models) is named only, like code (below).

**What it does not cover.** `present` (presentation); the rest of `skiplab.claims.core` (contract, engine,
runspec, function_run, pool, datasets, scale, reproduce) and everything outside `skiplab.claims` (models, train,
probes, attacks, pruning, physics, data) and outside skiplab: those are recorded by name only (a skiplab object by
its qualified name, a third-party one by its top-level package, e.g. "numpy"), so re-pointing a name is seen but a
change inside them is not: what they compute is pinned by the run folders' hashes and protocol versions, not by the
rule. Not covered either: code reached only dynamically (a `getattr` with a computed name; an attribute of a
tracked module passed as a value and read inside an untracked function), the `CLAIM` text unless a followed
function reads it, and the code of a method called on a local variable whose class the source never names."""

from __future__ import annotations

import ast
import dataclasses
import enum
import hashlib
import importlib
import importlib.util
import inspect
import json
import re
import subprocess
import sys
import textwrap
import types
from datetime import date
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from skiplab._atomic import write_text
from skiplab.errors import ConfigError

REGISTRY = Path(__file__).resolve().parent.parent / "rules.json"
ROOTS = ("verdict", "measure", "runs", "budget")
CORE = "skiplab.claims.core"
TRACKED_CORE = {f"{CORE}.stats": None, f"{CORE}.contract": {"two_part"}}  # None: the whole module
HASH = re.compile(r"sha256:[0-9a-f]{16}")
UNREGISTERED_TEXT = "rule changed after registration and not re-registered"
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def tracked_module(name: str) -> bool:
    """True for the modules whose code and namespaces the hash follows (chapters and core.stats)."""
    if name in TRACKED_CORE:
        return TRACKED_CORE[name] is None
    return name.startswith("skiplab.claims.") and not (name == CORE or name.startswith(CORE + "."))


def _tracked_object(obj: Any) -> bool:
    module = getattr(obj, "__module__", None) or ""
    names = TRACKED_CORE.get(module)
    return tracked_module(module) or (names is not None and getattr(obj, "__qualname__", None) in names)


def _external_name(obj: Any) -> str:
    """A name for an untracked object: its qualified name inside skiplab, else its top-level package only (stable
    across library versions, which move functions between their private modules)."""
    module = obj.__name__ if isinstance(obj, types.ModuleType) else (getattr(obj, "__module__", None) or
                                                                     type(obj).__module__)
    if not (module == "skiplab" or module.startswith("skiplab.")):
        return module.split(".")[0]
    qual = "" if isinstance(obj, types.ModuleType) else getattr(obj, "__qualname__", type(obj).__qualname__)
    return f"{module}.{qual}" if qual else module


def _chains(tree: ast.AST) -> set[tuple[str, ...]]:
    """Every name read and every attribute chain on a name (`a.b.c` -> ("a", "b", "c")) in `tree`."""
    out: set[tuple[str, ...]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            out.add((node.id,))
        elif isinstance(node, ast.Attribute):
            parts, cur = [node.attr], node.value
            while isinstance(cur, ast.Attribute):
                parts.append(cur.attr)
                cur = cur.value
            if isinstance(cur, ast.Name):
                out.add((cur.id, *reversed(parts)))
    return out


def _from_module(node: ast.ImportFrom, package: str) -> str:
    """The absolute name of the module a `from ... import` statement imports from."""
    name = "." * node.level + (node.module or "")
    return importlib.util.resolve_name(name, package) if node.level else name


def _local_imports(tree: ast.AST, package: str) -> set[tuple[str, str]]:
    """(module, name) of every `from m import name` in `tree` (imports inside functions are not globals)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            out |= {(_from_module(node, package), a.name) for a in node.names if a.name != "*"}
    return out


class _Closure:
    """Walks the code a claim's rule depends on and collects `items`: key -> normalised text."""

    def __init__(self) -> None:
        self.items: dict[str, str] = {}
        self._seen: dict[int, str] = {}  # id of a followed object -> its qualified name (each is walked once)
        self._module_trees: dict[str, tuple[str, ast.Module] | None] = {}

    def follow(self, obj: Any) -> str:
        """Include a tracked function or class by source (and what it reads); return its qualified name."""
        obj = inspect.unwrap(obj) if callable(obj) and hasattr(obj, "__wrapped__") else obj
        qual = f"{obj.__module__}.{obj.__qualname__}"
        if id(obj) in self._seen:
            return self._seen[id(obj)]
        self._seen[id(obj)] = qual
        try:
            src = textwrap.dedent(inspect.getsource(obj))
        except (OSError, TypeError) as e:  # never hash a rule without its code: say which object has none
            raise RuntimeError(f"rule hash: no source for {qual} ({e})") from None
        key = f"def {qual}"
        if self.items.get(key, src) != src:  # two objects, one name (module-level lambdas): tell them by content
            key = f"def {qual}#{hashlib.sha256(src.encode()).hexdigest()[:8]}"
        self.items[key] = src
        namespace = obj.__globals__ if inspect.isfunction(obj) else vars(sys.modules[obj.__module__])
        tree = ast.parse(src)
        for chain in sorted(_chains(tree)):
            self.resolve(chain, namespace)
        for mod, name in sorted(_local_imports(tree, namespace.get("__package__") or "")):
            if tracked_module(mod) or mod in TRACKED_CORE:
                self.resolve((name,), vars(importlib.import_module(mod)))
        code = getattr(obj, "__code__", None)
        for name, cell in zip(code.co_freevars if code else (), getattr(obj, "__closure__", None) or ()):
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell: a name bound later in the enclosing function
                continue
            self.value(f"{qual}.<closure>.{name}", value, None)
        return qual

    def resolve(self, chain: tuple[str, ...], namespace: dict[str, Any]) -> None:
        """Resolve a name (and its attributes while they are tracked modules) in `namespace` and include it."""
        if chain[0] not in namespace:  # a local, a parameter or a builtin
            return
        where, value = (namespace.get("__name__", "?"), chain[0]), namespace[chain[0]]
        for attr in chain[1:]:
            if not (isinstance(value, types.ModuleType) and tracked_module(value.__name__)
                    and hasattr(value, attr)):
                break
            where, value = (value.__name__, attr), getattr(value, attr)
        self.value(f"{where[0]}.{where[1]}", value, where)

    def value(self, name: str, value: Any, where: tuple[str, str] | None) -> None:
        """Include what `name` is bound to: code (followed or named), or a constant."""
        if isinstance(value, types.ModuleType):
            if not tracked_module(value.__name__):
                self.items[f"ref {name}"] = f"module {_external_name(value)}"
            return  # a tracked module is a namespace: what is read from it is included on its own
        if _is_code(value):
            target = inspect.unwrap(value) if hasattr(value, "__wrapped__") else value
            if _tracked_object(target):
                self.follow(target)
            else:
                self.items[f"ref {name}"] = f"external {_external_name(target)}"
            return
        origin = self.import_origin(*where) if where else None
        if origin and not tracked_module(origin[0]):  # a value defined outside the tracked modules: name only
            self.items[f"ref {name}"] = f"external {_external_name(sys.modules.get(origin[0]) or origin[0])}" \
                                        f".{origin[1]}"
            return
        mutable = isinstance(value, (dict, list, set, bytearray))
        text = None if mutable and where and tracked_module(where[0]) else self.canon(value)
        if text is None and where is not None:
            text = self.assignment(*where)
        if text is None and mutable:  # a container with no assignment found: its value is the best we have
            text = self.canon(value)
        self.items[f"const {name}"] = text if text is not None else f"<{_external_name(type(value))} instance>"

    def canon(self, v: Any) -> str | None:
        """A stable text for a constant (None if it has none): the same in every process and on every machine."""
        if isinstance(v, enum.Enum):
            return f"{type(v).__qualname__}.{v.name}"
        if v is None or isinstance(v, (bool, int, float, complex, str, bytes)):
            return repr(v)
        if isinstance(v, np.generic):
            return f"{type(v).__name__}({v.item()!r})"
        if isinstance(v, np.ndarray):
            return f"ndarray({v.dtype}, {v.shape}, {hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()})"
        if isinstance(v, (tuple, list)):
            parts = [self.canon(x) for x in v]
            if any(p is None for p in parts):
                return None
            if type(v) is tuple:
                return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"  # type: ignore[arg-type]
            open_ = "[" if isinstance(v, list) else f"{type(v).__qualname__}("  # a named tuple by its type's name
            return open_ + ", ".join(parts) + ("]" if isinstance(v, list) else ")")  # type: ignore[arg-type]
        if isinstance(v, (set, frozenset)):
            parts = [self.canon(x) for x in v]
            return None if any(p is None for p in parts) else "{" + ", ".join(sorted(parts)) + "}"  # type: ignore
        if isinstance(v, dict):
            pairs = [(self.canon(k), self.canon(x)) for k, x in v.items()]
            if any(k is None or x is None for k, x in pairs):
                return None
            return "{" + ", ".join(f"{k}: {x}" for k, x in pairs) + "}"
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            if _tracked_object(type(v)):
                self.follow(type(v))
            fields = [(f.name, self.canon(getattr(v, f.name))) for f in dataclasses.fields(v)]
            if any(x is None for _, x in fields):
                return None
            return f"{type(v).__qualname__}(" + ", ".join(f"{k}={x}" for k, x in fields) + ")"
        if _is_code(v) or isinstance(v, types.ModuleType):  # code inside a constant: followed or named
            target = inspect.unwrap(v) if callable(v) and hasattr(v, "__wrapped__") else v
            if not isinstance(v, types.ModuleType) and _tracked_object(target):
                return f"<{self.follow(target)}>"
            return f"<{_external_name(target)}>"
        text = repr(v)
        return None if _ADDRESS.search(text) else f"{_external_name(type(v))}:{text}"

    def source(self, module_name: str) -> tuple[str, ast.Module] | None:
        """The source of a module and its parse (cached), None if it has none."""
        if module_name not in self._module_trees:
            try:
                text = inspect.getsource(sys.modules[module_name])
                self._module_trees[module_name] = text, ast.parse(text)
            except (OSError, TypeError, KeyError, SyntaxError):
                self._module_trees[module_name] = None
        return self._module_trees[module_name]

    def tree(self, module_name: str) -> ast.Module | None:
        found = self.source(module_name)
        return found[1] if found else None

    def import_origin(self, module_name: str, name: str) -> tuple[str, str] | None:
        """(module, name) that a top-level `from m import x [as name]` of `module_name` binds `name` to."""
        tree = self.tree(module_name)
        for node in tree.body if tree else ():
            if isinstance(node, ast.ImportFrom):
                for a in node.names:
                    if (a.asname or a.name) == name:
                        package = getattr(sys.modules.get(module_name), "__package__", None) or ""
                        return _from_module(node, package), a.name
        return None

    def assignment(self, module_name: str, name: str) -> str | None:
        """The source of the module-level statements that assign `name` in `module_name` (and what they read)."""
        tree = self.tree(module_name)
        if tree is None:
            return None
        found = []
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
                if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else []
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                found.append(node)
        if not found:  # imported: `from .rule import NORM_TOL` -> the assignment in the module it comes from
            origin = self.import_origin(module_name, name)
            return self.assignment(*origin) if origin and tracked_module(origin[0]) else None
        namespace = vars(sys.modules[module_name])
        for node in found:
            for chain in sorted(_chains(node)):
                if chain[0] != name:
                    self.resolve(chain, namespace)
        text = self._module_trees[module_name][0]  # type: ignore[index]
        return "\n".join(ast.get_source_segment(text, node) or ast.unparse(node) for node in found)


def _is_code(value: Any) -> bool:
    """A function, method, class or a wrapper of one (lru_cache); not an alias like `dict[str, Any]`."""
    if isinstance(value, types.GenericAlias):
        return False
    return (inspect.isclass(value) or inspect.isfunction(value) or inspect.ismethod(value)
            or inspect.isbuiltin(value) or callable(value) and inspect.isfunction(getattr(value, "__wrapped__", None)))


def rule_closure(module: Any) -> dict[str, str]:
    """What a claim's rule hash covers: key ("root", "def", "const" or "ref" + a qualified name) -> text."""
    walker = _Closure()
    for role in ROOTS:
        fn = getattr(module, role)
        walker.items[f"root {role}"] = walker.follow(fn) if _has_source(fn) else _external_name(fn)
    return dict(sorted(walker.items.items()))


def _has_source(fn: Any) -> bool:
    return inspect.isfunction(inspect.unwrap(fn)) if callable(fn) else False


def rule_hash(module: Any) -> str:
    """A stable hash ("sha256:" + 16 hex) of `rule_closure(module)`."""
    text = json.dumps(rule_closure(module), sort_keys=True, ensure_ascii=True)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


# ---- the registry file --------------------------------------------------------------------------------------------

def load(path: Path = REGISTRY) -> dict[str, list[dict[str, Any]]]:
    """The registry (empty if the file does not exist); a malformed one raises ConfigError naming the entry."""
    if not Path(path).exists():
        return {}
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected an object of claim id -> list of entries")
    for cid, entries in data.items():
        for i, e in enumerate(entries if isinstance(entries, list) else [None]):
            ok = (isinstance(e, dict) and (e.get("hash") is None or HASH.fullmatch(str(e.get("hash"))))
                  and re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(e.get("date", ""))) and str(e.get("reason", "")).strip()
                  and (e.get("hash") is not None or e.get("commit")))
            if not ok:
                raise ConfigError(f"{path}: {cid} entry {i}: needs hash (sha256:<16 hex>, or null with a commit), "
                                  f"date (YYYY-MM-DD) and a reason; got {e!r}")
    return data


def save(registry: dict[str, list[dict[str, Any]]], path: Path = REGISTRY) -> None:
    """Write the registry atomically, one entry per line (a registration is a one-line diff)."""
    blocks = []
    for cid, entries in registry.items():
        lines = ",\n".join("    " + json.dumps(e, ensure_ascii=False) for e in entries)
        blocks.append(f"  {json.dumps(cid)}: [\n{lines}\n  ]")
    write_text(path, "{\n" + ",\n".join(blocks) + "\n}\n")


def _latest_hash(entries: Sequence[dict[str, Any]]) -> str | None:
    hashed = [e["hash"] for e in entries if e.get("hash")]
    return hashed[-1] if hashed else None


def registered_at(path: Path = REGISTRY) -> dict[str, tuple[str, str]] | None:
    """hash -> (commit, date) of the first commit that added it to the registry file; None outside a git checkout.
    One `git log -p` of the file (the same as `git log --reverse -S <hash>` for every hash at once)."""
    path = Path(path).resolve()
    try:
        out = subprocess.run(["git", "-C", str(path.parent), "log", "--reverse", "--format=%x00%h %ad",
                              "--date=short", "-p", "--unified=0", "--", path.name],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    found: dict[str, tuple[str, str]] = {}
    commit = ("", "")
    for line in out.stdout.splitlines():
        if line.startswith("\x00"):
            commit = tuple(line[1:].split(" ", 1))  # type: ignore[assignment]
        elif line.startswith("+") and not line.startswith("+++"):
            for h in HASH.findall(line):
                found.setdefault(h, commit)
    return found


def status(module: Any, path: Path = REGISTRY, *, registry: dict[str, list[dict[str, Any]]] | None = None,
           added: dict[str, tuple[str, str]] | None = None) -> dict[str, Any]:
    """{"hash", "status", "commit", "date", "reason", "history"} of one claim's rule against the registry.
    status: "registered" (the hash is the registered one and the rule has no recorded change), "changed" (it is
    the latest registered one, but the history records a change: a later entry, or a pre-registry change after a
    result was seen), "unregistered" (the current hash is not the latest entry's). reason: the latest change's
    (the registration's if none). commit/date: the first commit that added the current hash to the registry, None
    if it is not committed (or outside a git checkout). history: the entries, oldest first, each hashed one with
    the commit and date ("committed") that added it."""
    cid = module.CLAIM.id
    current = rule_hash(module)
    entries = list((load(path) if registry is None else registry).get(cid, []))
    added = registered_at(path) if added is None else added
    history = []
    for e in entries:
        e = dict(e)
        if e.get("hash") and "commit" not in e:
            e["commit"], e["committed"] = (added or {}).get(e["hash"], (None, None))
        history.append(e)
    latest = _latest_hash(entries)
    if latest is None or latest != current:
        return {"hash": current, "status": "unregistered", "commit": None, "date": None, "reason": UNREGISTERED_TEXT,
                "history": history}
    entry = [e for e in history if e.get("hash") == latest][-1]
    first = next(e for e in history if e.get("hash"))
    changes = [e for e in history if e is not first]  # every entry but the first registration records a change
    return {"hash": current, "status": "changed" if changes else "registered", "commit": entry["commit"],
            "date": entry["committed"], "reason": (changes or [first])[-1]["reason"], "history": history}


def describe(st: dict[str, Any]) -> str:
    """The status as the report's one line (the report shows "changed" and "unregistered" in red)."""
    where = f"at {st['commit']}, {st['date']}" if st.get("commit") else "(uncommitted)"
    if st["status"] == "registered":
        return f"rule registered {where}"
    if st["status"] == "changed":
        earlier = len(st["history"]) - 2  # the changes besides the latest, the registration not counted
        more = f"; {earlier} earlier change{'s' * (earlier != 1)} in the history" if earlier > 0 else ""
        return f"rule changed after registration: {st['reason']} (current rule registered {where}{more})"
    return UNREGISTERED_TEXT


def register(claims: dict[str, Any], reason: str, path: Path = REGISTRY, *, amend: bool = False,
             today: str | None = None) -> list[tuple[str, str]]:
    """Append {hash, date, reason} for each of `claims` (id -> claim module) whose current hash is not its latest
    registered one; returns the (id, hash) pairs written. `amend` replaces a claim's latest hashed entry
    instead, which is refused once that entry is committed (recorded history is never rewritten)."""
    if not reason or not reason.strip():
        raise ConfigError('register needs --reason "why" (every registry entry records why the rule was '
                          'registered or changed)')
    registry = load(path)
    committed = (registered_at(path) or {}) if amend else {}
    written = []
    for cid, module in claims.items():
        entries = registry.setdefault(cid, [])
        current = rule_hash(module)
        if current == _latest_hash(entries):
            continue
        entry = {"hash": current, "date": today or date.today().isoformat(), "reason": reason.strip()}
        if amend:
            last = max((i for i, e in enumerate(entries) if e.get("hash")), default=None)
            if last is not None and entries[last]["hash"] in committed:
                raise ConfigError(f"{cid}: its latest entry ({entries[last]['hash']}) is committed in "
                                  f"{committed[entries[last]['hash']][0]}; register without --amend to append")
            if last is not None:
                entries.pop(last)
        entries.append(entry)
        written.append((cid, current))
    if written:
        save(registry, path)
    return written
