"""COCO with referring expressions: what the app exports, ``rismodel annotate`` writes and
``rismodel train`` fine-tunes on.

A standard COCO file ``{"info", "images", "annotations", "categories"}`` where each annotation
also carries ``"expressions": [str, ...]`` and each image may carry
``"no_target_expressions": [str, ...]`` (sentences that refer to nothing in it). Choices
(docs/formats.md):

- Segmentation is compressed RLE by default, counts as text, with ``iscrowd = 0``: RLE keeps
  every mask exactly (holes, several parts) and ``iscrowd = 0`` keeps the objects in COCOeval's
  ordinary matching; pycocotools' ``annToMask`` decodes RLE whatever ``iscrowd`` says.
- ``polygons=True`` writes exact pixel-edge polygons of every part where polygons can hold the
  mask; a mask with a hole is written as RLE instead (COCO polygons are merged by union and
  cannot cut holes), so the file stays lossless.
- Ids are stable: images 1.. by sorted file name unless given; categories 1.. by sorted label
  name unless ``category_ids`` pins them; annotations 1.. in image, then object order.
- ``width``/``height`` are the upright (EXIF-applied) size, the size of every mask.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rismodel.data.errors import DatasetError
from rismodel.data.masks import (
    bbox_of,
    check_image_size,
    check_segmentation,
    mask_to_polygons,
    mask_to_rle,
    segmentation_to_mask,
)
from rismodel.data.paths import path_inside
from rismodel.data.refer import read_json
from rismodel.data.sample import RefSample
from rismodel.fileio import atomic_write_json


@dataclass
class ObjectEntry:
    label: str
    mask: np.ndarray  # [H, W] bool/uint8 at the upright image size
    expressions: list[str] = field(default_factory=list)


@dataclass
class ImageEntry:
    file_name: str  # relative to the images folder
    width: int  # upright size
    height: int
    objects: list[ObjectEntry] = field(default_factory=list)
    no_target_expressions: list[str] = field(default_factory=list)
    image_id: int | None = None
    split: str | None = None


def _category_ids(images: list[ImageEntry], pinned: dict[str, int] | None) -> dict[str, int]:
    ids = dict(pinned or {})
    labels = sorted({o.label for im in images for o in im.objects} - set(ids))
    nxt = max(ids.values(), default=0) + 1
    for name in labels:
        ids[name] = nxt
        nxt += 1
    return ids


def build_coco(images: list[ImageEntry], polygons: bool = False, info: dict | None = None,
               category_ids: dict[str, int] | None = None) -> dict:
    """A JSON-ready COCO dict with expressions (see the module docstring for the conventions)."""
    cats = _category_ids(images, category_ids)
    ordered = sorted(images, key=lambda im: im.file_name)
    given = [im.image_id for im in ordered if im.image_id is not None]
    if len(set(given)) != len(given):
        raise ValueError("image ids must be unique")
    if given and len(given) != len(ordered):
        raise ValueError("give an image_id to every image or to none")
    out_images, out_anns, ann_id = [], [], 1
    for idx, im in enumerate(ordered, start=1):
        image_id = im.image_id if im.image_id is not None else idx
        entry = {"id": int(image_id), "file_name": im.file_name, "width": int(im.width),
                 "height": int(im.height)}
        if im.split is not None:
            entry["split"] = im.split
        if im.no_target_expressions:
            entry["no_target_expressions"] = [str(s) for s in im.no_target_expressions]
        out_images.append(entry)
        for j, obj in enumerate(im.objects):
            mask = np.asarray(obj.mask) > 0
            if mask.shape != (im.height, im.width):
                raise ValueError(f"{im.file_name}: object {j} ({obj.label}) mask is {mask.shape[1]}x"
                                 f"{mask.shape[0]}, the image is {im.width}x{im.height}")
            seg = (mask_to_polygons(mask) if polygons else None) or mask_to_rle(mask)
            out_anns.append({
                "id": ann_id, "image_id": int(image_id), "category_id": cats[obj.label],
                "segmentation": seg, "area": float(mask.sum()), "bbox": bbox_of(mask),
                "iscrowd": 0, "expressions": [str(s) for s in obj.expressions]})
            ann_id += 1
    return {"info": dict(info or {"description": "RIS Studio export: COCO with referring expressions"}),
            "images": out_images, "annotations": out_anns,
            "categories": [{"id": i, "name": n, "supercategory": "object"}
                           for n, i in sorted(cats.items(), key=lambda kv: kv[1])]}


def save_coco(path: str | os.PathLike, data: dict) -> None:
    """Write atomically (a crash never leaves half a file)."""
    atomic_write_json(path, data)


def _strings(value: object, where: str, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise DatasetError(f"{where}: '{key}' must be a list of strings")
    return list(value)


def _int(entry: dict, key: str, where: str) -> int:
    value = entry.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise DatasetError(f"{where}: '{key}' must be an integer, got {type(value).__name__}")
    return value


def load_coco_refs(path: str | os.PathLike, images_dir: str | os.PathLike | None = None,
                   split: str | None = None, allow_outside: bool = False) -> list[RefSample]:
    """One :class:`RefSample` per annotation with expressions, plus one per image's no-target set.

    ``images_dir`` defaults to the JSON file's folder; ``split`` keeps only images whose
    ``split`` field matches (images without one count as ``"train"``). The whole file is checked
    before anything is returned (types, ids, sizes, segmentations against their image, file names
    inside ``images_dir`` unless ``allow_outside``); every problem is a :class:`DatasetError`
    naming the file and the entry.
    """
    path = Path(path)
    data = read_json(path)
    for key in ("images", "annotations", "categories"):
        if not isinstance(data, dict) or not isinstance(data.get(key), list):
            raise DatasetError(f"{path}: missing list '{key}'")
    img_dir = Path(images_dir) if images_dir is not None else path.parent
    cats: dict[int, str] = {}
    for i, c in enumerate(data["categories"]):
        where = f"{path}: categories[{i}]"
        if not isinstance(c, dict):
            raise DatasetError(f"{where}: must be an object")
        name = c.get("name", "")
        if not isinstance(name, str):
            raise DatasetError(f"{where}: 'name' must be a string, got {type(name).__name__}")
        cats[_int(c, "id", where)] = name
    images: dict[int, dict] = {}
    for i, im in enumerate(data["images"]):
        where = f"{path}: images[{i}]"
        for key in ("id", "file_name", "width", "height"):
            if not isinstance(im, dict) or key not in im:
                raise DatasetError(f"{where} misses '{key}'")
        image_id = _int(im, "id", where)
        if image_id in images:
            raise DatasetError(f"{where}: image id {image_id} appears twice")
        height, width = check_image_size(im["height"], im["width"], where)
        image_split = im.get("split", "train")
        if not isinstance(image_split, str):
            raise DatasetError(f"{where}: 'split' must be a string, got {type(image_split).__name__}")
        images[image_id] = {
            "id": image_id, "width": width, "height": height, "split": image_split,
            "path": str(path_inside(img_dir, im["file_name"], where, allow_outside)),
            "no_target": _strings(im.get("no_target_expressions", []), where, "no_target_expressions")}
    samples, want = [], (lambda im: split is None or im["split"] == split)
    for i, a in enumerate(data["annotations"]):
        where = f"{path}: annotations[{i}]"
        if not isinstance(a, dict) or "image_id" not in a or "segmentation" not in a or "id" not in a:
            raise DatasetError(f"{where}: needs 'id', 'image_id' and 'segmentation'")
        ann_id, image_id = _int(a, "id", where), _int(a, "image_id", where)
        im = images.get(image_id)
        if im is None:
            raise DatasetError(f"{where}: image_id {image_id} is not in 'images'")
        category_id = a.get("category_id")
        if category_id is not None and (not isinstance(category_id, int) or isinstance(category_id, bool)):
            raise DatasetError(f"{where}: 'category_id' must be an integer, got {type(category_id).__name__}")
        exprs = _strings(a.get("expressions", []), where, "expressions")
        if exprs and want(im):
            check_segmentation(a["segmentation"], im["height"], im["width"], where)
            samples.append(RefSample(
                image_path=im["path"], image_id=image_id, width=im["width"], height=im["height"],
                sentences=exprs, ann_ids=[ann_id], segmentations=[a["segmentation"]], ref_id=ann_id,
                split=im["split"], categories=[cats.get(category_id, "")]))
    for im in images.values():
        if im["no_target"] and want(im):
            samples.append(RefSample(
                image_path=im["path"], image_id=im["id"], width=im["width"], height=im["height"],
                sentences=im["no_target"], ann_ids=[], segmentations=[], ref_id=-im["id"],
                split=im["split"]))
    return samples


def annotation_mask(ann: dict, image: dict) -> np.ndarray:
    """Decode one annotation of a loaded COCO dict to ``uint8 [H, W]``."""
    return segmentation_to_mask(ann["segmentation"], image["height"], image["width"],
                                where=f"annotation {ann.get('id')}")
