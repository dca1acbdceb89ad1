"""The project: images of one folder, their annotations, undo history and autosave (Qt-free).

A project lives in ``ris-studio.project.json`` next to the images. Every change goes through the
undo stack and is written at once with an atomic write (temporary file + rename), so a crash or a
kill loses at most the edit that was being written, never the file. Masks are stored as exact COCO
RLE (pycocotools), encoded once per mask change and cached.

Ids are stable: an image keeps the id it got when it first entered the project, a label keeps its
category id, an annotation keeps its id; none is ever reused, so COCO exports of the same project
at different times agree.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rismodel.data.masks import mask_to_rle, segmentation_to_mask
from rismodel.fileio import atomic_write_json
from rismodel.imageio import ImageLoadError, image_size_upright

from . import undo

PROJECT_FILE = "ris-studio.project.json"
FORMAT = "ris-studio-project"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"}
PALETTE = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180),
           (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128)]


class ProjectError(RuntimeError):
    """A project file or image list the app cannot use; the message says why."""


@dataclass
class Annotation:
    id: int
    label: str
    expressions: list[str]
    mask: np.ndarray  # bool [H, W] at the upright image size
    color: tuple[int, int, int]
    visible: bool = True
    source: str = "manual"  # manual | batch
    _rle: dict | None = field(default=None, repr=False, compare=False)

    def rle(self) -> dict:
        if self._rle is None:
            self._rle = mask_to_rle(self.mask)
        return self._rle


@dataclass
class ImageEntry:
    key: str  # path relative to the project folder, with forward slashes
    path: Path
    id: int
    size: tuple[int, int] | None = None  # (width, height) upright; None until read

    def upright_size(self) -> tuple[int, int]:
        if self.size is None:
            self.size = image_size_upright(self.path)
        return self.size


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not p.name.startswith("."))


class Project:
    """Images, annotations and history. Listeners get ``(event, image_key)`` after every change."""

    def __init__(self, folder: Path, autosave: bool = True):
        self.folder = Path(folder)
        self.file = self.folder / PROJECT_FILE
        self.autosave = autosave
        self.images: list[ImageEntry] = []
        self._anns: dict[str, list[Annotation]] = {}
        self.categories: dict[str, int] = {}
        self._next_ann = 1
        self._next_image = 1
        self.history = undo.UndoStack()
        self.listeners: list[Callable[[str, str], None]] = []
        self.error_listeners: list[Callable[[str], None]] = []

    # ----- opening --------------------------------------------------------------------------
    @classmethod
    def open(cls, paths: list[str | os.PathLike], autosave: bool = True) -> Project:
        """A folder (its images) or image files (their common folder); restores a saved project."""
        paths = [Path(p).resolve() for p in paths]
        if not paths:
            raise ProjectError("nothing to open")
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise ProjectError(f"not found: {', '.join(missing)}")
        files: list[Path] = []
        for p in paths:
            files.extend(list_images(p) if p.is_dir() else [p])
        folder = paths[0] if len(paths) == 1 and paths[0].is_dir() else \
            Path(os.path.commonpath([str(f.parent) for f in files] or [str(paths[0])]))
        project = cls(folder, autosave)
        if project.file.exists():
            project._load()
        for f in files:
            project.add_image(f)
        project.images.sort(key=lambda e: e.key)
        return project

    def add_image(self, path: Path) -> ImageEntry:
        path = Path(path).resolve()
        key = Path(os.path.relpath(path, self.folder)).as_posix()
        entry = self.entry(key)
        if entry is None:
            entry = ImageEntry(key, path, self._next_image)
            self._next_image += 1
            self.images.append(entry)
            self._anns.setdefault(key, [])
        return entry

    def entry(self, key: str) -> ImageEntry | None:
        return next((e for e in self.images if e.key == key), None)

    # ----- queries --------------------------------------------------------------------------
    def annotations(self, key: str) -> list[Annotation]:
        return self._anns.get(key, [])

    def get(self, key: str, ann_id: int) -> Annotation:
        for a in self._anns.get(key, []):
            if a.id == ann_id:
                return a
        raise KeyError(f"no annotation {ann_id} on {key}")

    def count(self, key: str) -> int:
        return len(self._anns.get(key, []))

    def labels(self) -> list[str]:
        return sorted({a.label for anns in self._anns.values() for a in anns} | set(self.categories))

    def category_id(self, label: str) -> int:
        if label not in self.categories:
            self.categories[label] = max(self.categories.values(), default=0) + 1
        return self.categories[label]

    # ----- edits (all undoable) -------------------------------------------------------------
    def new_annotation(self, key: str, label: str, expression: str, mask: np.ndarray,
                       color: tuple[int, int, int] | None = None, source: str = "manual") -> Annotation:
        """An annotation with a fresh id (not yet in the project: pass it to :meth:`add`)."""
        label = " ".join(label.split())
        if not label:
            raise ProjectError("a label cannot be empty")
        mask = np.asarray(mask, dtype=bool)
        w, h = self.entry(key).upright_size()
        if mask.shape != (h, w):
            raise ProjectError(f"mask is {mask.shape[1]}x{mask.shape[0]} but {key} is {w}x{h}")
        color = color or PALETTE[(self._next_ann - 1) % len(PALETTE)]
        ann = Annotation(self._next_ann, label, [expression] if expression else [], mask, tuple(color),
                         source=source)
        self._next_ann += 1
        self.category_id(label)
        return ann

    def add(self, key: str, label: str, expression: str, mask: np.ndarray, **kw) -> Annotation:
        ann = self.new_annotation(key, label, expression, mask, **kw)
        self._push(undo.AddAnnotations(key, [ann]))
        return ann

    def add_many(self, items: list[tuple[str, Annotation]], text: str = "batch") -> None:
        """Several (image key, annotation) pairs as one undo step."""
        if items:
            self._push(undo.Macro([undo.AddAnnotations(k, [a]) for k, a in items], text, items[0][0]))

    def remove(self, key: str, ann_id: int) -> None:
        self._push(undo.RemoveAnnotation(key, self.get(key, ann_id)))

    def set_field(self, key: str, ann_id: int, name: str, value) -> None:
        if name not in ("label", "color", "visible", "expressions"):
            raise ProjectError(f"cannot set {name!r}")
        if name == "label":
            value = " ".join(str(value).split())
            if not value:
                raise ProjectError("a label cannot be empty")
            self.category_id(value)
        old = getattr(self.get(key, ann_id), name)
        if old != value:
            self._push(undo.SetField(key, ann_id, name, old, value, f"set {name}"))

    def edit_mask(self, key: str, ann_id: int, new_mask: np.ndarray, text: str = "brush") -> bool:
        cmd = undo.EditMask.between(key, ann_id, self.get(key, ann_id).mask, np.asarray(new_mask, bool), text)
        if cmd is not None:
            self._push(cmd)
        return cmd is not None

    def undo(self) -> str | None:
        cmd = self.history.undo(self)
        return self._after(cmd, "undo")

    def redo(self) -> str | None:
        cmd = self.history.redo(self)
        return self._after(cmd, "redo")

    def _push(self, cmd: undo.Command) -> None:
        self.history.push(cmd, self)
        self._after(cmd, "edit")

    def _after(self, cmd, event) -> str | None:
        if cmd is None:
            return None
        self.save_soon()
        for fn in list(self.listeners):
            fn(event, cmd.image)
        return cmd.image

    # primitive mutations, called by the undo commands only
    def _insert(self, key, anns, index=None):
        lst = self._anns.setdefault(key, [])
        at = len(lst) if index is None or index < 0 else index
        lst[at:at] = anns

    def _remove(self, key, ids):
        self._anns[key] = [a for a in self._anns[key] if a.id not in set(ids)]

    def _set_field(self, key, ann_id, name, value):
        ann = self.get(key, ann_id)
        setattr(ann, name, value)
        if name == "mask":
            ann._rle = None

    # ----- persistence ----------------------------------------------------------------------
    def save_soon(self) -> None:
        if self.autosave:
            try:
                self.save()
            except OSError as e:  # an unwritable folder must not stop the user from working
                for fn in list(self.error_listeners):
                    fn(f"Autosave failed: {e}. Your edits are kept in memory; export or move the "
                       "images to a writable folder.")

    def to_json(self) -> dict:
        images = []
        for e in self.images:
            anns = self._anns.get(e.key, [])
            if not anns and e.size is None:
                size = None
            else:
                size = list(e.upright_size())
            images.append({"id": e.id, "file": e.key, "size": size, "annotations": [
                {"id": a.id, "label": a.label, "expressions": a.expressions, "color": list(a.color),
                 "visible": a.visible, "source": a.source, "rle": a.rle()} for a in anns]})
        return {"format": FORMAT, "version": 1, "next_annotation_id": self._next_ann,
                "next_image_id": self._next_image, "categories": self.categories, "images": images}

    def save(self) -> None:
        atomic_write_json(self.file, self.to_json())

    def _load(self) -> None:
        import json

        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT:
                raise ProjectError(f"{self.file} is not a RIS Studio project file")
            self.categories = {str(k): int(v) for k, v in data.get("categories", {}).items()}
            self._next_ann = int(data["next_annotation_id"])
            self._next_image = int(data["next_image_id"])
            for im in data["images"]:
                path = (self.folder / im["file"]).resolve()
                if not path.exists():
                    continue  # the image was moved away: its annotations stay in the file's history only
                entry = ImageEntry(im["file"], path, int(im["id"]),
                                   tuple(im["size"]) if im.get("size") else None)
                self.images.append(entry)
                anns = self._anns.setdefault(entry.key, [])
                for a in im["annotations"]:
                    w, h = entry.upright_size()
                    mask = segmentation_to_mask(a["rle"], h, w, where=f"{entry.key} annotation {a['id']}")
                    anns.append(Annotation(int(a["id"]), a["label"], list(a["expressions"]), mask.astype(bool),
                                           tuple(a["color"]), bool(a.get("visible", True)),
                                           a.get("source", "manual"), a["rle"]))
        except ProjectError:
            raise
        except (OSError, ValueError, KeyError, TypeError, ImageLoadError) as e:
            raise ProjectError(f"cannot read the project file {self.file}: {e}") from e
        self.images.sort(key=lambda e: e.key)

    def all_annotations(self):
        """``(ImageEntry, Annotation)`` pairs in image order."""
        return itertools.chain.from_iterable(((e, a) for a in self._anns.get(e.key, [])) for e in self.images)
