"""Interop (issue 11): import a COCO file (RLE or polygons, with or without expressions; what
``rismodel annotate`` writes) for review, then COCO / labelme / YOLO out with the same masks.

Bounds: COCO and labelme ("mask" shapes) are exact. YOLO polygons are exact pixel-edge polygons for
masks without holes (IoU 1.0 after pycocotools rasterises them; the test demands >= 0.99 to allow
the 6-decimal normalised coordinates); a hole cannot be written in YOLO segmentation and is filled.
labelme "polygon" shapes (contours through pixel centres, as labelme draws them) give IoU >= 0.9.
"""

import base64
import io
import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from json_mutation import replace_random_node
from PIL import Image, ImageDraw
from pycocotools import mask as mask_utils

from app.export import cutout_rgba, export_coco, export_labelme, export_yolo
from app.project import Project, ProjectError
from app.project.interop import import_coco
from rismodel.data import coco_refs
from rismodel.data.masks import mask_to_polygons


def _blob(h, w, cy, cx, r):
    yy, xx = np.mgrid[:h, :w]
    return (yy - cy) ** 2 + (xx - cx) ** 2 < r * r


def _ring(h, w):
    m = np.zeros((h, w), bool)
    m[5:25, 5:25] = True
    m[10:20, 10:20] = False
    return m


@pytest.fixture
def coco_file(image_folder, tmp_path):
    """What `rismodel annotate` writes (coco_refs.build_coco, category = expression), plus a polygon
    annotation and one without expressions."""
    masks = {"a.png": [_blob(40, 60, 20, 30, 12), _ring(40, 60)], "b.jpg": [_blob(60, 40, 30, 20, 9)]}
    entries = [coco_refs.ImageEntry("a.png", 60, 40, [coco_refs.ObjectEntry("the disc", masks["a.png"][0], ["the disc"]),
                                                      coco_refs.ObjectEntry("ring", masks["a.png"][1], [])]),
               coco_refs.ImageEntry("b.jpg", 40, 60, [coco_refs.ObjectEntry("the small disc", masks["b.jpg"][0],
                                                                            ["the small disc", "a dot"])])]
    data = coco_refs.build_coco(entries)
    poly = mask_to_polygons(masks["b.jpg"][0])
    data["annotations"][2]["segmentation"] = poly  # polygons instead of RLE
    data["annotations"][2]["score"] = 0.75
    path = tmp_path / "annotate.coco.json"
    path.write_text(json.dumps(data))
    return path, masks


def test_import_coco_for_review(image_folder, coco_file):
    path, masks = coco_file
    p = Project.open([image_folder])
    report = import_coco(p, path)
    assert report.added == 3 and report.skipped == [] and report.keys == ["a.png", "b.jpg"]
    anns = p.annotations("a.png")
    assert [a.label for a in anns] == ["the disc", "ring"] and anns[1].expressions == []
    assert all(a.review == "to_review" and a.source == "import" for _, a in p.all_annotations())
    assert np.array_equal(anns[0].mask, masks["a.png"][0]) and np.array_equal(anns[1].mask, masks["a.png"][1])
    b = p.annotations("b.jpg")[0]
    assert np.array_equal(b.mask, masks["b.jpg"][0]) and b.score == 0.75 and b.expressions == ["the small disc", "a dot"]
    again = import_coco(p, path)  # the same file twice: nothing doubled
    assert again.added == 0 and len(again.skipped) == 3 and "already in the project" in again.skipped[0]
    assert p.undo_text() == f"import {path.name}" and p.undo() == ["a.png", "b.jpg"] and p.count("a.png") == 0
    d = json.loads(path.read_text())
    for im in d["images"]:
        im["file_name"] = "photos/" + im["file_name"]  # written one folder up: matched by name
    path.write_text(json.dumps(d))
    assert import_coco(p, path).added == 3


