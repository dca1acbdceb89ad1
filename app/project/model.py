"""The project: images of one folder, their annotations, undo history and autosave (Qt-free).

A project lives in ``ris-studio.project.json`` next to the images (schema: :mod:`.schema`).
Every change goes through the undo stack and is written at once with an atomic write
(``rismodel.fileio``), so a crash or a kill loses at most the edit being written, never the file.

- Masks are held as exact COCO RLE (pycocotools) and decoded on demand through a small LRU
  (:mod:`.rle`): a project of thousands of 12-megapixel photos opens without decoding anything.
- Ids are stable: an image keeps the id it got when it first entered the project, a label keeps
  its category id, an annotation keeps its id; none is ever reused.
- Images listed in the file but missing on disk stay in the project (``entry.missing``) with their
  annotations untouched, and are written back as they were; they come back when the file does.
- The file is never overwritten blindly: a file that cannot be read is refused (or, with
  ``recover=True``, copied to a timestamped backup first); a file changed on disk since we loaded
  or saved it raises :class:`ProjectChangedError` on save; ``save(force=True)`` backs it up first.
- ``lock=True`` takes a lock file (:mod:`.lock`) so that a second instance is detected.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import stat
import sys
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rismodel.imageio import ImageLoadError, image_size_upright

from .. import undo
from . import rle as rlemod
from . import schema
from .errors import (
    ProjectChangedError,
    ProjectError,
    ProjectFileError,
    ProjectLockedError,
    ProjectReadOnlyError,
    shown,
)
from .lock import ProjectLock

PROJECT_FILE = "ris-studio.project.json"
FORMAT = schema.FORMAT
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"}
PALETTE = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180),
           (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128)]
ACCEPTED, TO_REVIEW = "accepted", "to_review"
MAX_FILE_BYTES = 2 * 10 ** 9  # 2,000 photos x 10 objects are 57 MB; 2 GB is no project file


def _write_bytes(path, data: bytes) -> None:
    # Looked up on the package at call time so that tests can simulate a failing disk by
    # monkeypatching ``app.project.atomic_write_bytes``.
    sys.modules["app.project"].atomic_write_bytes(path, data)


class Annotation:
    """One object: label, expressions, mask (held as RLE), review state.

    ``mask`` decodes on demand (read-only bool ``[H, W]``); assigning it re-encodes. ``color`` is
    the label's colour, kept in step by the project (two "circle" annotations share a colour).
    """

    __slots__ = (
        "__weakref__",
        "_area",
        "_rle",
        "_token",
        "color",
        "expressions",
        "id",
        "label",
        "review",
        "score",
        "source",
        "visible",
    )

    def __init__(self, id: int, label: str, expressions: list[str], mask: np.ndarray | None = None,
                 color: tuple[int, int, int] = PALETTE[0], visible: bool = True, source: str = "manual",
                 rle: dict | None = None, review: str = ACCEPTED, score: float | None = None):
        self.id, self.label, self.expressions = int(id), label, list(expressions)
        self.color, self.visible, self.source = tuple(color), bool(visible), source
        self.review, self.score = review, score
        if rle is None:
            self.mask = mask
        else:
            counts = rle["counts"]
            self._rle = {"size": [int(rle["size"][0]), int(rle["size"][1])],
                         "counts": counts.encode("ascii") if isinstance(counts, str) else bytes(counts)}
            self._token, self._area = rlemod.new_token(), None

    @property
    def mask(self) -> np.ndarray:
        return rlemod.CACHE.get(self._token, self._rle)

    @mask.setter
    def mask(self, value: np.ndarray) -> None:
        m = np.asarray(value) > 0  # a new array: the caller's one is not frozen
        self._rle = rlemod.encode(m)
        self._token, self._area = rlemod.new_token(), None
        m.setflags(write=False)
        rlemod.CACHE.put(self._token, m)

    def rle(self) -> dict:
        """JSON-ready compressed RLE ``{"size": [H, W], "counts": str}`` (exact)."""
        return {"size": list(self._rle["size"]), "counts": self._rle["counts"].decode("ascii")}

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self._rle["size"])

    @property
    def area(self) -> int:
        if self._area is None:
            self._area = rlemod.area(self._rle)
        return self._area

    def bbox(self) -> list[float]:
        return rlemod.bbox(self._rle)

    def __repr__(self) -> str:
        return (f"Annotation(id={self.id}, label={self.label!r}, expressions={self.expressions!r}, "
                f"review={self.review!r}, area={self.area})")


@dataclass
class ImageEntry:
    key: str  # path relative to the project folder, with forward slashes (surrogate-escaped bytes)
    path: Path
    id: int
    size: tuple[int, int] | None = None  # (width, height) upright; None until read
    missing: bool = False  # listed in the project file but not on disk

    def upright_size(self) -> tuple[int, int]:
        if self.size is None:
            self.size = image_size_upright(self.path)
        return self.size

    @property
    def utf8_name(self) -> bool:
        """False for a file name that is not valid UTF-8 (exports that need text skip it)."""
        try:
            self.key.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True

    @property
    def display_name(self) -> str:
        return shown(self.key)


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
                  and not p.name.startswith(".") and p.is_file())


def read_labels_file(path: str | os.PathLike) -> list[str]:
    """A predefined label list as labelme's ``--labels``: one label per line (``#`` comments)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ProjectError(f"cannot read the label list {path}: {getattr(e, 'strerror', None) or e}") from None
    labels = []
    for line in text.splitlines():
        label = schema.normalise_label(line.split("#", 1)[0])
        if label and label not in labels:
            labels.append(label)
    if not labels:
        raise ProjectError(f"the label list {path} holds no label")
    return labels


