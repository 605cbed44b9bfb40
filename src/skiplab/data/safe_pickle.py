"""A restricted unpickler for CIFAR's python batches: plain data in, nothing executed.

Written by hand because no maintained library reads these pickles safely: `pickle.load` runs whatever callable a
file names, and the batches do name callables -- numpy's array reconstructor. Only numbers, strings, bytes, lists,
tuples and dicts are admitted, plus exactly the three numpy globals an array pickle uses
(`numpy.core.multiarray._reconstruct`, `numpy.ndarray`, `numpy.dtype`; numpy 2 spells the first
`numpy._core.multiarray._reconstruct`). Those map to inert stand-ins that rebuild a numeric array from its raw bytes
with `np.frombuffer`; any other global is refused before anything could call it.
"""

from __future__ import annotations

import io
import math
import pickle
from typing import Any

import numpy as np

from ..errors import DataError

_PLAIN = (bool, int, float, str, bytes, type(None), np.ndarray)


class _Refused(Exception):
    """A global outside the allow-list; carries 'module.name' for the message."""


class _Inert:
    """Base of the stand-ins: no instance dict, and a pickle's BUILD opcode cannot set state on them."""

    __slots__ = ()

    def __setstate__(self, state: Any) -> None:
        raise ValueError(f"unexpected state for {type(self).__name__}")


class _NdarrayTag(_Inert):
    """Stands in for `numpy.ndarray`, which an array pickle only passes to `_reconstruct` as the class to build."""

    __slots__ = ()


class _Dtype:
    """Stands in for `numpy.dtype(code, align, copy)` followed by BUILD with numpy's dtype state tuple."""

    __slots__ = ("code", "order", "built")

    def __init__(self, code: Any, align: Any = False, copy: Any = True) -> None:
        if isinstance(code, bytes):
            code = code.decode("ascii", "replace")
        if not isinstance(code, str) or not 0 < len(code) <= 4:
            raise ValueError(f"dtype code {code!r} is not a short type code")
        self.code, self.order, self.built = code, "|", False

    def __setstate__(self, state: Any) -> None:
        # numpy's dtype state: (version, byteorder, subarray, names, fields, elsize, alignment, flags).
        if self.built or not isinstance(state, tuple) or len(state) < 5:
            raise ValueError("malformed dtype state")
        order = state[1].decode("ascii", "replace") if isinstance(state[1], bytes) else state[1]
        if order not in ("<", ">", "|", "=") or any(s is not None for s in state[2:5]):
            raise ValueError("only plain numeric dtypes are admitted")
        self.order, self.built = order, True

    def numpy(self) -> np.dtype:
        dtype = np.dtype(self.code).newbyteorder(self.order if self.order != "|" else "=")
        if dtype.kind not in "biuf":  # bool, int, uint, float: no objects, no records, no strings
            raise ValueError(f"dtype {self.code!r} is not a plain numeric type")
        return dtype


class _Array:
    """Stands in for an array under construction: `_reconstruct(ndarray, (0,), b'b')`, then BUILD with
    (version, shape, dtype, is_fortran, raw bytes), which this turns into `np.frombuffer(raw)`."""

    __slots__ = ("array",)

    def __init__(self) -> None:
        self.array: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if self.array is not None or not isinstance(state, tuple) or len(state) not in (4, 5):
            raise ValueError("malformed array state")
        shape, dtype, fortran, raw = state[-4:]
        if not (isinstance(shape, tuple) and all(isinstance(d, int) and d >= 0 for d in shape)):
            raise ValueError(f"array shape {shape!r} is not a tuple of sizes")
        if not isinstance(dtype, _Dtype) or not isinstance(raw, bytes):
            raise ValueError("array state lacks a plain dtype and raw bytes")
        dt = dtype.numpy()
        if len(raw) != math.prod(shape) * dt.itemsize:
            raise ValueError(f"array of shape {shape} needs {math.prod(shape) * dt.itemsize} bytes, has {len(raw)}")
        self.array = np.frombuffer(raw, dtype=dt).reshape(shape, order="F" if fortran else "C")


class _DtypeFactory(_Inert):
    """Stands in for the `numpy.dtype` class itself (an instance, so a pickle cannot set state on a class)."""

    __slots__ = ()

    def __call__(self, code: Any, align: Any = False, copy: Any = True) -> _Dtype:
        return _Dtype(code, align, copy)


class _Reconstruct(_Inert):
    """Stands in for `numpy.core.multiarray._reconstruct`; accepts only the ndarray tag as the class."""

    __slots__ = ()

    def __call__(self, cls: Any, shape: Any = (0,), typecode: Any = b"b") -> _Array:
        if not isinstance(cls, _NdarrayTag):
            raise ValueError("_reconstruct may only build numpy.ndarray")
        return _Array()


_STANDINS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _Reconstruct(),
    ("numpy._core.multiarray", "_reconstruct"): _Reconstruct(),
    ("numpy", "ndarray"): _NdarrayTag(),
    ("numpy", "dtype"): _DtypeFactory(),
}


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        # Every way a pickle can reach a callable (GLOBAL, STACK_GLOBAL, INST, OBJ, EXT*) goes through here.
        standin = _STANDINS.get((module, name))
        if standin is None:
            raise _Refused(f"{module}.{name}")
        return standin

    def persistent_load(self, pid: Any) -> Any:
        raise _Refused("a persistent id")


def _resolve(obj: Any) -> Any:
    """Swap finished array stand-ins for their arrays and refuse anything that is not plain data."""
    if isinstance(obj, _Array):
        if obj.array is None:
            raise ValueError("an array was never filled")
        return obj.array
    if isinstance(obj, dict):
        return {_resolve(k): _resolve(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_resolve(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_resolve(v) for v in obj)
    if isinstance(obj, _PLAIN):
        return obj
    raise _Refused(f"a {type(obj).__name__}")


def loads_plain(data: bytes, where: str) -> Any:
    """Unpickle `data` (py2 strings arrive as bytes, as in the official batches) or raise DataError naming `where`."""
    try:
        return _resolve(_PlainUnpickler(io.BytesIO(data), encoding="bytes").load())
    except _Refused as e:
        raise DataError(f"{where} holds {e}, not plain data (numbers, strings, bytes, lists, tuples, dicts, "
                        "numeric arrays); refusing to unpickle it") from None
    except RecursionError:
        raise DataError(f"{where} nests too deeply to be a data batch") from None
    except Exception as e:  # truncated or malformed streams raise many kinds (EOFError, UnpicklingError, ...)
        detail = " ".join(str(e).split())
        raise DataError(f"{where} is not a readable data pickle ({type(e).__name__}: {detail})") from None