def _labelme_masks(doc):
    """Decode a labelme file the way labelme does (mask shapes: box crop; polygons: PIL, outline on)."""
    h, w = doc["imageHeight"], doc["imageWidth"]
    out = []
    for s in doc["shapes"]:
        m = np.zeros((h, w), bool)
        if s["shape_type"] == "mask":
            (x1, y1), (x2, y2) = np.asarray(s["points"]).astype(int)
            crop = np.asarray(Image.open(io.BytesIO(base64.b64decode(s["mask"])))).astype(bool)
            m[y1:y2 + 1, x1:x2 + 1] = crop
        else:
            img = Image.new("L", (w, h), 0)
            ImageDraw.Draw(img).polygon([tuple(p) for p in s["points"]], outline=1, fill=1)
            m = np.asarray(img).astype(bool)
        out.append((s["label"], m, s["description"]))
    return out


def _iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


def test_coco_in_then_coco_labelme_yolo_out(image_folder, coco_file, tmp_path):
    path, masks = coco_file
    p = Project.open([image_folder])
    import_coco(p, path)
    # COCO out: exact.
    assert export_coco(p, tmp_path / "out.coco.json") == []
    out = json.loads((tmp_path / "out.coco.json").read_text())
    by_file = {im["id"]: im for im in out["images"]}
    got = {}
    for a in out["annotations"]:
        im = by_file[a["image_id"]]
        got.setdefault(im["file_name"], []).append(coco_refs.annotation_mask(a, im).astype(bool))
    for key, ms in masks.items():
        assert all(np.array_equal(x, y) for x, y in zip(got[key], ms))
    # labelme out (mask shapes): exact, expressions in the description.
    written, skipped = export_labelme(p, tmp_path / "labelme")
    assert skipped == [] and [f.name for f in written] == ["a.json", "b.json"]
    doc = json.loads((tmp_path / "labelme" / "a.json").read_text())
    assert doc["imagePath"].endswith("a.png") and (doc["imageWidth"], doc["imageHeight"]) == (60, 40)
    dec = _labelme_masks(doc)
    assert [d[0] for d in dec] == ["the disc", "ring"] and dec[0][2] == "the disc"
    assert all(np.array_equal(m, ref) for (_, m, _), ref in zip(dec, masks["a.png"]))
    # labelme polygons: close.
    export_labelme(p, tmp_path / "labelme_poly", shapes="polygon")
    dec = _labelme_masks(json.loads((tmp_path / "labelme_poly" / "b.json").read_text()))
    assert _iou(dec[0][1], masks["b.jpg"][0]) >= 0.9
    # YOLO out.
    written, skipped = export_yolo(p, tmp_path / "yolo")
    assert skipped == [] and (tmp_path / "yolo" / "images" / "a.png").resolve() == (image_folder / "a.png").resolve()
    import yaml

    assert yaml.safe_load((tmp_path / "yolo" / "data.yaml").read_text())["train"] == "images"
    names = (tmp_path / "yolo" / "classes.txt").read_text().split("\n")[:-1]
    assert sorted(names) == ["ring", "the disc", "the small disc"]
    for key, (w, h) in (("a.png", (60, 40)), ("b.jpg", (40, 60))):
        lines = (tmp_path / "yolo" / "labels" / (key.rsplit(".", 1)[0] + ".txt")).read_text().splitlines()
        assert len(lines) == len(masks[key])  # one part per object here
        for line, ref in zip(lines, masks[key]):
            vals = line.split()
            xy = np.asarray(vals[1:], float).reshape(-1, 2) * [w, h]
            m = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects([xy.reshape(-1).tolist()], h, w))).astype(bool)
            if (ref & ~_filled(ref)).any() or (_filled(ref) & ~ref).any():  # a hole: filled in YOLO
                assert _iou(m, _filled(ref)) >= 0.99
            else:
                assert _iou(m, ref) >= 0.99
            assert names[int(vals[0])] in ("the disc", "ring", "the small disc")


def _filled(m):
    import cv2

    contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    out = np.zeros(m.shape, np.uint8)
    cv2.drawContours(out, contours, -1, 1, thickness=-1)
    return out.astype(bool)


