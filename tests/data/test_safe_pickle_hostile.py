"""Pickles that are plain data yet hostile: shared references nested into an exponential tree, cycles, node and
opcode bombs, oversized files. Each must be refused in one DataError line naming the file, quickly; an
official-shaped batch must still be read exactly."""

import pickle
import time

import numpy as np
import pytest

from skiplab.data import cifar, load_dataset, safe_pickle
from skiplab.data.safe_pickle import MAX_DEPTH, MAX_NODES, loads_plain
from skiplab.errors import DataError

from .conftest import py2_pickle, write_cifar

HANG_GUARD_S = 5.0  # each refusal takes milliseconds; this only turns a hang into a failure


def _doubling_dag(levels: int) -> bytes:
    """`a = [a, a]` nested `levels` deep: a few hundred bytes, 2**(levels+1) - 1 nodes as a tree."""
    a: list = []
    for _ in range(levels):
        a = [a, a]
    return pickle.dumps(a, protocol=2)


def _refused(raw: bytes, where: str, match: str) -> float:
    """Seconds loads_plain took to refuse `raw` with one DataError line matching `match`."""
    start = time.perf_counter()
    with pytest.raises(DataError, match=match) as err:
        loads_plain(raw, where)
    elapsed = time.perf_counter() - start
    assert "\n" not in str(err.value) and str(err.value).startswith(where)
    assert elapsed < HANG_GUARD_S
    return elapsed


def test_the_318_byte_style_shared_dag_is_refused_at_once():
    raw = _doubling_dag(40)
    assert len(raw) < 400  # the size of the file; before the fix this took ~4**20 times a 1-level one
    took = _refused(raw, "data_batch_1", rf"data_batch_1 nests containers more than {MAX_DEPTH} deep")
    assert took < 1.0


def test_a_shared_dag_within_the_depth_bound_is_counted_as_the_tree_it_expands_to():
    # 25 levels: 2**26 - 1 nodes as a tree, 26 distinct lists. Resolving each list once is not enough: code that
    # walks the result (np.asarray on it, say) would still visit every node, so the tree size is what is bounded.
    _refused(_doubling_dag(25), "b", rf"b holds more than {MAX_NODES:,} values counting every reference")
    # 18 levels (2**19 - 1 = 524,287 nodes) is within the bound: read, with its shared references kept shared
    got = loads_plain(_doubling_dag(18), "ok")
    assert got[0] is got[1] and len(got) == 2
    depth = 0
    while got:
        got, depth = got[0], depth + 1
    assert depth == 18


def test_a_list_that_contains_itself_is_refused():
    # hand-written opcodes: PROTO 2, EMPTY_LIST, BINPUT 0, BINGET 0, APPEND, STOP -- a = [a]
    raw = b"\x80\x02]q\x00h\x00a."
    _refused(raw, "cycle.pkl", r"cycle\.pkl holds a list that contains itself \(a data batch is a tree\)")
    ring: list = []
    ring.append({"next": (ring,)})  # a longer cycle, through a dict and a tuple
    _refused(pickle.dumps(ring, protocol=2), "ring", r"ring holds a list that contains itself")


def test_a_node_bomb_is_refused():
    # a flat list of MAX_NODES + 1 small ints: 2 bytes each, under the opcode bound, over the node bound
    raw = b"\x80\x02](" + b"K\x07" * (MAX_NODES + 1) + b"e."
    _refused(raw, "flat", rf"flat holds more than {MAX_NODES:,} values counting every reference \(an official "
                          r"CIFAR batch holds at most about 150,000\); refusing to unpickle it$")


def test_an_opcode_bomb_is_refused_before_unpickling(monkeypatch):
    # EMPTY_LIST costs 1 byte of input and ~60 bytes of memory: counted before the unpickler builds any of them
    monkeypatch.setattr(safe_pickle, "MAX_OPCODES", 1000)

    def never(self):
        raise AssertionError("unpickled an opcode bomb")
    monkeypatch.setattr(safe_pickle._PlainUnpickler, "load", never)
    raw = b"\x80\x02(" + b"]" * 2000 + b"l."
    _refused(raw, "lists", r"lists has more than 1,000 pickle opcodes \(an official CIFAR batch has about 200,000\)")


