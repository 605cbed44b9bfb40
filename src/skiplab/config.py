"""Configs are frozen dataclasses. This module builds them strictly from dicts, files and dotted overrides.

Every field carries its help text in `metadata["help"]` (see `option`), so `--help` and docs cannot drift from the
code. Unknown keys and ill-typed values raise `ConfigError` naming the field and what would be valid.

A config whose written form is not the record of its fields (a run's ModelConfig: `resnet56`, or
`{name: resnet56, h: 0.5}`) defines `section()` (its written form) and the classmethod `from_section(value, where)`
(which reads it back and checks it); `to_dict` and `from_dict` use them.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence, TypeVar, Union, get_args, get_origin

import yaml

from .errors import ConfigError

T = TypeVar("T")


def option(default: Any = dataclasses.MISSING, help: str = "", **kwargs: Any) -> Any:
    """A dataclass field with help text. Mutable defaults are not allowed: configs are frozen values."""
    return dataclasses.field(default=default, metadata={"help": help}, **kwargs)


def suggest(name: str, valid: Sequence[str]) -> str:
    """' (did you mean X?)' for the closest valid name, or ''."""
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def field_help(cls: type) -> dict[str, str]:
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}


def _type_name(tp: Any) -> str:
    if get_origin(tp) is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    return getattr(tp, "__name__", str(tp))


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Check (and gently convert: int -> float, list -> tuple) `value` against the annotation `tp`."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin is Literal:
        if value not in get_args(tp):
            raise ConfigError(f"{where}: {value!r} is not one of {_type_name(tp)}")
        return value
    if origin in (Union, types.UnionType):
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for opt in options:
            if opt is type(None):
                continue
            try:
                return coerce(value, opt, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: {value!r} fits none of {tp}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
        return tuple(coerce(v, a, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if hasattr(tp, "from_section"):
            return tp.from_section(value, where)
        return from_dict(tp, value, where)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def from_dict(cls: type[T], data: Mapping[str, Any] | None, where: str = "config") -> T:
    """Build dataclass `cls` from `data`, refusing unknown keys and ill-typed values."""
    if data is not None and not isinstance(data, Mapping):  # `--set train=5`: a value where a section belongs
        raise ConfigError(f"{where}: expected a section (a mapping of keys), got {data!r}")
    data = dict(data or {})
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    unknown = [k for k in data if k not in fields]
    if unknown:
        k = unknown[0]
        raise ConfigError(f"{where}: unknown key {k!r}{suggest(k, fields)}; valid keys: {', '.join(fields)}")
    kwargs = {k: coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: {e}") from None


def replace(cfg: T, where: str = "config", **overrides: Any) -> T:
    """`dataclasses.replace` that refuses unknown keys and checks types like `from_dict`."""
    return from_dict(type(cfg), {**to_dict(cfg, shallow=True), **overrides}, where)


def to_dict(cfg: Any, shallow: bool = False) -> Any:
    """A JSON-ready dict of a (nested) dataclass config; tuples become lists unless `shallow`."""
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        if hasattr(cfg, "section") and not shallow:
            return to_dict(cfg.section())
        if shallow:
            return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.init}
        return {f.name: to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg) if f.init}
    if isinstance(cfg, (list, tuple)):
        return [to_dict(v) for v in cfg]
    if isinstance(cfg, Mapping):
        return {str(k): to_dict(v) for k, v in cfg.items()}
    return cfg


def stable_hash(obj: Any, n: int = 10) -> str:
    """A short hash of a JSON-able object (dataclasses allowed), independent of key order."""
    text = json.dumps(to_dict(obj), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:n]


_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def parse_value(text: str) -> Any:
    """A command-line value: YAML scalars and lists (`0.1`, `true`, `[1, 2]`, `null`), else the string itself.
    Numbers parse as a user writes them: YAML 1.1 reads `1e-3` and `1e6` (no dot) as strings, so those are
    floats here."""
    try:
        value = yaml.safe_load(text) if text.strip() else text
    except yaml.YAMLError:
        return text
    return _numbers(value)


def _numbers(value: Any) -> Any:
    if isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
        return float(value)
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    return value


def set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    """data["a"]["b"] = value for key "a.b", creating sections as needed."""
    node = data
    *parents, leaf = key.strip().split(".")
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{key}: {part!r} is a value, not a section")
        node = child
    node[leaf] = value


def apply_overrides(data: Mapping[str, Any], assignments: Sequence[str]) -> dict[str, Any]:
    """Apply `section.key=value` assignments to a copy of a nested dict (keys are checked later, by
    `from_dict`)."""
    out = json.loads(json.dumps(dict(data)))  # deep copy of plain data
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. train.lr=0.05")
        set_dotted(out, key, parse_value(value))
    return out


MAX_CONFIG_BYTES = 1 << 20  # a config file is a few hundred bytes; a megabyte is no config
MAX_CONFIG_DEPTH = 32  # sections nest 1-2 levels (model overrides, milestones); deeper is no config


def nesting_depth(data: Any, limit: int) -> int:
    """How many levels of mappings and lists `data` nests (a scalar 0, `{}` 1), counted up to limit + 1 (enough to
    refuse it), and without recursion: a file deep enough to be refused must not exhaust the stack here either."""
    deepest, todo = 0, [(data, 1)]
    while todo:
        node, level = todo.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, level)
            if level <= limit:
                todo.extend((v, level + 1) for v in (node.values() if isinstance(node, dict) else node))
    return deepest


def load_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON config file into a dict; any problem is one ConfigError naming the file."""
    path = Path(path)
    if path.is_file() and path.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: {path.stat().st_size:,} bytes is no config file (at most {MAX_CONFIG_BYTES:,})")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not a text file (not UTF-8: {e.reason} at byte {e.start})") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config file ({e.strerror or e})") from None
    kind = "JSON" if path.suffix == ".json" else "YAML"
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(f"{path}: not valid {kind} ({first})") from None
    except RecursionError:  # a parser (or C.to_dict later) recursing through thousands of nested levels
        raise ConfigError(f"{path}: nests too deeply for a config file (sections are 1-2 levels deep)") from None
    if nesting_depth(data, MAX_CONFIG_DEPTH) > MAX_CONFIG_DEPTH:
        raise ConfigError(f"{path}: nests more than {MAX_CONFIG_DEPTH} levels deep; a config's sections are 1-2 "
                          "levels deep")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections (model, data, train)")
    return data
