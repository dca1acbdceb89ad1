"""Property-based fuzzing of every untrusted-data reader of rismodel (issue 13).

Property: whatever the file holds, a reader returns or raises one of the project's clear error
types (:class:`DatasetError`, :class:`CheckpointError`); any other exception, a crash or a hang is
a failure. Inputs are mutations of valid files, not only random bytes: random JSON values put into
valid structures, deleted keys, byte flips / truncations / insertions of the serialised file.

``RIS_FUZZ_EXAMPLES`` sets the examples per fuzzer (default 40, a few seconds each in CI); run e.g.
``RIS_FUZZ_EXAMPLES=3000 pytest tests/fuzz`` for a long session.
"""

from __future__ import annotations

import copy
import json
import math
import os
import pickle

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rismodel.checkpoint import CheckpointError, load_state, read_header
from rismodel.config import to_dict
from rismodel.data.coco_refs import load_coco_refs
from rismodel.data.masks import mask_to_rle
from rismodel.data.refer import DatasetError, load_dataset
from rismodel.data.restricted_pickle import loads_plain_pickle

EXAMPLES = int(os.environ.get("RIS_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
CLEAR = (DatasetError, CheckpointError)

# ----- strategies ------------------------------------------------------------------------------

NASTY = [None, True, False, 0, -1, 1, 2**31, 2**63, -(2**63), 10**400, 1e10, -1e10, 1e308,
         math.inf, -math.inf, math.nan, 0.5, "", "../../etc/passwd", "/etc/passwd", "C:\\x.png",
         "\ud800", "a" * 5000, [], {}, [[]], [1, 2, 3], {"a": 1}, {"size": [6, 8], "counts": "0`<"},
         {"size": [6, 8], "counts": [2**40]}, [[0, 0, 1e10, 0, 5, 5]], [[0, 0, math.nan, 0, 5, 5]]]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=12)
    | st.sampled_from(NASTY),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8)


def _slots(node, out):
    """Every (container, key) in a JSON-like structure."""
    if isinstance(node, dict):
        for k in list(node):
            out.append((node, k))
            _slots(node[k], out)
    elif isinstance(node, list):
        for i in range(len(node)):
            out.append((node, i))
            _slots(node[i], out)
    return out


@st.composite
def mutated(draw, base):
    """A deep copy of ``base`` with 1-4 values replaced, deleted or duplicated."""
    data = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 4))):
        slots = _slots(data, [])
        if not slots:
            break
        container, key = slots[draw(st.integers(0, len(slots) - 1))]
        action = draw(st.sampled_from(["replace", "replace", "replace", "delete", "duplicate"]))
        if action == "replace":
            container[key] = copy.deepcopy(draw(json_values))  # NASTY values are shared objects
        elif action == "delete":
            del container[key]
        elif isinstance(container, list):
            container.append(copy.deepcopy(container[key]))
        else:
            container[draw(st.text(max_size=6))] = copy.deepcopy(container[key])
    return data


@st.composite
def damaged_bytes(draw, base: bytes):
    """``base`` with byte flips, a truncation or an insertion (or, rarely, random bytes)."""
    kind = draw(st.sampled_from(["flip", "flip", "flip", "truncate", "insert", "random"]))
    data = bytearray(base)
    if kind == "flip":
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    elif kind == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif kind == "insert":
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(min_size=1, max_size=16))
    else:
        data = bytearray(draw(st.binary(max_size=200)))
    return bytes(data)


def _decode_all(samples):
    for s in samples:
        m = s.mask()
        assert m.shape == (s.height, s.width)


# ----- COCO with expressions -------------------------------------------------------------------

