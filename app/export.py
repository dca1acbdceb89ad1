"""Exports of a project (Qt-free): COCO with expressions, one PNG per mask, alpha cut-outs.

COCO goes through :mod:`rismodel.data.coco_refs` (the one COCO writer of the project, so what the
app exports is exactly what ``rismodel train --set data.format=coco`` reads). The app only maps its
stable ids onto that file: image ids and category ids are pinned to the project's, and annotation
ids are replaced by the project's annotation ids (coco_refs numbers them 1.. in order, which would
renumber everything after a deletion).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
from PIL import Image

from rismodel.data import coco_refs
from rismodel.fileio import atomic_write_bytes
from rismodel.imageio import ImageLoadError

from .project import Project


def build_project_coco(project: Project, polygons: bool = False) -> tuple[dict, list[str]]:
    """The COCO dict of every image of the project, and the images that had to be skipped (why)."""
    entries, ann_ids, skipped = [], [], []
    used = {a.label for _, a in project.all_annotations()}
    for e in sorted(project.images, key=lambda e: e.key):
        try:
            w, h = e.upright_size()
        except (ImageLoadError, OSError) as err:
            skipped.append(f"{e.key}: {err}")
            continue
        anns = project.annotations(e.key)
        entries.append(coco_refs.ImageEntry(
            file_name=e.key, width=w, height=h, image_id=e.id,
            objects=[coco_refs.ObjectEntry(a.label, a.mask, list(a.expressions)) for a in anns]))
        ann_ids.extend(a.id for a in anns)
    data = coco_refs.build_coco(entries, polygons=polygons,
                                category_ids={k: v for k, v in project.categories.items() if k in used})
    for ann, stable in zip(data["annotations"], ann_ids):  # same order: images by name, then objects
        ann["id"] = int(stable)
    return data, skipped


def export_coco(project: Project, path: str | Path, polygons: bool = False) -> list[str]:
    """Write the COCO file atomically; returns the skipped images (unreadable files)."""
    data, skipped = build_project_coco(project, polygons)
    coco_refs.save_coco(path, data)
    return skipped


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "mask"


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


def cutout_rgba(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``[H, W, 4]`` uint8: the image where the mask is, transparent elsewhere."""
    if image.shape[:2] != mask.shape:
        raise ValueError(f"mask {mask.shape} does not match image {image.shape[:2]}")
    return np.dstack([image, np.where(mask, 255, 0).astype(np.uint8)])


def save_cutout(image: np.ndarray, mask: np.ndarray, path: str | Path) -> None:
    atomic_write_bytes(path, png_bytes(cutout_rgba(image, mask)))
