"""A restricted unpickler for CIFAR's python batches: plain data in, nothing executed.

Written by hand because no maintained library reads these pickles safely: `pickle.load` runs whatever callable a
file names, and the batches do name callables -- numpy's array reconstructor. Only numbers, strings, bytes, lists,
tuples and dicts are admitted, plus exactly the three numpy globals an array pickle uses
(`numpy.core.multiarray._reconstruct`, `numpy.ndarray`, `numpy.dtype`; numpy 2 spells the first
`numpy._core.multiarray._reconstruct`). Those map to inert stand-ins that rebuild a numeric array from its raw bytes
with `np.frombuffer`; any other global is refused before anything could call it.

Plain data can still be hostile: a few hundred bytes whose memo references nest 40 levels of `a = [a, a]` expand
to 2**40 nodes in anything that walks them. So a file is also bounded in bytes, opcodes, values (counted through
every reference), nesting depth and cycles (none), each with wide headroom over the official batches.
"""

from __future__ import annotations

import io
import math
import pickle
import pickletools
from typing import Any

import numpy as np

from ..errors import DataError

_PLAIN = (bool, int, float, str, bytes, type(None), np.ndarray)

# Bounds on one batch file, each far above the largest official one -- CIFAR-100's python `train`: 50,000 images
# of 3,072 bytes (~155 MB), 50,000 fine and 50,000 coarse labels and 50,000 file names in a dict of lists -- so
# that no real batch comes near them and a hostile one is refused before it costs more than a real one would.
OFFICIAL_OPCODES, OFFICIAL_NODES = 200_000, 150_000  # that file: 1 opcode per label, 2 per name; its values
MAX_BYTES = 512 << 20  # 3.3x that file; a file's size is checked before reading it (cifar.py)
MAX_OPCODES = 4_000_000  # 20x; counting them costs ~1 s at the bound (0.26 us each)
MAX_NODES = 1_000_000  # 6.7x
MAX_DEPTH = 32  # an official batch nests 2 deep (dict -> list -> value)


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


class _OutOfBounds(Exception):
    """A pickle past one of the bounds below; carries what follows the file's name in the message."""


def _check_opcodes(data: bytes) -> None:
    # The unpickler makes up to one object per opcode before _resolve sees anything, and an object can cost ~100
    # bytes for a 1-byte opcode, so counting the opcodes first bounds its memory as well as its time.
    for count, _ in enumerate(pickletools.genops(data), 1):
        if count > MAX_OPCODES:
            raise _OutOfBounds(f"has more than {MAX_OPCODES:,} pickle opcodes (an official CIFAR batch has about "
                               f"{OFFICIAL_OPCODES:,})")


def _resolve(root: Any) -> Any:
    """`root` with every array stand-in swapped for its array, anything but plain data refused.

    Each container is resolved once (a memo by id): a pickle's memo lets one object appear many times, and
    copying it out at every appearance turns 40 levels of `a = [a, a]` (a few hundred bytes) into 2**40 nodes.
    Shared references stay shared, so the result's *tree* size -- every value reached through every reference,
    which is what code walking the result pays for -- is counted too, with the memo, and bounded by MAX_NODES.
    A container that contains itself is refused (a batch is a tree; code walking a cycle would never stop).
    """
    done: dict[int, tuple[Any, int]] = {}  # id -> (resolved, tree size); ids are stable: `root` keeps all alive
    on_path: set[int] = set()  # the containers being resolved: meeting one again is a cycle

    def visit(obj: Any, depth: int) -> tuple[Any, int]:
        if isinstance(obj, _Array):
            if obj.array is None:
                raise ValueError("an array was never filled")
            return obj.array, 1
        if not isinstance(obj, (dict, list, tuple)):
            if isinstance(obj, _PLAIN):
                return obj, 1
            raise _Refused(f"a {type(obj).__name__}")
        key = id(obj)
        if key in done:
            return done[key]
        if key in on_path:
            raise _OutOfBounds(f"holds a {type(obj).__name__} that contains itself (a data batch is a tree)")
        if depth >= MAX_DEPTH:
            raise _OutOfBounds(f"nests containers more than {MAX_DEPTH} deep (an official CIFAR batch nests 2)")
        on_path.add(key)
        size = 1

        def child(value: Any) -> Any:
            nonlocal size
            resolved, n = visit(value, depth + 1)
            size += n
            if size > MAX_NODES:
                raise _OutOfBounds(f"holds more than {MAX_NODES:,} values counting every reference (an official "
                                   f"CIFAR batch holds at most about {OFFICIAL_NODES:,})")
            return resolved

        if isinstance(obj, dict):
            out: Any = {child(k): child(v) for k, v in obj.items()}
        elif isinstance(obj, list):
            out = [child(v) for v in obj]
        else:
            out = tuple(child(v) for v in obj)
        on_path.discard(key)
        done[key] = (out, size)
        return done[key]

    return visit(root, 0)[0]


def loads_plain(data: bytes, where: str) -> Any:
    """Unpickle `data` (py2 strings arrive as bytes, as in the official batches) or raise DataError naming `where`.

    Refused in one line, before it can cost more than a real batch would: more than MAX_BYTES of input, more than
    MAX_OPCODES opcodes, a result of more than MAX_NODES values, nested more than MAX_DEPTH deep, or a cycle.
    """
    try:
        if len(data) > MAX_BYTES:
            raise _OutOfBounds(too_big(len(data), MAX_BYTES))
        _check_opcodes(data)
        return _resolve(_PlainUnpickler(io.BytesIO(data), encoding="bytes").load())
    except _Refused as e:
        raise DataError(f"{where} holds {e}, not plain data (numbers, strings, bytes, lists, tuples, dicts, "
                        "numeric arrays); refusing to unpickle it") from None
    except _OutOfBounds as e:
        raise DataError(f"{where} {e}; refusing to unpickle it") from None
    except RecursionError:
        raise DataError(f"{where} nests too deeply to be a data batch") from None
    except Exception as e:  # truncated or malformed streams raise many kinds (EOFError, UnpicklingError, ...)
        detail = " ".join(str(e).split())
        raise DataError(f"{where} is not a readable data pickle ({type(e).__name__}: {detail})") from None


def too_big(size: int, limit: int) -> str:
    """The reason a file of `size` bytes is refused as a CIFAR batch (follows the file's name in a message)."""
    return (f"is {size:,} bytes, more than the {limit:,} a CIFAR batch may be (the largest official one, "
            f"CIFAR-100's train, is about 155 MB)")
