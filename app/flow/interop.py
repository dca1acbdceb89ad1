"""Interoperability from the File menu: import a COCO file into the project (to review and correct
what ``rismodel annotate`` wrote on a server), export labelme JSON per image and YOLO segmentation
labels besides COCO. The formats themselves are in export.py / the project layer (Qt-free).
"""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog

from .. import dialogs, export
from ..project import ProjectError
from ..project.interop import import_coco


class Interop:
    def __init__(self, window):
        self.w = window

    def _project(self):
        if self.w.project is None:
            dialogs.show_error(self.w, "No project", "Open images or a folder first.")
        return self.w.project

    def import_coco(self, path: str | None = None):
        """File > Import COCO JSON: the file's objects join the project "to review" (one undo
        step); objects that do not fit an image of the project are listed, never fatal."""
        p = self._project()
        if p is None:
            return None
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self.w, "Import COCO JSON", str(p.folder), "COCO JSON (*.json)")
        if not path:
            return None
        try:
            report = import_coco(p, path, review=True)
        except (ProjectError, OSError, ValueError) as e:
            dialogs.show_error(self.w, "Import failed", str(e))
            return None
        self.w.statusBar().showMessage(report.summary()[:1].upper() + report.summary()[1:] +
                                       ("; Ctrl+D goes to the first to review." if report.added else ""), 10000)
        if report.skipped:
            dialogs.show_error(self.w, "Some objects were not imported", "\n".join(report.skipped[:40]))
        if report.added and self.w.key not in report.keys:
            self.w.flow.review.next_to_review()
        return report

    def _export(self, kind: str, fn, folder: str | None) -> bool:
        p = self._project()
        if p is None:
            return False
        folder = folder or QFileDialog.getExistingDirectory(self.w, f"Export {kind}", str(p.folder))
        if not folder:
            return False
        try:
            written, skipped = fn(p, folder)
        except (OSError, ValueError) as e:
            dialogs.show_error(self.w, "Export failed", str(e))
            return False
        self.w.statusBar().showMessage(f"Wrote {len(written)} {kind} file(s) to {folder}", 8000)
        if skipped:
            dialogs.show_error(self.w, "Some images were skipped", "\n".join(skipped))
        return True

    def export_labelme(self, folder: str | None = None) -> bool:
        return self._export("labelme JSON", export.export_labelme, folder)

    def export_yolo(self, folder: str | None = None) -> bool:
        return self._export("YOLO label", export.export_yolo, folder)