def _coco():
    m = np.zeros((6, 8), np.uint8)
    m[1:4, 2:6] = 1
    runs = [int(v) for v in np.diff(np.flatnonzero(np.diff(np.concatenate(([2], m.flatten("F"), [2])))))]
    return {
        "info": {"description": "fuzz"},
        "images": [{"id": 1, "file_name": "a.png", "width": 8, "height": 6, "split": "train",
                    "no_target_expressions": ["the zebra"]},
                   {"id": 2, "file_name": "sub/b.png", "width": 8, "height": 6}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[1, 1, 6, 1, 6, 5, 1, 5]],
             "area": 20.0, "bbox": [1, 1, 5, 4], "iscrowd": 0, "expressions": ["the box", "left"]},
            {"id": 2, "image_id": 1, "category_id": 2, "segmentation": mask_to_rle(m), "iscrowd": 0,
             "expressions": ["the blob"]},
            {"id": 3, "image_id": 2, "category_id": 1, "segmentation": {"size": [6, 8], "counts": runs},
             "iscrowd": 0, "expressions": ["uncompressed"]},
        ],
        "categories": [{"id": 1, "name": "box"}, {"id": 2, "name": "blob"}],
    }


def _check_coco(tmp_path, text: bytes | str):
    path = tmp_path / "coco.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    try:
        _decode_all(load_coco_refs(path))
    except CLEAR:
        pass


def test_valid_coco_base_loads(tmp_path):
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(_coco()))
    assert len(load_coco_refs(path)) == 4


@FUZZ
@given(data=mutated(_coco()))
def test_fuzz_coco_values(tmp_path, data):
    _check_coco(tmp_path, json.dumps(data))


@FUZZ
@given(data=damaged_bytes(json.dumps(_coco()).encode()))
def test_fuzz_coco_bytes(tmp_path, data):
    _check_coco(tmp_path, data)


# ----- refer (instances.json + refs pickle) and gRefCOCO ---------------------------------------

def _instances():
    coco = _coco()
    return {k: coco[k] for k in ("images", "annotations", "categories")}


def _refs():
    return [{"ref_id": 10, "ann_id": 1, "image_id": 1, "category_id": 1, "split": "train",
             "sent_ids": [0, 1], "file_name": "a_1.png",
             "sentences": [{"sent_id": 0, "raw": "The box", "sent": "the box", "tokens": ["the", "box"]},
                           {"sent_id": 1, "raw": "left", "sent": "left", "tokens": ["left"]}]},
            {"ref_id": 11, "ann_id": 3, "image_id": 2, "split": "train", "sentences": ["plain"]}]


def _grefs():
    return [{"ref_id": 1, "ann_id": [1, 2], "image_id": 1, "split": "train",
             "sentences": [{"raw": "both", "sent": "both"}]},
            {"ref_id": 2, "ann_id": [-1], "image_id": 2, "split": "train", "no_target": True,
             "sentences": [{"raw": "the cat"}]}]


def _refer_root(tmp_path, instances: bytes, refs: bytes | None = None, grefs: bytes | None = None):
    d = tmp_path / "refcoco"
    d.mkdir(exist_ok=True)
    for name in ("refs(unc).p", "grefs(unc).json"):
        (d / name).unlink(missing_ok=True)
    (d / "instances.json").write_bytes(instances)
    if refs is not None:
        (d / "refs(unc).p").write_bytes(refs)
    if grefs is not None:
        (d / "grefs(unc).json").write_bytes(grefs)
    return tmp_path


def _check_refer(root):
    try:
        _decode_all(load_dataset(root, "refcoco", "unc", "train"))
    except CLEAR:
        pass


INSTANCES = json.dumps(_instances()).encode()
REFS = pickle.dumps(_refs(), protocol=2)
GREFS = json.dumps(_grefs()).encode()


def test_valid_refer_bases_load(tmp_path):
    assert len(load_dataset(_refer_root(tmp_path, INSTANCES, refs=REFS), "refcoco", "unc", "train")) == 2
    assert len(load_dataset(_refer_root(tmp_path, INSTANCES, grefs=GREFS), "refcoco", "unc", "train")) == 2


def _dumps(value) -> bytes:
    return json.dumps(value).encode("utf-8", "surrogatepass")


