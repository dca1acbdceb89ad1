"""COCO + expressions: exact round trip, pycocotools decodes the same pixels, stable ids."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools.coco import COCO

from rismodel.data.coco_refs import ImageEntry, ObjectEntry, build_coco, load_coco_refs, save_coco
from rismodel.data.masks import mask_to_polygons


def _entries():
    rng = np.random.default_rng(3)
    donut = np.zeros((24, 32), bool)
    donut[3:20, 4:22] = True
    donut[8:14, 9:16] = False  # hole
    two_parts = np.zeros((24, 32), bool)
    two_parts[1:6, 24:30] = True
    two_parts[15:22, 25:31] = True
    two_parts[6, 30] = True  # touches the first part only diagonally
    blob = rng.random((18, 40)) > 0.6  # ragged, many tiny parts and holes
    return [
        ImageEntry("b.jpg", 32, 24, [ObjectEntry("donut", donut, ["the donut", "ring shape"]),
                                     ObjectEntry("block", two_parts, ["both blocks"])],
                   no_target_expressions=["the zebra"]),
        ImageEntry("a.png", 40, 18, [ObjectEntry("noise", blob, ["speckles"]),
                                     ObjectEntry("block", np.zeros((18, 40), bool), [])]),
    ]


@pytest.mark.parametrize("polygons", [False, True])
def test_round_trip_exact_and_pycocotools_agrees(tmp_path, polygons):
    entries = _entries()
    data = build_coco(entries, polygons=polygons)
    path = tmp_path / "export.json"
    save_coco(path, data)
    coco = COCO(str(path))
    by_name = {im["file_name"]: im for im in data["images"]}
    originals = {(e.file_name, o.label): o.mask for e in entries for o in e.objects}
    for ann in data["annotations"]:
        im = coco.imgs[ann["image_id"]]
        label = coco.cats[ann["category_id"]]["name"]
        original = originals[(im["file_name"], label)].astype(np.uint8)
        np.testing.assert_array_equal(coco.annToMask(coco.anns[ann["id"]]), original)
        assert ann["iscrowd"] == 0 and ann["area"] == original.sum()
    seg_of = {coco.cats[a["category_id"]]["name"] + a["segmentation"].__class__.__name__
              for a in data["annotations"]}
    if polygons:  # holes force RLE, the two-part mask is written as polygons
        assert "donutdict" in seg_of and "blocklist" in seg_of
    else:
        assert seg_of == {"donutdict", "blockdict", "noisedict"}
    samples = load_coco_refs(path)
    assert {tuple(s.sentences) for s in samples} == {("the donut", "ring shape"), ("both blocks",),
                                                      ("speckles",), ("the zebra",)}
    for s in samples:
        name = s.image_path.split("/")[-1]
        assert s.image_path == str(tmp_path / name)
        if s.has_target:
            np.testing.assert_array_equal(s.mask(), originals[(name, s.category)].astype(np.uint8))
        else:
            assert s.sentences == ["the zebra"] and s.mask().sum() == 0
            assert s.mask().shape == (by_name[name]["height"], by_name[name]["width"])


def test_stable_ids_and_json_types(tmp_path):
    data = build_coco(_entries())
    assert [(im["id"], im["file_name"]) for im in data["images"]] == [(1, "a.png"), (2, "b.jpg")]
    assert [(c["id"], c["name"]) for c in data["categories"]] == [(1, "block"), (2, "donut"), (3, "noise")]
    ids = [a["id"] for a in data["annotations"]]
    assert ids == list(range(1, len(ids) + 1))
    assert json.loads(json.dumps(data)) == data  # plain JSON types only
    pinned = build_coco(_entries(), category_ids={"noise": 7})
    assert {c["name"]: c["id"] for c in pinned["categories"]} == {"noise": 7, "block": 8, "donut": 9}
    assert build_coco(_entries()) == data  # deterministic


def test_wrong_mask_size_is_a_clear_error():
    bad = [ImageEntry("x.png", 10, 10, [ObjectEntry("cat", np.ones((5, 10), bool), ["cat"])])]
    with pytest.raises(ValueError, match=r"x.png: object 0 \(cat\) mask is 10x5, the image is 10x10"):
        build_coco(bad)


def test_polygons_are_pixel_edges_and_holes_refused():
    sq = np.zeros((8, 8), bool)
    sq[2:5, 3:7] = True
    assert mask_to_polygons(sq) == [[3.0, 2.0, 7.0, 2.0, 7.0, 5.0, 3.0, 5.0]]
    sq[3, 4] = False
    assert mask_to_polygons(sq) is None
