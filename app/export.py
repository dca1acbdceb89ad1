"""Exports of a project (Qt-free): COCO with expressions, labelme JSON per image, YOLO
segmentation labels, one PNG per mask, alpha cut-outs (whole image or cropped to the object).

COCO goes through :mod:`rismodel.data.coco_refs` (the one COCO writer of the project, so what the
app exports is exactly what ``rismodel train --set data.format=coco`` reads), one image at a time
so that only one image's masks are ever decoded. The app only maps its stable ids onto that file:
image ids and category ids are pinned to the project's, and annotation ids are replaced by the
project's annotation ids (coco_refs numbers them 1.. in order, which would renumber everything
after a deletion). Only labels in use become categories / classes.

Every export skips, with a reason, the images it cannot write: missing files, unreadable images,
names that are not UTF-8 (COCO, labelme and YOLO files are UTF-8 text and cannot hold them).
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
from PIL import Image

from rismodel.data import coco_refs
from rismodel.data.masks import mask_to_polygons
from rismodel.fileio import atomic_write_bytes, atomic_write_text
from rismodel.imageio import ImageLoadError
from rismodel.refine import crop_box

from .project import Annotation, Project

LABELME_VERSION = "5.5.0"


def _exportable(project: Project, reviewed_only: bool):
    """(entry, annotations) per image that can be exported, and the skipped ones (why)."""
    out, skipped = [], []
    for e in sorted(project.images, key=lambda e: e.key):
        anns = [a for a in project.annotations(e.key) if not (reviewed_only and a.review != "accepted")]
        if not e.utf8_name:
            skipped.append(f"{e.display_name}: the file name is not valid UTF-8; rename the file to export it")
            continue
        if e.missing:
            if anns:
                skipped.append(f"{e.key}: the image file is missing")
            continue
        try:
            e.upright_size()
        except (ImageLoadError, OSError) as err:
            skipped.append(f"{e.key}: {err}")
            continue
        out.append((e, anns))
    return out, skipped


def build_project_coco(project: Project, polygons: bool = False,
                       reviewed_only: bool = False) -> tuple[dict, list[str]]:
    """The COCO dict of every image of the project, and the images that had to be skipped (why).

    ``reviewed_only``: leave out batch results still "to review"."""
    todo, skipped = _exportable(project, reviewed_only)
    used = {a.label for _, anns in todo for a in anns}
    cats = {k: v for k, v in project.categories.items() if k in used}
    images, annotations = [], []
    for e, anns in todo:
        w, h = e.upright_size()
        part = coco_refs.build_coco([coco_refs.ImageEntry(
            file_name=e.key, width=w, height=h, image_id=e.id,
            objects=[coco_refs.ObjectEntry(a.label, a.mask, list(a.expressions)) for a in anns])],
            polygons=polygons, category_ids=cats)
        for ann, a in zip(part["annotations"], anns):  # same order: the image's objects
            ann["id"] = int(a.id)
        images += part["images"]
        annotations += part["annotations"]
    data = coco_refs.build_coco([], category_ids=cats)
    data["images"], data["annotations"] = images, annotations
    return data, skipped


def export_coco(project: Project, path: str | Path, polygons: bool = False, reviewed_only: bool = False) -> list[str]:
    """Write the COCO file atomically; returns the skipped images (unreadable files)."""
    data, skipped = build_project_coco(project, polygons, reviewed_only)
    coco_refs.save_coco(path, data)
    return skipped


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_.") or "mask"


def png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def export_mask_pngs(project: Project, folder: str | Path) -> list[Path]:
    """One 8-bit PNG per annotation (255 inside, 0 outside), named ``<image>_<id>_<label>.png``."""
    folder = Path(folder)
    written = []
    for e, a in project.all_annotations():
        path = folder / f"{_safe(Path(e.key).stem)}_{a.id}_{_safe(a.label)}.png"
        atomic_write_bytes(path, png_bytes(a.mask.astype(np.uint8) * 255))
        written.append(path)
    return written


def cutout_rgba(image: np.ndarray, mask: np.ndarray, crop: bool = False, margin: int = 0) -> np.ndarray:
    """``[H, W, 4]`` uint8: the image where the mask is, transparent elsewhere.

    ``crop``: only the object's bounding box (grown by ``margin`` pixels)."""
    if image.shape[:2] != mask.shape:
        raise ValueError(f"mask {mask.shape} does not match image {image.shape[:2]}")
    if crop:
        box = crop_box(mask, margin)
        if box is None:
            raise ValueError("the mask is empty: nothing to cut out")
        y0, y1, x0, x1 = box
        image, mask = image[y0:y1, x0:x1], mask[y0:y1, x0:x1]
    return np.dstack([image, np.where(mask, 255, 0).astype(np.uint8)])


def save_cutout(image: np.ndarray, mask: np.ndarray, path: str | Path, crop: bool = False, margin: int = 0) -> None:
    atomic_write_bytes(path, png_bytes(cutout_rgba(image, mask, crop, margin)))


