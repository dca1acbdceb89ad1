"""COCO + expressions: exact round trip, pycocotools decodes the same pixels, stable ids."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools.coco import COCO

from rismodel.data.coco_refs import ImageEntry, ObjectEntry, build_coco, load_coco_refs, save_coco
from rismodel.data.masks import mask_to_polygons
from rismodel.data.refer import DatasetError


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


# ----- untrusted COCO files (issue 13) ---------------------------------------------------------


def _one_image(tmp_path, seg=None, image=None, ann=None, cats=None):
    data = {"images": [{"id": 1, "file_name": "a.png", "width": 8, "height": 6, **(image or {})}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "expressions": ["the thing"],
                             "segmentation": seg if seg is not None else [[1, 1, 5, 1, 5, 4]],
                             **(ann or {})}],
            "categories": cats if cats is not None else [{"id": 1, "name": "thing"}]}
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(data))
    return path


def _load_and_decode(path, **kw):
    return [s.mask() for s in load_coco_refs(path, **kw)]


BAD_COCO = {
    "uncompressed RLE count out of range": ({"seg": {"size": [6, 8], "counts": [2**40, 8]}}, "run length"),
    "negative RLE count": ({"seg": {"size": [6, 8], "counts": [-5, 53]}}, "run length"),
    "RLE runs overshoot the mask": ({"seg": {"size": [6, 8], "counts": [40, 40]}}, "cover"),
    # The runs of a 20x20 mask in a 6x8 one: pycocotools would write 352 bytes past its buffer.
    "compressed RLE overshoot": ({"seg": {"size": [6, 8], "counts": "0`<"}}, "run length"),
    "compressed RLE bad alphabet": ({"seg": {"size": [6, 8], "counts": "\u00ff\u00ff"}}, "alphabet"),
    "RLE size not a list": ({"seg": {"size": 48, "counts": [48]}}, "size"),
    "polygon 1e10": ({"seg": [[1, 1, 1e10, 1, 5, 4]]}, "far outside"),
    "polygon inf": ({"seg": [[1, 1, float("inf"), 1, 5, 4]]}, "NaN or infinite"),
    "polygon NaN": ({"seg": [[1, 1, float("nan"), 1, 5, 4]]}, "NaN or infinite"),
    "polygon huge int": ({"seg": [[1, 1, 10**400, 1, 5, 4]]}, "out of range"),
    "no_target not a list": ({"image": {"no_target_expressions": "the zebra"}}, "no_target_expressions"),
    "no_target holds numbers": ({"image": {"no_target_expressions": [1, 2]}}, "no_target_expressions"),
    "category a list": ({"ann": {"category_id": [1]}}, "category_id"),
    "category name a list": ({"cats": [{"id": 1, "name": ["x"]}]}, "name"),
    "image id a list": ({"image": {"id": [1]}}, "'id'"),
    "width a string": ({"image": {"width": "8"}}, "width"),
    "huge image": ({"image": {"width": 10**6, "height": 10**6}}, "megapixels"),
    "parent folder file_name": ({"image": {"file_name": "../../etc/passwd"}}, "leaves the images folder"),
    "absolute file_name": ({"image": {"file_name": "/etc/passwd"}}, "leaves the images folder"),
    "windows file_name": ({"image": {"file_name": "C:\\\\Windows\\\\x.png"}}, "leaves the images folder"),
    "file_name a number": ({"image": {"file_name": 7}}, "file name"),
}


@pytest.mark.parametrize("case", sorted(BAD_COCO))
def test_bad_coco_is_one_clear_error_naming_the_file(tmp_path, case):
    kwargs, words = BAD_COCO[case]
    path = _one_image(tmp_path, **kwargs)
    with pytest.raises(DatasetError, match=words) as info:
        _load_and_decode(path)
    assert str(path) in str(info.value)


def test_file_names_outside_the_folder_only_when_allowed(tmp_path):
    path = _one_image(tmp_path, image={"file_name": "../elsewhere/a.png"})
    (s,) = load_coco_refs(path, allow_outside=True)
    assert s.image_path == str(tmp_path / "../elsewhere/a.png")
    (s,) = load_coco_refs(_one_image(tmp_path, image={"file_name": "sub/a.png"}))  # a subfolder is fine
    assert s.image_path == str(tmp_path / "sub" / "a.png")


def test_valid_rle_forms_still_decode(tmp_path):
    m = np.zeros((6, 8), np.uint8)
    m[1:4, 2:6] = 1
    from rismodel.data.masks import mask_to_rle

    runs = [int(v) for v in np.diff(np.flatnonzero(np.diff(np.concatenate(([2], m.flatten("F"), [2])))))]
    for seg in (mask_to_rle(m), {"size": [6, 8], "counts": runs}):
        (s,) = load_coco_refs(_one_image(tmp_path, seg=seg))
        np.testing.assert_array_equal(s.mask(), m)


def test_image_of_another_size_is_the_same_error_in_training_and_eval(tmp_path):
    from PIL import Image

    from rismodel.data.dataset import RISDataset

    Image.new("RGB", (10, 6)).save(tmp_path / "a.png")  # the file says 8x6
    samples = load_coco_refs(_one_image(tmp_path))
    ds = RISDataset(samples, lambda t: (np.zeros((1, 4)), np.ones((1, 4))), image_size=32)
    with pytest.raises(DatasetError, match="image is 10x6 but its annotation says 8x6"):
        ds[0]
    with pytest.raises(DatasetError, match="image is 10x6 but its annotation says 8x6"):
        samples[0].load_image()
