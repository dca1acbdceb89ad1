"""Refer (pickle) and gRefCOCO (JSON) loaders on small fixture datasets written here."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from rismodel.data.masks import mask_to_rle
from rismodel.data.refer import DatasetError, default_images_dir, load_dataset

H, W = 20, 30


def _instances():
    ring = np.zeros((H, W), np.uint8)
    ring[2:12, 2:12] = 1
    ring[5:8, 5:8] = 0  # a hole: only RLE can hold it
    return {
        "images": [{"id": 7, "file_name": "img7.jpg", "width": W, "height": H},
                   {"id": 8, "file_name": "img8.jpg", "width": W, "height": H}],
        "annotations": [
            # two polygon parts; they overlap on x 10..12
            {"id": 1, "image_id": 7, "category_id": 1,
             "segmentation": [[0, 0, 12, 0, 12, 10, 0, 10], [10, 0, 20, 0, 20, 5, 10, 5]]},
            {"id": 2, "image_id": 7, "category_id": 2, "segmentation": mask_to_rle(ring)},
            {"id": 3, "image_id": 8, "category_id": 1, "segmentation": [[0, 0, 5, 0, 5, 5, 0, 5]]},
        ],
        "categories": [{"id": 1, "name": "dog"}, {"id": 2, "name": "ring"}],
    }, ring


def _refs():
    return [
        {"ref_id": 10, "ann_id": 1, "image_id": 7, "category_id": 1, "split": "train",
         "sent_ids": [0, 1], "file_name": "img7_1.jpg",
         "sentences": [{"sent_id": 0, "raw": "The Dog", "sent": "the dog", "tokens": ["the", "dog"]},
                       {"sent_id": 1, "raw": "left dog", "sent": "left dog", "tokens": ["left", "dog"]}]},
        {"ref_id": 11, "ann_id": 2, "image_id": 7, "category_id": 2, "split": "testA",
         "sent_ids": [2], "file_name": "img7_2.jpg",
         "sentences": [{"sent_id": 2, "raw": "ring", "sent": "ring", "tokens": ["ring"]}]},
    ]


@pytest.fixture
def root(tmp_path):
    inst, _ = _instances()
    (tmp_path / "refcoco").mkdir()
    (tmp_path / "refcoco" / "instances.json").write_text(json.dumps(inst))
    (tmp_path / "refcoco" / "refs(unc).p").write_bytes(pickle.dumps(_refs(), protocol=2))
    return tmp_path


def test_refer_pickle_loads_with_merged_polygon_parts(root):
    train = load_dataset(root, "refcoco", "unc", "train")
    assert len(train) == 1
    s = train[0]
    assert s.sentences == ["The Dog", "left dog"] and s.ann_ids == [1] and s.category == "dog"
    assert s.image_path == str(root / "images/mscoco/images/train2014/img7.jpg")
    m = s.mask()
    assert m.shape == (H, W) and m.dtype == np.uint8
    expected = np.zeros((H, W), np.uint8)
    expected[0:10, 0:12] = 1
    expected[0:5, 10:20] = 1  # overlapping parts merged, not summed
    np.testing.assert_array_equal(m, expected)


def test_refer_rle_with_hole_and_images_dir_override(root, tmp_path):
    (s,) = load_dataset(root, "refcoco", "unc", "testA", images_dir=tmp_path / "pics")
    _, ring = _instances()
    np.testing.assert_array_equal(s.mask(), ring)
    assert s.image_path == str(tmp_path / "pics" / "img7.jpg")


def test_clear_errors(root):
    with pytest.raises(DatasetError, match="unknown split 'bogus'.*testA, train"):
        load_dataset(root, "refcoco", "unc", "bogus")
    with pytest.raises(DatasetError, match="split 'testB' is empty"):
        load_dataset(root, "refcoco", "unc", "testB")
    with pytest.raises(DatasetError, match="no split 'umd'"):
        load_dataset(root, "refcoco", "umd", "train")
    with pytest.raises(DatasetError, match="dataset folder not found"):
        load_dataset(root, "refcocog", "umd", "train")
    with pytest.raises(DatasetError, match=r"refs\(google\)\.p: file not found"):
        load_dataset(root, "refcoco", "google", "train")


def test_malformed_entries_name_file_and_field(root):
    refs = _refs()
    del refs[1]["sentences"]
    (root / "refcoco" / "refs(unc).p").write_bytes(pickle.dumps(refs))
    with pytest.raises(DatasetError, match=r"refs\(unc\)\.p: ref #1.*missing field 'sentences'"):
        load_dataset(root, "refcoco", "unc", "testA")
    refs = _refs()
    refs[0]["ann_id"] = 99
    (root / "refcoco" / "refs(unc).p").write_bytes(pickle.dumps(refs))
    with pytest.raises(DatasetError, match="ann_id 99 is not in .*instances.json"):
        load_dataset(root, "refcoco", "unc", "train")
    (root / "refcoco" / "instances.json").write_text("{not json")
    with pytest.raises(DatasetError, match="instances.json: not valid JSON"):
        load_dataset(root, "refcoco", "unc", "train")


def test_grefs_multi_and_no_target(tmp_path):
    inst, ring = _instances()
    d = tmp_path / "grefcoco"
    d.mkdir()
    (d / "instances.json").write_text(json.dumps(inst))
    grefs = [
        {"ref_id": 1, "ann_id": [1, 2], "image_id": 7, "category_id": [1, 2], "split": "val",
         "sentences": [{"raw": "the dog and the ring", "sent": "the dog and the ring"}]},
        {"ref_id": 2, "ann_id": [-1], "image_id": 8, "category_id": [], "split": "val",
         "no_target": True, "sentences": [{"raw": "the cat", "sent": "the cat"}]},
    ]
    (d / "grefs(unc).json").write_text(json.dumps(grefs))
    multi, none = load_dataset(tmp_path, "grefcoco", "unc", "val")
    assert multi.ann_ids == [1, 2] and multi.has_target and multi.category == "dog+ring"
    m = multi.mask()
    assert m.max() == 1 and (m | ring).sum() == m.sum()  # the ring is inside the union
    assert (m[0:5, 10:20] == 1).all()
    assert none.ann_ids == [] and not none.has_target and none.category is None
    assert none.mask().shape == (H, W) and none.mask().sum() == 0
    assert default_images_dir(tmp_path, "refclef") == tmp_path / "images" / "saiapr_tc-12"


# ----- untrusted refer / gRefCOCO files (issue 13) -----------------------------------------------

def _write_instances(root, edit):
    inst, _ = _instances()
    edit(inst)
    (root / "refcoco" / "instances.json").write_text(json.dumps(inst))


BAD_INSTANCES = {
    "category a list": (lambda d: d["annotations"][0].update(category_id=[1]), "category_id"),
    "categories not a list": (lambda d: d.update(categories=5), "categories"),
    "polygon of 1e10": (lambda d: d["annotations"][0].update(segmentation=[[0, 0, 1e10, 0, 5, 5]]), "far outside"),
    "RLE count out of range": (lambda d: d["annotations"][0].update(
        segmentation={"size": [H, W], "counts": [2**33, 1]}), "run length"),
    "file_name leaves the folder": (lambda d: d["images"][0].update(file_name="../../../etc/passwd"),
                                    "leaves the images folder"),
    "absolute file_name": (lambda d: d["images"][0].update(file_name="/etc/passwd"), "leaves the images folder"),
    "duplicate image id": (lambda d: d["images"].append(dict(d["images"][0])), "appears twice"),
    "negative width": (lambda d: d["images"][0].update(width=-3), "width"),
}


@pytest.mark.parametrize("case", sorted(BAD_INSTANCES))
def test_bad_instances_are_one_clear_error_at_load(root, case):
    edit, words = BAD_INSTANCES[case]
    _write_instances(root, edit)
    with pytest.raises(DatasetError, match=words) as info:
        load_dataset(root, "refcoco", "unc", "train")
    assert "instances.json" in str(info.value)


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, "1" * 5000, '"\\ud800"', "[1, 2"])
def test_bad_grefs_json_is_one_clear_error(tmp_path, text):
    inst, _ = _instances()
    d = tmp_path / "grefcoco"
    d.mkdir()
    (d / "instances.json").write_text(json.dumps(inst))
    (d / "grefs(unc).json").write_text(text)
    with pytest.raises(DatasetError, match=r"grefs\(unc\)\.json"):
        load_dataset(tmp_path, "grefcoco", "unc", "val")


def test_unsafe_refs_pickle_is_a_dataset_error(root):
    import os

    class Evil:
        def __reduce__(self):
            return (os.getcwd, ())

    (root / "refcoco" / "refs(unc).p").write_bytes(pickle.dumps([Evil()], protocol=2))
    with pytest.raises(DatasetError, match=r"refs\(unc\)\.p.*refusing"):
        load_dataset(root, "refcoco", "unc", "train")