# ----- labelme ------------------------------------------------------------------------------
def _labelme_shape(a: Annotation, shapes: str) -> list[dict]:
    mask = a.mask
    common = {"label": a.label, "group_id": None, "description": "\n".join(a.expressions),
              "flags": {}, "expressions": list(a.expressions)}
    if shapes == "polygon":
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        out = []
        for c in contours:
            pts = c.reshape(-1, 2).astype(float)
            if len(pts) >= 3:
                out.append({**common, "points": pts.tolist(), "shape_type": "polygon", "mask": None})
        return out
    box = crop_box(mask)
    if box is None:
        return []
    y0, y1, x0, x1 = box
    crop = (mask[y0:y1, x0:x1].astype(np.uint8) * 255)
    # labelme 5.3+ "mask" shapes: points are the inclusive box corners, mask a PNG of the box.
    return [{**common, "points": [[float(x0), float(y0)], [float(x1 - 1), float(y1 - 1)]], "shape_type": "mask",
             "mask": base64.b64encode(png_bytes(crop)).decode("ascii")}]


def export_labelme(project: Project, folder: str | Path | None = None, shapes: str = "mask",
                   reviewed_only: bool = False) -> tuple[list[Path], list[str]]:
    """One labelme JSON per annotated image, ``<folder>/<image path>.json`` (default: beside the image).

    ``shapes="mask"`` (exact: labelme 5.3+ mask shapes, a PNG of the object's box) or
    ``"polygon"`` (outer contours through pixel centres, as labelme draws them; holes are lost).
    Expressions go in each shape's ``description`` (one per line) and ``expressions``.
    Returns (files written, images skipped with why)."""
    if shapes not in ("mask", "polygon"):
        raise ValueError("shapes must be 'mask' or 'polygon'")
    root = Path(folder) if folder is not None else project.folder
    todo, skipped = _exportable(project, reviewed_only)
    written = []
    for e, anns in todo:
        if not anns:
            continue
        w, h = e.upright_size()
        out = root / PurePosixPath(e.key).with_suffix(".json")
        doc = {"version": LABELME_VERSION, "flags": {},
               "shapes": [s for a in anns for s in _labelme_shape(a, shapes)],
               "imagePath": Path(os.path.relpath(e.path, out.parent)).as_posix(), "imageData": None,
               "imageHeight": h, "imageWidth": w}
        atomic_write_text(out, json.dumps(doc, ensure_ascii=False, indent=2))
        written.append(out)
    return written, skipped


# ----- YOLO segmentation --------------------------------------------------------------------
def _yolo_polygons(mask: np.ndarray) -> list[np.ndarray]:
    """Polygons in pixel-corner coordinates: exact when the mask has no hole (COCO rasteriser),
    else the outer contours (YOLO segmentation cannot hold holes: they are filled)."""
    polys = mask_to_polygons(mask)
    if polys is None and mask.any():  # holes: trace the filled outer boundary exactly
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        filled = np.zeros(mask.shape, np.uint8)
        cv2.drawContours(filled, contours, -1, 1, thickness=-1)
        polys = mask_to_polygons(filled)
        if polys is None:  # pragma: no cover - traced polygons always decode back; centres as a last resort
            return [c.reshape(-1, 2).astype(float) + 0.5 for c in contours if len(c) >= 3]
    return [np.asarray(p, float).reshape(-1, 2) for p in polys or []]


def export_yolo(project: Project, folder: str | Path, reviewed_only: bool = False, link_images: bool = True
                ) -> tuple[list[Path], list[str]]:
    """YOLO segmentation labels: ``<folder>/labels/<image path>.txt`` with one line per object part
    ``class x1 y1 x2 y2 ...`` (normalised to 0..1), ``classes.txt`` and ``data.yaml`` (class
    names; only labels in use, in category-id order). ``link_images``: symbolic links
    ``<folder>/images/<image path>`` to the photos, the layout YOLO trainers expect (where links
    cannot be made, copy the images there). Returns (files written, images skipped)."""
    import yaml

    folder = Path(folder)
    todo, skipped = _exportable(project, reviewed_only)
    used = {a.label for _, anns in todo for a in anns}
    names = sorted(used, key=lambda lab: project.categories.get(lab, 0))
    index = {n: i for i, n in enumerate(names)}
    written = []
    for e, anns in todo:
        w, h = e.upright_size()
        lines = []
        for a in anns:
            for poly in _yolo_polygons(a.mask):
                xy = np.clip(poly / [w, h], 0.0, 1.0).reshape(-1)
                lines.append(" ".join([str(index[a.label]), *(f"{v:.6f}" for v in xy)]))
        out = folder / "labels" / PurePosixPath(e.key).with_suffix(".txt")
        atomic_write_text(out, "".join(line + "\n" for line in lines))
        written.append(out)
        link = folder / "images" / PurePosixPath(e.key)
        if link_images and not os.path.lexists(link):
            try:
                link.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(os.path.abspath(e.path), link)
            except OSError as err:
                skipped.append(f"{e.key}: no link in {folder / 'images'} ({err.strerror or err}); copy the image there")
    atomic_write_text(folder / "classes.txt", "".join(n + "\n" for n in names))
    atomic_write_text(folder / "data.yaml", yaml.safe_dump(
        {"path": os.fsdecode(folder.resolve()), "train": "images", "val": "images",
         "names": dict(enumerate(names))}, allow_unicode=True, sort_keys=False))
    written += [folder / "classes.txt", folder / "data.yaml"]
    return written, skipped
