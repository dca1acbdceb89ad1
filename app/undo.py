"""Undo/redo as a stack of small commands (Qt-free, so the project model tests run without Qt).

Every change to a project is a :class:`Command` with ``redo(project)`` and ``undo(project)``;
:class:`UndoStack` runs it, keeps it, and replays it backwards. Mask edits store only the
bounding box of the pixels that changed (old and new patch, as RLE), so a brush stroke on a
24-megapixel photo costs kilobytes of history, not a full-size copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .project import Annotation, Project


class Command:
    """Subclasses are dataclasses with ``image`` (the image key it changes) and ``text`` fields."""

    def touched(self) -> list[str]:
        """Every image key this command touches (the window refreshes each one)."""
        return [self.image]

    def redo(self, project: Project) -> None:
        raise NotImplementedError

    def undo(self, project: Project) -> None:
        raise NotImplementedError


@dataclass
class AddAnnotations(Command):
    image: str
    annotations: list[Annotation]
    text: str = "keep mask"

    def redo(self, project):
        project._insert(self.image, list(self.annotations))

    def undo(self, project):
        project._remove(self.image, [a.id for a in self.annotations])


@dataclass
class RemoveAnnotation(Command):
    image: str
    annotation: Annotation
    index: int = -1
    text: str = "delete"

    def redo(self, project):
        self.index = project.annotations(self.image).index(project.get(self.image, self.annotation.id))
        project._remove(self.image, [self.annotation.id])

    def undo(self, project):
        project._insert(self.image, [self.annotation], self.index)


@dataclass
class SetField(Command):
    """Rename, recolour, hide/show: one attribute of one annotation."""

    image: str
    ann_id: int
    name: str
    old: Any
    new: Any
    text: str = "change"

    def redo(self, project):
        project._set_field(self.image, self.ann_id, self.name, self.new)

    def undo(self, project):
        project._set_field(self.image, self.ann_id, self.name, self.old)


class EditMask(Command):
    """Replace the pixels inside ``box`` (y0, y1, x0, x1) of one annotation's mask.

    The old and new patches are kept as RLE (a brush stroke across a 12-megapixel photo is
    megabytes as pixels and kilobytes as runs), so 500 steps of history stay small."""

    def __init__(self, image: str, ann_id: int, box: tuple[int, int, int, int], old: np.ndarray,
                 new: np.ndarray, text: str = "brush"):
        from .project import rle

        self.image, self.ann_id, self.box, self.text = image, ann_id, tuple(box), text
        self._old, self._new = rle.encode(old), rle.encode(new)

    @property
    def old(self) -> np.ndarray:
        from .project import rle

        return rle.decode(self._old)

    @property
    def new(self) -> np.ndarray:
        from .project import rle

        return rle.decode(self._new)

    @classmethod
    def between(cls, image: str, ann_id: int, before: np.ndarray, after: np.ndarray,
                text: str = "brush") -> EditMask | None:
        """The command turning ``before`` into ``after``, or None when no pixel changed."""
        diff = before != after
        rows, cols = np.flatnonzero(diff.any(axis=1)), np.flatnonzero(diff.any(axis=0))
        if rows.size == 0:
            return None
        y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        return cls(image, ann_id, (y0, y1, x0, x1), before[y0:y1, x0:x1], after[y0:y1, x0:x1], text)

    def _put(self, project, patch):
        y0, y1, x0, x1 = self.box
        mask = project.get(self.image, self.ann_id).mask.copy()
        mask[y0:y1, x0:x1] = patch
        project._set_field(self.image, self.ann_id, "mask", mask)

    def redo(self, project):
        self._put(project, self.new)

    def undo(self, project):
        self._put(project, self.old)


@dataclass
class Macro(Command):
    """Several commands undone and redone as one step (a batch run over many images)."""

    commands: list[Command] = field(default_factory=list)
    text: str = "batch"
    image: str = ""

    def redo(self, project):
        for c in self.commands:
            c.redo(project)

    def undo(self, project):
        for c in reversed(self.commands):
            c.undo(project)

    def touched(self):
        return list(dict.fromkeys([self.image, *(k for c in self.commands for k in c.touched())]))


@dataclass
class LabelColor(Command):
    """Recolour a label: the project's label -> colour map and every annotation with the label."""

    label: str
    old: tuple
    new: tuple
    commands: list[Command] = field(default_factory=list)
    text: str = "colour"
    image: str = ""

    def redo(self, project):
        project.label_colors[self.label] = self.new
        for c in self.commands:
            c.redo(project)

    def undo(self, project):
        project.label_colors[self.label] = self.old
        for c in reversed(self.commands):
            c.undo(project)

    def touched(self):
        return list(dict.fromkeys([self.image, *(k for c in self.commands for k in c.touched())]))


class UndoStack:
    def __init__(self, limit: int = 500):
        self._done: list[Command] = []
        self._undone: list[Command] = []
        self.limit = limit

    def push(self, cmd: Command, project: Project) -> None:
        cmd.redo(project)
        self._done.append(cmd)
        del self._done[:-self.limit]
        self._undone.clear()

    def undo(self, project: Project) -> Command | None:
        if not self._done:
            return None
        cmd = self._done.pop()
        cmd.undo(project)
        self._undone.append(cmd)
        return cmd

    def redo(self, project: Project) -> Command | None:
        if not self._undone:
            return None
        cmd = self._undone.pop()
        cmd.redo(project)
        self._done.append(cmd)
        return cmd

    def undo_text(self) -> str | None:
        return self._done[-1].text if self._done else None

    def redo_text(self) -> str | None:
        return self._undone[-1].text if self._undone else None

    def can_undo(self) -> bool:
        return bool(self._done)

    def can_redo(self) -> bool:
        return bool(self._undone)

    def clear(self) -> None:
        self._done.clear()
        self._undone.clear()
