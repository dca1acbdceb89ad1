"""Import a COCO file (RLE or polygons, with or without expressions) into a project for review.

In particular what ``rismodel annotate`` writes (COCO with ``expressions``; its category is the
label or the expression). The file is read with ``rismodel.data.refer.load_instances`` (the
project's COCO instances reader: types of every field checked) and masks are decoded with
``rismodel.data.coco_refs.annotation_mask``, which checks first what would crash or exhaust
pycocotools (polygon coordinates finite and near the image, RLE counts covering the mask exactly). Each COCO image is matched to the project image with the same relative path
(``file_name`` may not leave the folder), else by its file name alone when that is unique.
Imported objects arrive "to review" (with ``score`` when the file has one) as one undo step; an
object already in the project (same label, same mask) is not added twice.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from rismodel.data.coco_refs import annotation_mask
from rismodel.data.refer import DatasetError, load_instances

from . import rle as rlemod
from . import schema
from .errors import ProjectError
from .model import ACCEPTED, TO_REVIEW, Project


@dataclass
class ImportReport:
    added: int = 0
    images: int = 0  # project images that received annotations
    skipped: list[str] = field(default_factory=list)  # "what: why", one per skipped image/object
    keys: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"imported {self.added} annotation(s) on {self.images} image(s)"
        return text + (f"; skipped {len(self.skipped)}: " + "; ".join(self.skipped[:5]) +
                       (" ..." if len(self.skipped) > 5 else "") if self.skipped else "")


def import_coco(project: Project, path: str | os.PathLike, review: bool = True) -> ImportReport:
    """Add the COCO file's objects to the project's images (one undo step); see the module doc.

    Raises :class:`ProjectError` for a file that cannot be read at all; objects that cannot be
    used (unknown image, size mismatch, bad segmentation, empty mask) are skipped and reported.
    """
    path = Path(path)
    try:
        images, anns, cats = load_instances(path)
    except DatasetError as e:
        raise ProjectError(f"cannot import {path}: {e}") from None
    except RecursionError:
        raise ProjectError(f"cannot import {path}: it is nested too deeply") from None
    by_name: dict[str, list[str]] = {}
    for e in project.images:
        by_name.setdefault(e.key.rsplit("/", 1)[-1], []).append(e.key)
    report, items, matched = ImportReport(), [], {}
    for iid, im in images.items():
        name = im["file_name"]
        try:
            key = schema.check_key(name.replace("\\", "/"), "file_name")
        except schema.Invalid:
            key = None
        if key is None or project.entry(key) is None:
            cands = by_name.get(name.replace("\\", "/").rsplit("/", 1)[-1], [])
            key = cands[0] if len(cands) == 1 and (key is not None) else None
        if key is None:
            report.skipped.append(f"{name}: not an image of this project (or outside its folder)")
            continue
        entry = project.entry(key)
        try:
            w, h = entry.upright_size()
        except (OSError, ValueError) as err:
            report.skipped.append(f"{name}: {err}")
            continue
        if (im["width"], im["height"]) != (w, h):
            report.skipped.append(f"{name}: the file says {im['width']}x{im['height']}, the image is {w}x{h}")
            continue
        matched[iid] = (key, w, h)
    for aid, a in anns.items():
        where = f"annotation {aid}"
        if a["image_id"] not in matched:
            if a["image_id"] not in images:
                report.skipped.append(f"{where}: image_id {a['image_id']} is not in 'images'")
            continue
        key, w, h = matched[a["image_id"]]
        problem = None
        label = cats.get(a.get("category_id"))
        exprs = a.get("expressions", [])
        if not isinstance(exprs, list) or not all(isinstance(s, str) for s in exprs):
            problem = problem or "'expressions' must be a list of strings"
        score = a.get("score")
        if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))
                                  or not math.isfinite(score)):
            problem = problem or "'score' must be a finite number"
        if not isinstance(label, str) or not schema.normalise_label(label):
            label = (exprs[-1].split() or ["object"])[-1] if exprs and isinstance(exprs[-1], str) else "object"
        if problem:
            report.skipped.append(f"{where} on {key}: {problem}")
            continue
        try:  # checks the segmentation before pycocotools sees it (rismodel.data.masks)
            mask = annotation_mask(a, images[a["image_id"]]) > 0
        except (DatasetError, ValueError, TypeError, OverflowError, MemoryError) as err:
            report.skipped.append(f"{where} on {key}: {err}")
            continue
        if not mask.any():
            report.skipped.append(f"{where} on {key}: empty mask")
            continue
        counts = rlemod.encode(mask)["counts"]
        if any(a.label == schema.normalise_label(label) and a._rle["counts"] == counts
               for a in [*project.annotations(key), *(x for k, x in items if k == key)]):
            report.skipped.append(f"{where} on {key}: already in the project (same label and mask)")
            continue
        try:
            ann = project.new_annotation(key, label, exprs, mask, source="import",
                                         review=TO_REVIEW if review else ACCEPTED, score=score)
        except ProjectError as err:
            report.skipped.append(f"{where} on {key}: {err}")
            continue
        items.append((key, ann))
    project.add_many(items, f"import {path.name}")
    report.added = len(items)
    report.keys = list(dict.fromkeys(k for k, _ in items))
    report.images = len(report.keys)
    return report
