"""Annotations drawn by hand (polygon, box), vertex editing, and snapping a kept mask to edges.

Every result is an ordinary undoable project edit: a new annotation (label asked, defaulting to the
label used last) or a mask edit of the selected annotation.
"""

from __future__ import annotations

from .. import dialogs
from ..tools.shapes import box_mask, mask_polygon, polygon_mask
from .snap import logits_side, snap_mask


class Shapes:
    def __init__(self, window, snap):
        self.w = window
        self.snap = snap
        self.last_label: str | None = None
        window.canvas.shapeFinished.connect(self.shape_finished)
        window.canvas.verticesEdited.connect(self.vertices_edited)
        window.prompt.toolChanged.connect(self._tool_changed)
        window.annotations.selected.connect(lambda ann_id: window.canvas.tool == "edit" and self.show_vertices(ann_id))

    # ----- tools ----------------------------------------------------------------------------
    def tool_polygon(self) -> None:
        self.w.prompt.set_tool("polygon")

    def tool_box(self) -> None:
        self.w.prompt.set_tool("box")

    def tool_edit(self) -> None:
        self.w.prompt.set_tool("edit")

    def _tool_changed(self, tool: str) -> None:
        if tool == "edit":
            self.show_vertices()
        else:
            self.w.canvas.set_vertices([])

    def show_vertices(self, ann_id: int | None = None) -> None:
        """Put the selected annotation's outline under the edit tool (its largest part)."""
        w = self.w
        ann_id = w.selected if ann_id is None else ann_id
        if w.project is None or w.key is None or ann_id < 0:
            w.canvas.set_vertices([])
            w.statusBar().showMessage("Select an annotation to edit its vertices.", 5000)
            return
        mask = w.project.get(w.key, ann_id).mask
        vertices = mask_polygon(mask, tolerance=max(1.0, max(mask.shape) / 400))
        if not vertices and mask.any():
            w.statusBar().showMessage("Vertex editing needs a one-piece mask without holes; use the brush "
                                      "and eraser on this one.", 6000)
        w.canvas.set_vertices(vertices)

    # ----- results --------------------------------------------------------------------------
    def ask_label(self, default: str | None) -> str | None:
        w = self.w
        label = dialogs.ask_label(w, w.project.labels(), default or self.last_label or "object")
        w.activateWindow()
        w.canvas.setFocus()
        return label

    def shape_finished(self, kind: str, points) -> None:
        w = self.w
        if w.project is None or w.key is None or w.image is None:
            return
        h, wd = w.image.shape[:2]
        mask = polygon_mask(points, h, wd) if kind == "polygon" else box_mask(points[0], points[1], h, wd)
        if not mask.any():
            w.statusBar().showMessage("The shape covers no pixel.", 5000)
            return
        label = self.ask_label(self.w.flow.labels.current_label())
        if not label:
            return
        self.last_label = label
        ann = w._edit(lambda: w.project.add(w.key, label, "", mask, text=kind, source=kind))
        if ann is not None:
            w.annotations.select(ann.id)
            w.statusBar().showMessage(f"Added {label} ({kind}): {int(mask.sum())} px", 5000)

    def vertices_edited(self, points) -> None:
        w = self.w
        if w.project is None or w.key is None or w.selected < 0 or w.image is None or len(points) < 3:
            return
        h, wd = w.image.shape[:2]
        w._edit(w.project.edit_mask, w.key, w.selected, polygon_mask(points, h, wd), "edit vertices")

    def snap_selected(self) -> bool:
        """Edit > Snap selected annotation to edges (GrabCut from its mask), one undo step."""
        w = self.w
        if w.project is None or w.key is None or w.selected < 0 or w.image is None:
            w.statusBar().showMessage("Select an annotation to snap it to the image's edges.", 5000)
            return False
        mask = w.project.get(w.key, w.selected).mask
        snapped = snap_mask(w.image, mask, logits_side(w))
        if not w._edit(w.project.edit_mask, w.key, w.selected, snapped, "snap to edges"):
            w.statusBar().showMessage("Snapping changed nothing.", 4000)
            return False
        return True
