"""Typed checks of one JSON value at a path; `where` is the JSON path shown to the user.

schema.py states the results.json schema with these; a violation raises _Bad, which load_results turns into one
line naming the file, the path and the problem.
"""

from __future__ import annotations

from typing import Any


class _Bad(Exception):
    """A schema violation at a JSON path; load_results prefixes the file name."""


def _fail(where: str, what: str) -> None:
    raise _Bad(f"{where}: {what}")


def _obj(v: Any, where: str) -> dict:
    if not isinstance(v, dict):
        _fail(where, f"expected an object, got {_name(v)}")
    return v


def _list(v: Any, where: str, nonempty: bool = False) -> list:
    if not isinstance(v, list):
        _fail(where, f"expected a list, got {_name(v)}")
    if nonempty and not v:
        _fail(where, "expected a non-empty list")
    return v


def _str(d: dict, key: str, where: str, required: bool = False) -> None:
    v = d.get(key)
    if v is None:
        if required:
            _fail(f"{where}.{key}", "missing (a string is required)")
        return
    if not isinstance(v, str) or (required and not v.strip()):
        _fail(f"{where}.{key}", f"expected a non-empty string, got {_name(v)}" if required else
              f"expected a string, got {_name(v)}")


def _num(v: Any, where: str, nullable: bool = True) -> None:
    if v is None and nullable:
        return
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        _fail(where, f"expected a number{' or null' if nullable else ''}, got {_name(v)}")


def _opt_num(d: dict, key: str, where: str) -> None:
    _num(d.get(key), f"{where}.{key}")


def _choice(d: dict, key: str, where: str, allowed: tuple[str, ...], required: bool = False) -> None:
    v = d.get(key)
    if v is None and not required:
        return
    if v not in allowed:
        _fail(f"{where}.{key}", f"{v!r} is not one of {', '.join(allowed)}")


def _numbers_list(d: dict, key: str, where: str, length: int | None, required: bool = True) -> int:
    """A list of numbers/nulls (NaN and inf are written as null); returns its length."""
    v = d.get(key)
    if v is None and not required:
        return -1
    seq = _list(v, f"{where}.{key}")
    for i, x in enumerate(seq):
        _num(x, f"{where}.{key}[{i}]")
    if length is not None and len(seq) != length:
        _fail(f"{where}.{key}", f"has {len(seq)} values but x has {length}")
    return len(seq)


def _name(v: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(v), type(v).__name__)

