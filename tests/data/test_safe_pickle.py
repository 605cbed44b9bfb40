import pickle

import numpy as np
import pytest

from skiplab.data.safe_pickle import loads_plain
from skiplab.errors import DataError

from .conftest import Global, py2_pickle


def test_reads_a_py2_batch_exactly():
    data = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072)
    batch = {b"batch_label": b"training batch 1 of 5", b"labels": [3, 7], b"data": data, b"n": 70000,
             b"neg": -5, b"flags": (True, False, None), b"empty": [], b"nested": {b"x": [1.5, b"y"]}}
    raw = py2_pickle(batch)
    # The emitter really writes what pickle reads (our own bytes, so the stock unpickler is safe here).
    ref = pickle.loads(raw, encoding="bytes")
    got = loads_plain(raw, "batch")
    for out in (ref, got):
        assert np.array_equal(out[b"data"], data) and out[b"data"].dtype == np.uint8
        assert out[b"labels"] == [3, 7] and out[b"n"] == 70000 and out[b"neg"] == -5
        assert out[b"flags"] == (True, False, None) and out[b"nested"] == {b"x": [1.5, b"y"]}


def test_reads_arrays_of_other_numeric_dtypes_and_python3_pickles():
    arrays = {"f": np.linspace(0, 1, 6, dtype=">f8").reshape(2, 3), "i": np.array([-1, 2], dtype="<i4")}
    got = loads_plain(py2_pickle(arrays), "x")
    for k, v in arrays.items():
        assert np.array_equal(got[k.encode()], v) and got[k.encode()].dtype == v.dtype
    # A protocol-4 re-pickle from numpy 2 names numpy._core.multiarray._reconstruct: the same three globals.
    got = loads_plain(pickle.dumps({"data": arrays["f"]}, protocol=4), "x")
    assert np.array_equal(got["data"], arrays["f"])


def test_a_pickle_calling_os_system_is_refused_and_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    raw = py2_pickle({b"data": Global("os", "system", (f"touch {marker}",))})
    with pytest.raises(DataError, match=r"evil_batch holds os\.system, not plain data"):
        loads_plain(raw, "evil_batch")
    assert not marker.exists()
    # The stock pickle.dumps spelling of the same attack (posix.system via REDUCE).
    class Evil:
        def __reduce__(self):
            import os
            return os.system, (f"touch {marker}",)
    with pytest.raises(DataError, match=r"holds posix\.system"):
        loads_plain(pickle.dumps(Evil(), protocol=2), "evil")
    assert not marker.exists()


@pytest.mark.parametrize("module,name", [("builtins", "eval"), ("numpy", "frombuffer"), ("_codecs", "encode"),
                                         ("numpy._core.numeric", "_frombuffer"), ("subprocess", "Popen")])
def test_every_other_global_is_refused(module, name):
    with pytest.raises(DataError, match=rf"b\.pkl holds {module}\.{name},"):
        loads_plain(py2_pickle([Global(module, name, ("1",))]), "b.pkl")


def test_standins_accept_only_plain_arrays():
    # _reconstruct told to build something other than ndarray
    evil = py2_pickle(Global("numpy.core.multiarray", "_reconstruct", (Global("numpy", "dtype", ("u1",)), (0,), b"b")))
    with pytest.raises(DataError, match="x.pkl is not a readable data pickle"):
        loads_plain(evil, "x.pkl")
    # an object array: dtype 'O8' would let a pickle smuggle objects in
    raw = py2_pickle(np.zeros(2, dtype=np.uint8)).replace(b"U\x02u1", b"U\x02O8")
    with pytest.raises(DataError, match="not a plain numeric type"):
        loads_plain(raw, "x.pkl")
    # raw bytes that do not fill the declared shape
    raw = py2_pickle(np.zeros(4, dtype=np.uint8)).replace(b"U\x04\x00\x00\x00\x00", b"U\x03\x00\x00\x00")
    with pytest.raises(DataError, match="needs 4 bytes, has 3"):
        loads_plain(raw, "x.pkl")


def test_truncated_and_non_pickles():
    raw = py2_pickle({b"data": np.zeros((2, 3072), np.uint8)})
    with pytest.raises(DataError, match="half.pkl is not a readable data pickle"):
        loads_plain(raw[: len(raw) // 2], "half.pkl")
    with pytest.raises(DataError, match="text is not a readable data pickle"):
        loads_plain(b"hello world", "text")
    with pytest.raises(DataError, match="holds a set"):
        loads_plain(pickle.dumps({1, 2}, protocol=4), "s")
