"""The restricted unpickler loads plain data and refuses anything that would run code."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import pytest

from rismodel.data import restricted_pickle
from rismodel.data.refer import DatasetError
from rismodel.data.restricted_pickle import UnsafePickleError, load_plain_pickle, loads_plain_pickle


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_plain_containers_load():
    obj = [{"ref_id": 1, "sentences": [{"raw": "the red circle", "tokens": ["the", "red"]}],
            "ann_id": [3, 4], "score": 0.5, "flag": True, "none": None, "tup": (1, 2)}]
    for protocol in (0, 2, 4, 5):
        assert loads_plain_pickle(pickle.dumps(obj, protocol=protocol)) == obj


def test_python2_byte_strings_become_text():
    # What a Python 2 pickle of {'raw': 'caf\xc3\xa9'} looks like: SHORT_BINSTRING opcodes (bytes).
    data = (b"\x80\x02}q\x00(U\x03rawq\x01U\x05caf\xc3\xa9q\x02U\x04sentq\x03U\x01\xe9q\x04u.")
    assert loads_plain_pickle(data) == {"raw": "café", "sent": "é"}


def test_code_running_pickle_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "refs(unc).p"
    path.write_bytes(pickle.dumps([{"ref_id": 1, "x": _Evil(marker)}], protocol=2))
    with pytest.raises(UnsafePickleError, match=r"posix\.system|os\.system"):
        load_plain_pickle(path)
    assert not marker.exists()
    # Sanity check of the test itself: the ordinary unpickler would have run the command.
    pickle.loads(path.read_bytes())
    assert marker.exists()


def test_class_instances_are_refused():
    with pytest.raises(UnsafePickleError, match="refusing"):
        loads_plain_pickle(pickle.dumps({"a": ValueError("x")}))


def test_damaged_pickle_names_the_file(tmp_path):
    path = tmp_path / "refs(unc).p"
    path.write_bytes(pickle.dumps([1, 2, 3])[:-4])
    with pytest.raises(ValueError, match=r"refs\(unc\)\.p"):
        load_plain_pickle(path)


# ----- bounded: depth, objects, size, shared references, cycles (issue 13) ----------------------



def _run_isolated(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter: the unfixed reader hangs or segfaults on these inputs."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_self_reference_is_a_clear_error(tmp_path):
    a = []
    a.append(a)
    path = tmp_path / "refs(unc).p"
    path.write_bytes(pickle.dumps([{"ref_id": 1, "loop": a}], protocol=2))
    with pytest.raises(DatasetError, match=r"refs\(unc\)\.p.*cycle"):
        load_plain_pickle(path)


def test_deep_nesting_is_a_clear_error(tmp_path):
    # 100,000 nested lists (EMPTY_LIST MARK ... APPENDS): more than the interpreter's recursion
    # limit, which the old bytes-to-str pass ran into.
    path = tmp_path / "refs(unc).p"
    path.write_bytes(b"\x80\x02" + b"](" * 100_000 + b"e" * 100_000 + b".")
    with pytest.raises(DatasetError, match=r"refs\(unc\)\.p.*nested more than"):
        load_plain_pickle(path)


def test_deep_tuple_key_does_not_crash_the_interpreter(tmp_path):
    # A dict whose key is a million nested tuples: CPython's unpickler hashes it recursively in C
    # (a segfault) before any Python code could look at it. 2 MB of opcodes.
    path = tmp_path / "refs(unc).p"
    path.write_bytes(b"\x80\x02}" + b")" + b"\x85" * 1_000_000 + b"Ns.")
    r = _run_isolated("import sys\nfrom rismodel.data.restricted_pickle import load_plain_pickle\n"
                      "from rismodel.data.refer import DatasetError\n"
                      f"try:\n    load_plain_pickle({str(path)!r})\n"
                      "except DatasetError as e:\n    print('refused:', e)\n")
    assert r.returncode == 0, f"crashed with code {r.returncode}: {r.stderr[-500:]}"
    assert "refused:" in r.stdout and "nested more than" in r.stdout


def test_billion_laughs_is_linear(tmp_path):
    # Each level holds the previous one twice through the memo: 60 levels, a few hundred bytes,
    # 2**60 strings if every reference were expanded.
    level = ["lol"]
    for _ in range(60):
        level = [level, level]
    path = tmp_path / "refs(unc).p"
    data = pickle.dumps(level, protocol=2)
    assert len(data) < 2000
    path.write_bytes(data)
    r = _run_isolated("from rismodel.data.restricted_pickle import load_plain_pickle\n"
                      f"x = load_plain_pickle({str(path)!r})\n"
                      "for _ in range(60):\n    assert x[0] is x[1]\n    x = x[0]\n"
                      "print('ok', x)\n", timeout=120)
    assert r.returncode == 0 and "ok ['lol']" in r.stdout, r.stderr[-500:]


@pytest.mark.parametrize("data", [
    pickle.dumps([bytearray(b"abc")], protocol=5),  # BYTEARRAY8
    b"\x80\x05\x96\x03\x00\x00\x00\x00\x00\x00\x00abc\x98.",  # READONLY_BUFFER over a bytearray
    b"\x80\x05\x97.",  # NEXT_BUFFER (out-of-band data)
    b"\x80\x02\x82\x01.",  # EXT1
    b"\x80\x02Q.",  # BINPERSID
])
def test_buffers_extensions_and_persistent_ids_are_refused(data):
    with pytest.raises(DatasetError, match="refusing"):
        loads_plain_pickle(data)


def test_limits_on_size_and_objects(tmp_path, monkeypatch):
    path = tmp_path / "refs(unc).p"
    path.write_bytes(pickle.dumps([[i] for i in range(1000)], protocol=2))
    monkeypatch.setattr(restricted_pickle, "MAX_OBJECTS", 500)
    with pytest.raises(DatasetError, match="more than 500 objects"):
        load_plain_pickle(path)
    monkeypatch.setattr(restricted_pickle, "MAX_BYTES", 100)
    with pytest.raises(DatasetError, match="more than the 100"):
        load_plain_pickle(path)


@pytest.mark.parametrize("data", [b"", b"\x80\x02", b"\x80\x02]q\x00(K\x01", b"\x80\x02K", b"\x80\x02h\x05.",
                                  b"\x80\x02}]s.", b"\x80\x02}(]]u.", b"\x80\x02\xff.", b"\x80\x020."])
def test_damaged_streams_are_one_error_type(data):
    with pytest.raises(DatasetError):
        loads_plain_pickle(data)


def test_unsafe_pickle_is_a_dataset_error():
    assert issubclass(UnsafePickleError, DatasetError) and issubclass(UnsafePickleError, pickle.UnpicklingError)


def test_sparse_memo_index_is_refused():
    # LONG_BINPUT 4,000,000,000: the C unpickler would size its memo table for that many entries.
    with pytest.raises(DatasetError, match="memo index"):
        loads_plain_pickle(b"\x80\x02N" + b"r" + (4_000_000_000).to_bytes(4, "little") + b".")
    with pytest.raises(DatasetError, match="memo index"):
        loads_plain_pickle(b"N" + b"p99999999\n.")