@dataclass
class BatchResult:
    """One result of a batch run, for :meth:`Project.add_batch_results`."""

    key: str
    expression: str | list[str]  # several for a proposal of the photo-coco teacher
    mask: np.ndarray
    score: float | None = None
    no_target: bool = False  # the model's no-object head fired: never kept
    label: str | None = None  # default: the expression's last word


def _fingerprint(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def _timestamped(path: Path, tag: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in itertools.count():
        cand = path.with_name(f"{path.name}.{tag}-{stamp}{'' if n == 0 else f'-{n}'}")
        if not os.path.lexists(cand):
            return cand
    raise AssertionError  # pragma: no cover


class Project:
    """Images, annotations and history.

    Listeners get ``(event, image_key)`` after every change, once per image it touched: the
    command's own image first with event ``"edit"``/``"undo"``/``"redo"``, then every other
    touched image with ``"refresh"`` (a batch undo touches many). ``error_listeners`` get one
    message when an autosave fails; ``last_save_error`` keeps the exception.
    """

    def __init__(self, folder: Path, autosave: bool = True, file: Path | None = None):
        self.folder = Path(folder)
        self.file = Path(file) if file is not None else self.folder / PROJECT_FILE
        self.autosave = autosave
        self.images: list[ImageEntry] = []
        self._by_key: dict[str, ImageEntry] = {}
        self._anns: dict[str, list[Annotation]] = {}
        self.categories: dict[str, int] = {}
        self.label_colors: dict[str, tuple[int, int, int]] = {}
        self.predefined_labels: list[str] = []
        self.restrict_labels = False
        self._next_ann = 1
        self._next_image = 1
        self.history = undo.UndoStack()
        self.listeners: list[Callable[[str, str], None]] = []
        self.error_listeners: list[Callable[[str], None]] = []
        self.read_only = False
        self.dirty = False  # edits not yet written to the project file
        self.last_save_error: Exception | None = None
        self.backup: Path | None = None  # the timestamped copy of an unreadable file (recover=True)
        self.notices: list[str] = []  # things the user should be told after opening
        self.lock: ProjectLock | None = None
        self._disk: tuple[tuple[int, int] | None, str | None] = (None, None)  # (stat, sha256) we know
        self.last_keys: list[str] = []
        self._backup_before_save = False
        self.backups: list[Path] = []  # timestamped copies written before replacing a file
        self._fragments: dict[str, tuple[tuple, bytes]] = {}  # key -> (entry state, its JSON): saves reuse them

    # ----- opening --------------------------------------------------------------------------
    @classmethod
    def open(cls, paths: list[str | os.PathLike], autosave: bool = True, *, lock: bool = False,
             read_only: bool = False, recover: bool = False, project_file: str | os.PathLike | None = None,
             labels: list[str] | None = None) -> Project:
        """A folder (its images) or image files (their common folder); restores a saved project.

        ``lock``: take the project's lock file; :class:`ProjectLockedError` when another live
        instance holds it. ``read_only``: no lock, no saves, edits refused (viewing, exports).
        ``recover``: an unreadable project file is copied to a timestamped backup
        (``project.backup``) and a new project starts; without it :class:`ProjectFileError`.
        ``project_file``: read/write the project there instead of next to the images.
        ``labels``: a predefined label list (replaces the one stored in the file).
        """
        paths = [Path(os.path.abspath(p)) for p in paths]
        if not paths:
            raise ProjectError("nothing to open")
        missing = [shown(p) for p in paths if not p.exists()]
        if missing:
            raise ProjectError(f"not found: {', '.join(missing)}")
        files: list[Path] = []
        for p in paths:
            try:
                files.extend(list_images(p) if p.is_dir() else [p])
            except OSError as e:
                raise ProjectError(f"cannot list {shown(p)}: {e.strerror or e}") from None
        folder = paths[0] if len(paths) == 1 and paths[0].is_dir() else \
            Path(os.path.commonpath([str(f.parent) for f in files] or [str(paths[0])]))
        project = cls(folder, autosave and not read_only, project_file)
        project.read_only = read_only
        if lock and not read_only:
            project.lock = ProjectLock(project.file.with_name(f".{project.file.name}.lock"))
            holder = project.lock.acquire()
            if holder is not None:
                raise ProjectLockedError(project.file, holder)
            if project.lock.error:
                project.notices.append(f"No lock could be taken ({project.lock.error}); another "
                                       "instance would not be detected.")
            weakref.finalize(project, project.lock.release)
        try:
            if os.path.lexists(project.file):
                try:
                    project._load()
                except ProjectFileError as e:
                    if not recover:
                        raise
                    project._recover(e)
            for f in files:
                project.add_image(f)
        except BaseException:
            project.close()
            raise
        project.images.sort(key=lambda e: e.key)
        if labels:
            project.set_predefined_labels(labels, restrict=project.restrict_labels)
        return project

    def close(self) -> None:
        """Release the lock (the window calls it when it switches folders or quits)."""
        if self.lock is not None:
            self.lock.release()

    def _recover(self, err: ProjectFileError) -> None:
        self.backup = _timestamped(self.file, "unreadable")
        try:
            shutil.copy2(self.file, self.backup)
        except OSError as e:
            raise ProjectFileError(self.file, f"{err.problem}; no backup could be written either "
                                   f"({e.strerror or e})") from None
        self.backups.append(self.backup)
        self._disk = (_fingerprint(self.file), None)  # replacing it is fine: it is backed up
        self.notices.append(f"The project file {shown(self.file)} could not be read ({err.problem}). It was "
                            f"kept as {shown(self.backup)}; a new project starts and will replace it on the first save.")
        self.images.clear()
        self._by_key.clear()
        self._anns.clear()

    def add_image(self, path: Path) -> ImageEntry:
        path = Path(os.path.abspath(path))
        key = Path(os.path.relpath(path, self.folder)).as_posix()
        try:
            schema.check_key(key)
        except schema.Invalid:
            raise ProjectError(f"{shown(path)} is outside the project folder {shown(self.folder)}") from None
        entry = self._by_key.get(key)
        if entry is None:
            entry = ImageEntry(key, path, self._next_image)
            self._next_image += 1
            self.images.append(entry)
            self._by_key[key] = entry
            self._anns.setdefault(key, [])
        else:
            entry.missing = not path.exists()
        return entry

    def entry(self, key: str) -> ImageEntry | None:
        return self._by_key.get(key)

    def _entry(self, key: str) -> ImageEntry:
        e = self._by_key.get(key)
        if e is None:
            raise ProjectError(f"{shown(key)} is not an image of this project")
        return e

    def refresh_missing(self) -> list[str]:
        """Re-check which listed images exist; returns the keys whose state changed."""
        changed = []
        for e in self.images:
            now = not e.path.exists()
            if now != e.missing:
                e.missing = now
                changed.append(e.key)
        return changed

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

    def missing(self) -> list[str]:
        """Keys of images listed in the project whose file is not on disk (annotations kept)."""
        return [e.key for e in self.images if e.missing]

    def labels(self) -> list[str]:
        """Predefined labels first (in their order), then every other label in use, sorted."""
        used = {a.label for anns in self._anns.values() for a in anns} | set(self.categories)
        return self.predefined_labels + sorted(used - set(self.predefined_labels))

    def used_labels(self) -> list[str]:
        return sorted({a.label for anns in self._anns.values() for a in anns})

    def category_id(self, label: str) -> int:
        if label not in self.categories:
            self.categories[label] = max(self.categories.values(), default=0) + 1
        return self.categories[label]

    def label_color(self, label: str) -> tuple[int, int, int]:
        """The label's colour (assigned from the palette the first time a label is seen)."""
        if label not in self.label_colors:
            self.label_colors[label] = PALETTE[len(self.label_colors) % len(PALETTE)]
        return self.label_colors[label]

    def to_review(self) -> list[tuple[str, Annotation]]:
        return [(e.key, a) for e, a in self.all_annotations() if a.review == TO_REVIEW]

    def all_annotations(self):
        """``(ImageEntry, Annotation)`` pairs in image order."""
        return itertools.chain.from_iterable(((e, a) for a in self._anns.get(e.key, [])) for e in self.images)

    def can_undo(self) -> bool:
        return self.history.can_undo()

    def can_redo(self) -> bool:
        return self.history.can_redo()

    def undo_text(self) -> str | None:
        """What :meth:`undo` would undo (for "Undo keep mask" in the Edit menu), or None."""
        return self.history.undo_text()

    def redo_text(self) -> str | None:
        return self.history.redo_text()

    # ----- edits (all undoable) -------------------------------------------------------------
    def _label(self, value) -> str:
        label = schema.normalise_label(value)
        if not label:
            raise ProjectError("a label cannot be empty")
        try:
            label.encode("utf-8")
        except UnicodeEncodeError:
            raise ProjectError("a label must be valid Unicode text") from None
        if self.restrict_labels and self.predefined_labels and label not in self.predefined_labels:
            raise ProjectError(f"{label!r} is not in the label list ({', '.join(self.predefined_labels)})")
        return label

    @staticmethod
    def _expression(text) -> str:
        text = " ".join(str(text).split())
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ProjectError("an expression must be valid Unicode text") from None
        return text

    def _writable(self) -> None:
        if self.read_only:
            raise ProjectReadOnlyError(f"{shown(self.folder)} was opened read-only; edits are not possible")

    def new_annotation(self, key: str, label: str, expression: str | list[str] | None, mask: np.ndarray,
                       color: tuple[int, int, int] | None = None, source: str = "manual",
                       review: str = ACCEPTED, score: float | None = None) -> Annotation:
        """An annotation with a fresh id (not yet in the project: pass it to :meth:`add_many`).

        ``expression``: one text or a list; ``color`` sets the label's colour when given.
        """
        label = self._label(label)
        mask = np.asarray(mask) > 0
        w, h = self._entry(key).upright_size()
        if mask.shape != (h, w):
            raise ProjectError(f"mask is {mask.shape[1]}x{mask.shape[0]} but {shown(key)} is {w}x{h}")
        if source not in schema.SOURCES or review not in schema.REVIEW_STATES:
            raise ProjectError(f"unknown source {source!r} or review state {review!r}")
        exprs = [expression] if isinstance(expression, str) else list(expression or [])
        exprs = [e for e in (self._expression(x) for x in exprs) if e]
        if color is not None:
            self.label_colors[label] = tuple(int(c) for c in color)
        ann = Annotation(self._next_ann, label, exprs, mask, self.label_color(label), source=source,
                         review=review, score=None if score is None else float(score))
        self._next_ann += 1
        self.category_id(label)
        return ann

    def add(self, key: str, label: str, expression: str | list[str] | None, mask: np.ndarray,
            text: str = "keep mask", **kw) -> Annotation:
        """Add one annotation (``text``: what the Edit menu says it would undo)."""
        self._writable()
        ann = self.new_annotation(key, label, expression, mask, **kw)
        self._push(undo.AddAnnotations(key, [ann], text))
        return ann

    def add_many(self, items: list[tuple[str, Annotation]], text: str = "batch") -> None:
        """Several (image key, annotation) pairs as one undo step."""
        self._writable()
        if items:
            self._push(undo.Macro([undo.AddAnnotations(k, [a]) for k, a in items], text, items[0][0]))

    def add_batch_results(self, results: Iterable[BatchResult], text: str = "batch") -> tuple[int, int]:
        """Batch results as annotations "to review" with their score, one undo step.

        Absent targets (``no_target``) and empty masks are never kept. Returns (kept, dropped).
        """
        self._writable()
        items, dropped = [], 0
        for r in results:
            mask = np.asarray(r.mask) > 0
            if r.no_target or not mask.any():
                dropped += 1
                continue
            first = r.expression if isinstance(r.expression, str) else (r.expression or [""])[0]
            label = r.label or (first.split() or ["object"])[-1]
            items.append((r.key, self.new_annotation(r.key, label, r.expression, mask, source="batch",
                                                     review=TO_REVIEW, score=r.score)))
        self.add_many(items, text)
        return len(items), dropped

    def remove(self, key: str, ann_id: int) -> None:
        self._writable()
        self._push(undo.RemoveAnnotation(key, self.get(key, ann_id)))

    def set_field(self, key: str, ann_id: int, name: str, value) -> None:
        """``label``, ``visible``, ``expressions`` (a list), ``review``; ``color`` sets the colour
        of the annotation's label (every annotation with that label changes with it)."""
        self._writable()
        if name not in ("label", "color", "visible", "expressions", "review"):
            raise ProjectError(f"cannot set {name!r}")
        ann = self.get(key, ann_id)
        if name == "color":
            return self.set_label_color(ann.label, value)
        if name == "label":
            value = self._label(value)
            self.category_id(value)
            color = self.label_color(value)
            if ann.label != value:
                self._push(undo.Macro([undo.SetField(key, ann_id, "label", ann.label, value),
                                       undo.SetField(key, ann_id, "color", ann.color, color)],
                                      "rename", key))
            return None
        if name == "expressions":
            if isinstance(value, str):
                raise ProjectError("expressions must be a list of texts")
            value = [e for e in (self._expression(x) for x in value) if e]
        if name == "review" and value not in schema.REVIEW_STATES:
            raise ProjectError(f"review must be one of {', '.join(schema.REVIEW_STATES)}")
        if name == "visible":
            value = bool(value)
        old = getattr(ann, name)
        if old != value:
            self._push(undo.SetField(key, ann_id, name, list(old) if isinstance(old, list) else old,
                                     value, f"set {name}"))
        return None

    # several expressions per annotation
    def add_expression(self, key: str, ann_id: int, text: str) -> None:
        text = self._expression(text)
        if not text:
            raise ProjectError("an expression cannot be empty")
        self.set_field(key, ann_id, "expressions", [*self.get(key, ann_id).expressions, text])

    def edit_expression(self, key: str, ann_id: int, index: int, text: str) -> None:
        exprs = list(self.get(key, ann_id).expressions)
        if not 0 <= index < len(exprs):
            raise ProjectError(f"annotation {ann_id} has no expression {index}")
        text = self._expression(text)
        if not text:
            raise ProjectError("an expression cannot be empty (remove it instead)")
        exprs[index] = text
        self.set_field(key, ann_id, "expressions", exprs)

    def remove_expression(self, key: str, ann_id: int, index: int) -> None:
        exprs = list(self.get(key, ann_id).expressions)
        if not 0 <= index < len(exprs):
            raise ProjectError(f"annotation {ann_id} has no expression {index}")
        del exprs[index]
        self.set_field(key, ann_id, "expressions", exprs)

    # labels
    def set_label_color(self, label: str, color: tuple[int, int, int]) -> None:
        """Recolour a label: every annotation with it, one undo step."""
        self._writable()
        color = tuple(int(c) for c in color)
        if len(color) != 3 or not all(0 <= c <= 255 for c in color):
            raise ProjectError("a colour is three numbers 0..255")
        old = self.label_color(label)
        cmds = [undo.SetField(e.key, a.id, "color", a.color, color) for e, a in self.all_annotations()
                if a.label == label and a.color != color]
        if old == color and not cmds:
            return
        self._push(undo.LabelColor(label, old, color, cmds, f"colour {label}",
                                   cmds[0].image if cmds else ""))

    def set_predefined_labels(self, labels: list[str], restrict: bool = False) -> None:
        """The label list offered first (``ris-studio --labels FILE``); ``restrict``: only these."""
        out = []
        for lab in labels:
            lab = schema.normalise_label(lab)
            if lab and lab not in out:
                out.append(lab)
        self.predefined_labels = out
        self.restrict_labels = bool(restrict and out)
        for lab in out:
            self.label_color(lab)

    # review of batch results
    def accept(self, items: Iterable[tuple[str, int]]) -> None:
        """Mark (key, annotation id) pairs as accepted, one undo step."""
        self._writable()
        cmds = [undo.SetField(k, i, "review", self.get(k, i).review, ACCEPTED) for k, i in items
                if self.get(k, i).review != ACCEPTED]
        if cmds:
            self._push(undo.Macro(cmds, "accept", cmds[0].image))

    def reject(self, items: Iterable[tuple[str, int]], text: str = "reject") -> int:
        """Delete (key, annotation id) pairs, one undo step; returns how many."""
        self._writable()
        cmds = [undo.RemoveAnnotation(k, self.get(k, i)) for k, i in items]
        if cmds:
            self._push(undo.Macro(cmds, text, cmds[0].image))
        return len(cmds)

    def reject_below(self, score: float | None = None, min_area: int | None = None,
                     keys: Iterable[str] | None = None) -> int:
        """Reject the annotations still "to review" whose score is below ``score`` or whose mask
        has fewer than ``min_area`` pixels (on ``keys``, default every image); one undo step."""
        keys = set(keys) if keys is not None else None
        doomed = [(e.key, a.id) for e, a in self.all_annotations()
                  if a.review == TO_REVIEW and (keys is None or e.key in keys)
                  and ((score is not None and a.score is not None and a.score < score)
                       or (min_area is not None and a.area < min_area))]
        return self.reject(doomed, "reject below") if doomed else 0

    def edit_mask(self, key: str, ann_id: int, new_mask: np.ndarray, text: str = "brush") -> bool:
        self._writable()
        cmd = undo.EditMask.between(key, ann_id, self.get(key, ann_id).mask, np.asarray(new_mask) > 0, text)
        if cmd is not None:
            self._push(cmd)
        return cmd is not None

    def undo(self) -> list[str]:
        """Undo one step; returns every image key it touched (empty when there was nothing)."""
        self._writable()
        return self._after(self.history.undo(self), "undo")

    def redo(self) -> list[str]:
        self._writable()
        return self._after(self.history.redo(self), "redo")

    def _push(self, cmd: undo.Command) -> None:
        self.history.push(cmd, self)
        self._after(cmd, "edit")

    def _after(self, cmd, event) -> list[str]:
        if cmd is None:
            return []
        self.dirty = True
        keys = [k for k in dict.fromkeys(cmd.touched()) if k]
        self.last_keys = keys
        self.save_soon()
        for i, key in enumerate(keys):
            for fn in list(self.listeners):
                fn(event if i == 0 else "refresh", key)
        return keys

    # primitive mutations, called by the undo commands only
    def _insert(self, key, anns, index=None):
        self._fragments.pop(key, None)
        lst = self._anns.setdefault(key, [])
        at = len(lst) if index is None or index < 0 else index
        lst[at:at] = anns

    def _remove(self, key, ids):
        self._fragments.pop(key, None)
        ids = set(ids)
        self._anns[key] = [a for a in self._anns[key] if a.id not in ids]

    def _set_field(self, key, ann_id, name, value):
        self._fragments.pop(key, None)
        setattr(self.get(key, ann_id), name, value)

    # ----- persistence ----------------------------------------------------------------------
    def save_soon(self) -> None:
        """Autosave (when on): failures are reported to ``error_listeners``, edits stay in memory."""
        if not self.autosave:
            return
        try:
            self.save()
        except (OSError, ProjectError, ValueError, TypeError) as e:
            # The edit is applied in memory: report the failed save, never fail the edit with it.
            self.last_save_error = e
            if isinstance(e, ProjectChangedError):
                msg = (f"Autosave stopped: {e}. Your edits are kept in memory; reload the project, "
                       "save it elsewhere or overwrite the file.")
            else:
                msg = (f"Autosave failed: {e}. Your edits are kept in memory; save the project "
                       "elsewhere or export, or free space / make the folder writable.")
            msg = msg.encode("utf-8", "surrogateescape").decode("utf-8", "replace")  # showable text
            for fn in list(self.error_listeners):
                fn(msg)

    def _image_json(self, e: ImageEntry) -> dict:
        anns = self._anns.get(e.key, [])
        # Never read an image here: a save must not depend on one unreadable file.
        size = list(e.size) if e.size is not None else [anns[0].shape[1], anns[0].shape[0]] if anns else None
        im = {"id": e.id, "file": e.key if e.utf8_name else e.display_name, "size": size}
        if not e.utf8_name:  # the exact bytes, so the name survives a UTF-8 file
            im["file_raw"] = os.fsencode(e.key).hex()
        im["annotations"] = [
            {"id": a.id, "label": a.label, "expressions": list(a.expressions), "visible": a.visible,
             "source": a.source, "review": a.review, "score": a.score, "rle": a.rle()} for a in anns]
        return im

    def _header(self) -> dict:
        labels = set(self.categories)
        return {"format": FORMAT, "version": schema.VERSION, "next_annotation_id": self._next_ann,
                "next_image_id": self._next_image, "categories": self.categories,
                "label_colors": {k: list(v) for k, v in self.label_colors.items() if k in labels
                                 or k in self.predefined_labels},
                "predefined_labels": self.predefined_labels}

    def to_json(self) -> dict:
        return {**self._header(), "images": [self._image_json(e) for e in self.images]}

    def to_bytes(self, extra: dict | None = None) -> bytes:
        """The project file's bytes. Each image's JSON is kept between saves until that image
        changes, so an autosave of a project of thousands of images re-encodes only the edit."""
        def dumps(obj):
            return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")

        parts = []
        for e in self.images:
            state = (e.id, e.key, e.size)
            cached = self._fragments.get(e.key)
            if cached is None or cached[0] != state:
                cached = (state, dumps(self._image_json(e)))
                self._fragments[e.key] = cached
            parts.append(cached[1])
        head = dumps({**self._header(), **(extra or {}), "images": []})
        return head[:-2] + b",".join(parts) + b"]}"  # head ends in "images":[]}

    def disk_changed(self) -> bool:
        """True when the project file on disk is not what this project loaded or last wrote."""
        known_stat, known_hash = self._disk
        now = _fingerprint(self.file)
        if now is None:
            return False  # deleted (or never written): nothing of someone else's to lose
        if now == known_stat:
            return False
        if known_hash is None:
            return True
        try:
            return hashlib.sha256(self.file.read_bytes()).hexdigest() != known_hash
        except OSError:
            return True

    def save(self, force: bool = False) -> Path | None:
        """Write the project file atomically.

        Raises :class:`ProjectChangedError` when the file changed on disk since we loaded or
        saved it; ``force=True`` then copies it to a timestamped backup first and overwrites
        (returns the backup's path). Write failures raise ``rismodel.fileio.WriteError``.
        """
        if self.read_only:
            raise ProjectReadOnlyError(f"{shown(self.folder)} was opened read-only; save it elsewhere")
        backup = None
        if self._backup_before_save and os.path.lexists(self.file) and not self.disk_changed():
            backup = self._backup(f"v{schema.VERSION - 1}-backup")
            self._backup_before_save = False
        if self.disk_changed():
            if not force:
                self.last_save_error = ProjectChangedError(self.file)
                raise self.last_save_error
            backup = self._backup("backup")
        data = self.to_bytes()
        try:
            _write_bytes(self.file, data)
        except OSError as e:
            self.last_save_error = e
            raise
        self._disk = (_fingerprint(self.file), hashlib.sha256(data).hexdigest())
        self.dirty = False
        self.last_save_error = None
        return backup

    def _backup(self, tag: str) -> Path:
        """Copy the project file to ``<file>.<tag>-YYYYmmdd-HHMMSS`` before it is replaced."""
        backup = _timestamped(self.file, tag)
        try:
            shutil.copy2(self.file, backup)
        except OSError as e:
            from rismodel.fileio import WriteError

            self.last_save_error = WriteError(f"cannot back up {self.file} before overwriting it: "
                                              f"{e.strerror or e}")
            raise self.last_save_error from None
        self.backups.append(backup)
        return backup

    def save_as(self, path: str | os.PathLike, switch: bool = True) -> None:
        """Write the project to another file (after an autosave failed: read-only folder, full
        disk). Image paths stay relative to the images folder, which the file records.
        ``switch``: later saves go there (and a read-only project stays read-only)."""
        path = Path(os.path.abspath(path))
        data = self.to_bytes({"images_folder": os.fsdecode(self.folder)} if path.parent != self.folder else None)
        _write_bytes(path, data)
        if switch:
            self.file = path
            self._disk = (_fingerprint(path), hashlib.sha256(data).hexdigest())
            self.dirty = False
            self.last_save_error = None

    def _load(self) -> None:
        try:
            st = os.stat(self.file)
            if not stat.S_ISREG(st.st_mode):  # a FIFO would block the read forever
                raise ProjectFileError(self.file, "it is not a regular file")
            if st.st_size > MAX_FILE_BYTES:
                raise ProjectFileError(self.file, f"it is {st.st_size / 1e9:.1f} GB, more than a project file "
                                       f"can be ({MAX_FILE_BYTES / 1e9:.0f} GB)")
            raw = self.file.read_bytes()
        except OSError as e:
            raise ProjectFileError(self.file, f"it cannot be read ({e.strerror or e})") from None
        data = schema.read(self.file, raw)
        self._disk = (_fingerprint(self.file), hashlib.sha256(raw).hexdigest())
        self._backup_before_save = data.version != schema.VERSION  # an older format: keep it once
        self.categories = dict(data.categories)
        self._next_ann, self._next_image = data.next_annotation_id, data.next_image_id
        self.predefined_labels = list(data.predefined_labels)
        self.label_colors = dict(data.label_colors)
        for im in data.images:  # version 1 kept a colour per annotation: the first one wins
            for a in im.annotations:
                if a.color is not None and a.label not in self.label_colors:
                    self.label_colors[a.label] = a.color
        for im in data.images:
            path = self.folder / im.key
            entry = ImageEntry(im.key, path, im.id, im.size, missing=not path.exists())
            self.images.append(entry)
            self._by_key[im.key] = entry
            self._anns[im.key] = [
                Annotation(a.id, a.label, a.expressions, None, self.label_color(a.label), a.visible, a.source,
                           a.rle, a.review, a.score) for a in im.annotations]
        self.images.sort(key=lambda e: e.key)


def check_image_readable(entry: ImageEntry) -> str | None:
    """Why an image cannot be used (missing, unreadable), or None."""
    if entry.missing:
        return f"{entry.display_name}: missing"
    try:
        entry.upright_size()
    except (ImageLoadError, OSError) as err:
        return f"{entry.display_name}: {err}"
    return None