@FUZZ
@given(instances=mutated(_instances()))
def test_fuzz_refer_instances(tmp_path, instances):
    _check_refer(_refer_root(tmp_path, _dumps(instances), refs=REFS))


@FUZZ
@given(refs=mutated(_refs()), protocol=st.sampled_from([0, 2, 4, 5]))
def test_fuzz_refer_refs_values(tmp_path, refs, protocol):
    _check_refer(_refer_root(tmp_path, INSTANCES, refs=pickle.dumps(refs, protocol=protocol)))


@FUZZ
@given(data=damaged_bytes(REFS))
def test_fuzz_refer_refs_bytes(tmp_path, data):
    _check_refer(_refer_root(tmp_path, INSTANCES, refs=data))


@FUZZ
@given(grefs=mutated(_grefs()))
def test_fuzz_grefs_values(tmp_path, grefs):
    _check_refer(_refer_root(tmp_path, INSTANCES, grefs=_dumps(grefs)))


@FUZZ
@given(data=damaged_bytes(GREFS))
def test_fuzz_grefs_bytes(tmp_path, data):
    _check_refer(_refer_root(tmp_path, INSTANCES, grefs=data))


PICKLES = [pickle.dumps(obj, protocol=p) for p in (0, 2, 4, 5)
           for obj in (_refs(), [{"a": (1, 2.5, None)}, frozenset({"x"}), {1: [True, b"\xe9"]}])]


@FUZZ
@given(base=st.sampled_from(PICKLES), data=st.data())
def test_fuzz_pickle_reader(base, data):
    blob = data.draw(damaged_bytes(base))
    try:
        loads_plain_pickle(blob)
    except DatasetError:
        pass


# ----- checkpoints (header + config + tensors) -------------------------------------------------

@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A checkpoint file of the real format; its tensors are a stand-in (nothing here builds a model,
    which :mod:`tests.test_checkpoint` covers)."""
    from safetensors.torch import save_file

    from rismodel.registry import get_config

    cfg = get_config("lgformer-compact")
    path = tmp_path_factory.mktemp("fuzz_ckpt") / "m.safetensors"
    torch.manual_seed(0)
    save_file({"backbone.w": torch.randn(8, 4), "head.b": torch.randn(3), "steps": torch.arange(4)},
              str(path), metadata={"format": "rismodel-checkpoint/1", "config": json.dumps(to_dict(cfg)),
                                   "meta": json.dumps({"trained_on": "fuzz"})})
    read_header(path)
    return cfg, path


def _check_checkpoint(path):
    try:
        read_header(path)
        load_state(path)
    except CheckpointError:
        pass


@FUZZ
@given(data=st.data())
def test_fuzz_checkpoint_config(checkpoint, tmp_path, data):
    from safetensors.torch import save_file

    cfg, _ = checkpoint
    config = data.draw(mutated(to_dict(cfg)))
    path = tmp_path / "c.safetensors"
    save_file({"w": torch.zeros(2)}, str(path), metadata={
        "format": "rismodel-checkpoint/1", "config": json.dumps(config), "meta": "{}"})
    _check_checkpoint(path)


@FUZZ
@given(data=st.data())
def test_fuzz_checkpoint_bytes(checkpoint, tmp_path, data):
    _, good = checkpoint
    raw = good.read_bytes()
    header_end = 8 + int.from_bytes(raw[:8], "little")
    # Mostly the header (format, config, tensor table), sometimes the tensor data.
    region = data.draw(st.sampled_from(["header", "header", "prefix", "tensors", "any"]))
    base = {"header": raw[:header_end], "prefix": raw[:8]}.get(region, raw)
    damaged = data.draw(damaged_bytes(base))
    if region in ("header", "prefix"):
        damaged = damaged + raw[len(base):]
    path = tmp_path / "b.safetensors"
    path.write_bytes(damaged)
    _check_checkpoint(path)
