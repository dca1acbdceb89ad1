"""Batch annotation: run referring expressions over many images and write COCO with expressions.

Every expression is run on every image; each non-empty predicted mask becomes one COCO object
whose ``expressions`` hold the text, written through :mod:`rismodel.data.coco_refs` (compressed
RLE, stable ids: images by file name, categories by name, annotations in image order). An empty
mask (nothing over the threshold, or LQMFormer's no-object head saying "nothing") is not written
and is reported; an unreadable image is reported on stderr and skipped, never the end of the run.

Under ``torchrun`` (``WORLD_SIZE`` > 1; NCCL on CUDA, Gloo on CPU) rank r takes the images i with
i % world == r, writes its share as a part file next to the output, and rank 0 merges the parts
into one file with the same ids a single process would give, then deletes them. torchrun starts
the processes; nothing here manages them. The parts are read back from the output folder, so all
ranks must see the same file system (one machine, ``torchrun --standalone``).

Masks are held as compressed RLE between prediction and writing, so a large run's memory grows
with the masks' outlines, not with their pixel counts.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rismodel.data.coco_refs import ImageEntry, ObjectEntry, build_coco, save_coco
from rismodel.data.masks import mask_to_rle, segmentation_to_mask
from rismodel.imageio import ImageLoadError, load_image

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm"}


class AnnotateError(ValueError):
    """Nothing can be annotated (no images, no expressions); the message says why."""


class RLEMask:
    """A mask kept as compressed RLE; numpy (and so ``build_coco``) decodes it on demand."""

    def __init__(self, rle: dict):
        self.rle = rle
        self.shape = (int(rle["size"][0]), int(rle["size"][1]))

    @classmethod
    def from_mask(cls, mask: np.ndarray) -> RLEMask:
        return cls(mask_to_rle(mask))

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        m = segmentation_to_mask(self.rle, *self.shape)
        return m if dtype is None else m.astype(dtype)


@dataclass
class Report:
    images: int = 0  # images annotated (readable)
    masks: int = 0  # objects written
    skipped_images: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    empty: list[tuple[str, str]] = field(default_factory=list)  # (file name, expression)

    def to_dict(self) -> dict:
        return {"images": self.images, "masks": self.masks, "skipped_images": [list(x) for x in self.skipped_images],
                "empty": [list(x) for x in self.empty]}

    def merge(self, d: dict) -> None:
        self.images += d["images"]
        self.masks += d["masks"]
        self.skipped_images += [tuple(x) for x in d["skipped_images"]]
        self.empty += [tuple(x) for x in d["empty"]]


def find_images(inputs: list[str | os.PathLike]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Folders are searched recursively for image files; files are taken as given.

    Returns (images sorted and de-duplicated, [(path, reason)] for inputs that do not exist).
    """
    found, missing = set(), []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found.update(f.resolve() for f in p.rglob("*") if f.is_file()
                         and f.suffix.lower() in IMAGE_EXTENSIONS and not f.name.startswith("."))
        elif p.is_file():
            found.add(p.resolve())
        else:
            missing.append((str(p), "no such file or folder"))
    return sorted(found), missing


def images_root(images: list[Path]) -> Path:
    """The deepest folder holding every image: COCO file names are relative to it."""
    return Path(os.path.commonpath([str(p.parent) for p in images]))


def annotate(predictor, images: list[Path], texts: list[str], root: Path, threshold: float = 0.5,
             label: str | None = None, progress: bool = True, log=None
             ) -> tuple[list[ImageEntry], Report]:
    """Run every text on every image -> (COCO image entries, report). ``label`` names every
    object's category; by default the category is the expression itself."""
    log = log or sys.stderr
    entries, report = [], Report()
    with tqdm(total=len(images) * len(texts), file=sys.stderr, disable=not progress,
              unit="mask", desc="annotating", dynamic_ncols=True) as bar:
        for path in images:
            name = path.relative_to(root).as_posix()
            try:
                rgb = load_image(path)  # upright [H, W, 3] uint8
            except ImageLoadError as e:
                report.skipped_images.append((str(path), e.reason))
                tqdm.write(f"skipping {path}: {e.reason}", file=log)
                bar.update(len(texts))
                continue
            predictor.set_image(rgb)
            h, w = rgb.shape[:2]
            entry = ImageEntry(file_name=name, width=w, height=h)
            for text in texts:
                pred = predictor.predict(text, threshold=threshold)
                if pred.mask.any():
                    entry.objects.append(ObjectEntry(label or text, RLEMask.from_mask(pred.mask), [text]))
                    report.masks += 1
                else:
                    report.empty.append((name, text))
                    tqdm.write(f"no mask: {name}: {text!r} (target score {pred.score:.2f})", file=log)
                bar.update(1)
            entries.append(entry)
            report.images += 1
    return entries, report