def test_hostile_coco_files_are_refused_or_skipped_never_crash(image_folder, coco_file, tmp_path):
    path, _ = coco_file
    good = json.loads(path.read_text())
    p = Project.open([image_folder])
    for content in ("[1]", "{", '"x"', json.dumps({"images": {}, "annotations": [], "categories": []}),
                    "[" * 100_000 + "]" * 100_000):
        bad = tmp_path / "bad.json"
        bad.write_text(content)
        with pytest.raises(ProjectError, match="cannot import"):
            import_coco(p, bad)
    cases = {
        "polygon 1e10": lambda d: d["annotations"][2].update(segmentation=[[0, 0, 1e10, 0, 1e10, 1e10]]),
        "polygon nan": lambda d: d["annotations"][2].update(segmentation=[[0, 0, float("nan"), 0, 5, 5]]),
        "rle too long": lambda d: d["annotations"][0]["segmentation"].update(
            counts=d["annotations"][0]["segmentation"]["counts"] + "1"),
        "rle uncompressed overflow": lambda d: d["annotations"][0].update(
            segmentation={"size": [40, 60], "counts": [2 ** 40, 5]}),
        "expressions a string": lambda d: d["annotations"][0].update(expressions="the disc"),
        "score infinite": lambda d: d["annotations"][0].update(score=float("inf")),
    }
    for name, fn in cases.items():
        d = json.loads(json.dumps(good))
        fn(d)
        f = tmp_path / f"{name}.json"
        f.write_text(json.dumps(d))
        report = import_coco(p, f)
        assert report.added == 2 and len(report.skipped) == 1, (name, report.skipped)
        p.undo()
    d = json.loads(json.dumps(good))
    d["images"][0]["file_name"] = "../photos/a.png"
    d["images"][1]["width"] = 41
    f = tmp_path / "paths.json"
    f.write_text(json.dumps(d))
    report = import_coco(p, f)
    assert report.added == 0 and any("outside its folder" in s for s in report.skipped)
    assert any("41x60" in s for s in report.skipped)


def test_cutout_cropped_to_the_object():
    img = np.arange(40 * 60 * 3, dtype=np.uint32).reshape(40, 60, 3).astype(np.uint8)
    m = np.zeros((40, 60), bool)
    m[10:20, 30:45] = True
    m[12, 30] = False
    cut = cutout_rgba(img, m, crop=True)
    assert cut.shape == (10, 15, 4) and (cut[..., :3] == img[10:20, 30:45]).all()
    assert cut[2, 0, 3] == 0 and cut[0, 0, 3] == 255
    assert cutout_rgba(img, m, crop=True, margin=3).shape == (16, 21, 4)
    with pytest.raises(ValueError, match="empty"):
        cutout_rgba(img, np.zeros((40, 60), bool), crop=True)


# ----- fuzzing the import (issue 13: imported COCO is untrusted data) ------------------------------
_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=True) | st.text(max_size=6),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids, max_size=3),
    max_leaves=12)


@settings(max_examples=int(os.environ.get("RIS_FUZZ_EXAMPLES", "100")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_import_never_raises_anything_but_project_error(image_folder, tmp_path, data):
    m = np.zeros((40, 60), bool)
    m[3:9, 4:20] = True
    doc = coco_refs.build_coco([coco_refs.ImageEntry("a.png", 60, 40, [coco_refs.ObjectEntry("x", m, ["the x"])])])
    doc["annotations"].append(dict(doc["annotations"][0], id=2, segmentation=mask_to_polygons(m)))
    doc = replace_random_node(doc, data, _values, 5)
    f = tmp_path / "fuzz.json"
    f.write_text(json.dumps(doc))
    p = Project.open([image_folder], autosave=False)
    try:
        report = import_coco(p, f)
    except ProjectError:
        return
    assert isinstance(report.summary(), str)
    for e, a in p.all_annotations():  # whatever was accepted is a valid mask of its image
        w, h = e.upright_size()
        assert a.mask.shape == (h, w) and a.mask.any()