def test_deep_nesting_is_refused_by_the_depth_bound():
    nested: list = []
    for _ in range(MAX_DEPTH):  # MAX_DEPTH + 1 containers in all: one too many
        nested = [nested]
    _refused(pickle.dumps(nested, protocol=2), "deep", rf"deep nests containers more than {MAX_DEPTH} deep")
    ok: list = []
    for _ in range(MAX_DEPTH - 1):  # MAX_DEPTH containers in all: the deepest accepted
        ok = [ok]
    assert loads_plain(pickle.dumps(ok, protocol=2), "ok") == ok


def test_bytes_over_the_bound_are_refused_before_unpickling(monkeypatch):
    monkeypatch.setattr(safe_pickle, "MAX_BYTES", 100)
    raw = py2_pickle({b"labels": list(range(60))})
    assert len(raw) > 100
    _refused(raw, "big", r"big is \d{3} bytes, more than the 100 a CIFAR batch may be")


def test_an_official_shaped_batch_is_read_exactly():
    # CIFAR-10's data_batch_1 as python 2 wrote it: 10,000 images, labels and file names
    rng = np.random.default_rng(5)
    data = rng.integers(0, 256, (10_000, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, 10_000).tolist()
    names = [f"leptodactylus_pentadactylus_s_{i:06d}.png".encode() for i in range(10_000)]
    batch = {b"batch_label": b"training batch 1 of 5", b"labels": labels, b"data": data, b"filenames": names}
    got = loads_plain(py2_pickle(batch), "data_batch_1")
    assert got[b"labels"] == labels and got[b"filenames"] == names and got[b"batch_label"] == batch[b"batch_label"]
    assert got[b"data"].dtype == np.uint8 and np.array_equal(got[b"data"], data)
    # CIFAR-100's train, the largest in values: 3 lists of 50,000 (a small pixel array keeps the test light)
    batch = {b"fine_labels": [i % 100 for i in range(50_000)], b"coarse_labels": [i % 20 for i in range(50_000)],
             b"filenames": [b"f%d.png" % i for i in range(50_000)], b"data": np.zeros((2, 3072), np.uint8)}
    got = loads_plain(py2_pickle(batch), "train")
    assert got[b"fine_labels"][-1] == 99 and got[b"coarse_labels"][-1] == 19 and got[b"filenames"][7] == b"f7.png"


def test_shared_references_in_a_python3_repickle_are_kept():
    labels = [3, 1, 4]
    got = loads_plain(pickle.dumps({"labels": labels, "fine_labels": labels}, protocol=4), "x")
    assert got == {"labels": [3, 1, 4], "fine_labels": [3, 1, 4]} and got["labels"] is got["fine_labels"]


def test_a_hostile_batch_in_a_cifar_folder_is_named(tmp_path, cache):
    expected = write_cifar(tmp_path)
    bad = expected["folder"] / "data_batch_3"
    bad.write_bytes(_doubling_dag(40))
    start = time.perf_counter()
    with pytest.raises(DataError, match=rf"^{bad} nests containers more than {MAX_DEPTH} deep"):
        load_dataset("cifar10", root=tmp_path)
    assert time.perf_counter() - start < HANG_GUARD_S


def test_a_batch_file_over_the_byte_bound_is_refused_unread(tmp_path, cache, monkeypatch):
    expected = write_cifar(tmp_path)
    big = expected["folder"] / "test_batch"
    with open(big, "wb") as f:  # sparse: no disk used
        f.truncate(cifar.MAX_BYTES + 1)
    with pytest.raises(DataError, match=rf"^{big} is 536,870,913 bytes, more than the 536,870,912 a CIFAR batch "
                                        r"may be \(the largest official one, CIFAR-100's train, is about 155 MB\); "
                                        r"refusing to read it$"):
        load_dataset("cifar10", root=tmp_path)
    # binary batches share the bound
    monkeypatch.setattr(cifar, "MAX_BYTES", 3073 * 2)
    write_cifar(tmp_path / "bin", fmt="binary", per_batch=3)
    with pytest.raises(DataError, match=r"data_batch_1\.bin is 9,219 bytes, more than the 6,146"):
        load_dataset("cifar10", root=tmp_path / "bin")