def part_path(out: Path, rank: int, world: int) -> Path:
    return out.with_name(f".{out.name}.part{rank}of{world}.json")


def entries_from_coco(data: dict) -> list[ImageEntry]:
    """Inverse of build_coco for our own files: image entries with RLE-backed objects."""
    cats = {c["id"]: c["name"] for c in data["categories"]}
    by_image: dict[int, ImageEntry] = {}
    for im in data["images"]:
        by_image[im["id"]] = ImageEntry(im["file_name"], im["width"], im["height"])
    for a in data["annotations"]:
        by_image[a["image_id"]].objects.append(
            ObjectEntry(cats[a["category_id"]], RLEMask(a["segmentation"]), list(a["expressions"])))
    return list(by_image.values())


def merge_parts(parts: list[Path], info: dict) -> tuple[dict, Report]:
    """Read the ranks' part files -> one COCO dict with fresh stable ids, and the summed report."""
    entries, report = [], Report()
    for p in parts:
        data = json.loads(p.read_text(encoding="utf-8"))
        entries += entries_from_coco(data)
        report.merge(data["info"]["report"])
    return build_coco(entries, info=info), report


def run(predictor_factory, inputs: list[str], texts: list[str], out: str | os.PathLike,
        threshold: float = 0.5, device: str = "auto", label: str | None = None,
        progress: bool = True, log=None) -> Report | None:
    """The whole command, single-process or under torchrun. Returns the report on rank 0 (the
    one that writes ``out``), None on the other ranks.

    ``predictor_factory(device)`` builds the predictor after the process group is set up, so
    each rank loads its model on its own device.
    """
    from rismodel.training.distributed import barrier, cleanup, setup

    log = log or sys.stderr
    texts = [" ".join(t.split()) for t in texts]
    if not any(texts):
        raise AnnotateError("give at least one non-empty --text")
    texts = list(dict.fromkeys(t for t in texts if t))
    out = Path(out)
    ctx = setup(device)
    try:
        images, missing = find_images(inputs)
        if ctx.is_main:
            for path, reason in missing:
                print(f"skipping {path}: {reason}", file=log)
        if not images:
            raise AnnotateError("no images found in: " + ", ".join(map(str, inputs)))
        root = images_root(images)
        # setup() made this rank's GPU the current one, so plain "cuda" lands on it.
        predictor = predictor_factory(ctx.device.type if ctx.distributed else device)
        mine = images[ctx.rank::ctx.world_size]  # image i goes to rank i % world
        entries, report = annotate(predictor, mine, texts, root, threshold, label,
                                   progress=progress and ctx.is_main, log=log)
        if ctx.is_main:
            report.skipped_images = missing + report.skipped_images
        info = {"description": "rismodel annotate: masks predicted from referring expressions",
                "model": getattr(predictor, "name", None), "threshold": threshold,
                "images_root": str(root), "expressions": texts}
        if not ctx.distributed:
            save_coco(out, build_coco(entries, info=info))
            return report
        save_coco(part_path(out, ctx.rank, ctx.world_size),
                  build_coco(entries, info={"report": report.to_dict()}))
        barrier(ctx)  # every part is on disk
        result = None
        if ctx.is_main:
            parts = [part_path(out, r, ctx.world_size) for r in range(ctx.world_size)]
            data, result = merge_parts(parts, info)
            save_coco(out, data)
            for p in parts:
                p.unlink()
        barrier(ctx)  # nobody leaves before the merged file exists
        return result
    finally:
        cleanup(ctx)
