"""The restricted unpickler loads plain data and refuses anything that would run code."""

from __future__ import annotations

import os
import pickle

import pytest

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
