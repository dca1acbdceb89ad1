"""Exports without a display: COCO through coco_refs decodes to exactly the project's masks."""

import numpy as np
from PIL import Image
from pycocotools.coco import COCO

from app.export import cutout_rgba, export_coco, export_mask_pngs
from app.project import Project


def _ring(h, w):
    """A mask with a hole and a second part: what polygons must not lose."""
    m = np.zeros((h, w), bool)
    m[5:25, 5:25] = True
    m[10:20, 10:20] = False
    m[30:35, 40:55] = True
    return m


def test_coco_export_matches_masks_with_stable_ids(image_folder, tmp_path):
    p = Project.open([image_folder])
    a = p.add("a.png", "ring", "the ring", _ring(40, 60))
    gone = p.add("a.png", "tmp", "x", np.ones((40, 60), bool))
    b = p.add("b.jpg", "bar", "the bar on the left", np.pad(np.ones((60, 5), bool), ((0, 0), (0, 35))))
    p.remove("a.png", gone.id)
    for polygons in (False, True):
        out = tmp_path / f"coco_{polygons}.json"
        assert export_coco(p, out, polygons=polygons) == []
        coco = COCO(str(out))
        assert sorted(coco.getAnnIds()) == [a.id, b.id]  # the deleted id is not reused or shifted
        imgs = {im["file_name"]: im for im in coco.dataset["images"]}
        assert (imgs["b.jpg"]["width"], imgs["b.jpg"]["height"]) == (40, 60)  # upright size
        assert imgs["a.png"]["id"] == p.entry("a.png").id
        for ann_id, key in ((a.id, "a.png"), (b.id, "b.jpg")):
            ann = coco.loadAnns(ann_id)[0]
            assert np.array_equal(coco.annToMask(ann).astype(bool), p.get(key, ann_id).mask)
            assert ann["expressions"] == p.get(key, ann_id).expressions
            assert coco.loadCats(ann["category_id"])[0]["name"] == p.get(key, ann_id).label
    assert isinstance(coco.loadAnns(b.id)[0]["segmentation"], list)  # polygons where exact


def test_mask_pngs_and_cutout(image_folder, tmp_path):
    p = Project.open([image_folder])
    a = p.add("a.png", "ring/1", "the ring", _ring(40, 60))
    [path] = export_mask_pngs(p, tmp_path / "masks")
    assert path.name == f"a_{a.id}_ring_1.png"
    assert np.array_equal(np.asarray(Image.open(path)) > 0, a.mask)
    img = np.full((40, 60, 3), 7, np.uint8)
    cut = cutout_rgba(img, a.mask)
    assert cut.shape == (40, 60, 4) and (cut[..., 3][a.mask] == 255).all() and (cut[..., 3][~a.mask] == 0).all()
