"""What the File/Edit/Tools menus do besides editing: exports, clipboard, batch runs, fine-tuning.

Kept out of the main window so that it only wires; the work itself is in export.py (Qt-free) and
jobs.py (progress dialogs, worker and subprocess), finetune.py (the fine-tuning run).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtWidgets import QFileDialog

from rismodel.fileio import WriteError

from . import dialogs, export
from .finetune import FineTune
from .jobs import BatchJob


class Tasks:
    def __init__(self, window):
        self.w = window
        self.job = None
        self.finetune = FineTune(window)

    # ----- helpers --------------------------------------------------------------------------
    def _need_project(self) -> bool:
        if self.w.project is None:
            dialogs.show_error(self.w, "No project", "Open images or a folder first.")
            return False
        return True

    def current_mask(self) -> np.ndarray | None:
        """The selected annotation's mask, else the live mask."""
        w = self.w
        if w.project is not None and w.key is not None and w.selected >= 0:
            return w.project.get(w.key, w.selected).mask
        return w.flow.snap.mask(wait=True)  # the live mask as shown (snapped to edges when on)

    # ----- exports --------------------------------------------------------------------------
    def export_coco(self, path: str | None = None) -> bool:
        if not self._need_project():
            return False
        polygons = self.w.actions["export_polygons"].isChecked()
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self.w, "Export COCO JSON", str(self.w.project.folder /
                                                  "annotations.coco.json"), "COCO JSON (*.json)")
        if not path:
            return False
        try:
            skipped = export.export_coco(self.w.project, path, polygons=polygons)
        except (OSError, ValueError) as e:
            dialogs.show_error(self.w, "Export failed", str(e))
            return False
        n = sum(1 for _ in self.w.project.all_annotations())
        self.w.statusBar().showMessage(f"Exported {n} annotation(s) to {path}", 8000)
        if skipped:
            dialogs.show_error(self.w, "Some images were skipped", "\n".join(skipped))
        return True

    def export_masks(self, folder: str | None = None) -> bool:
        if not self._need_project():
            return False
        folder = folder or QFileDialog.getExistingDirectory(self.w, "Export mask PNGs", str(self.w.project.folder))
        if not folder:
            return False
        try:
            written = export.export_mask_pngs(self.w.project, folder)
        except (OSError, ValueError) as e:
            dialogs.show_error(self.w, "Export failed", str(e))
            return False
        self.w.statusBar().showMessage(f"Wrote {len(written)} mask PNG(s) to {folder}", 8000)
        return True

    def save_cutout(self, path: str | None = None) -> bool:
        mask = self.current_mask()
        if mask is None or self.w.image is None:
            dialogs.show_error(self.w, "Nothing to cut out", "Select an annotation or type an expression first.")
            return False
        if path is None:
            stem = Path(self.w.key).stem
            path, _ = QFileDialog.getSaveFileName(self.w, "Save cut-out", str(self.w.project.folder /
                                                  f"{stem}_cutout.png"), "PNG (*.png)")
        if not path:
            return False
        try:
            export.save_cutout(self.w.image, mask, path, crop=self.w.actions["cutout_crop"].isChecked())
        except (WriteError, ValueError) as e:
            dialogs.show_error(self.w, "Cannot save the cut-out", str(e))
            return False
        self.w.statusBar().showMessage(f"Saved {path}", 6000)
        return True

    def copy(self, cutout: bool) -> bool:
        mask = self.current_mask()
        if mask is None or self.w.image is None:
            dialogs.show_error(self.w, "Nothing to copy", "Select an annotation or type an expression first.")
            return False
        if cutout:
            rgba = np.ascontiguousarray(export.cutout_rgba(self.w.image, mask,
                                                           crop=self.w.actions["cutout_crop"].isChecked()))
            h, w = rgba.shape[:2]
            img = QImage(rgba.data, w, h, w * 4, QImage.Format_RGBA8888).copy()
        else:
            m = np.ascontiguousarray(mask.astype(np.uint8) * 255)
            h, w = m.shape
            img = QImage(m.data, w, h, w, QImage.Format_Grayscale8).copy()
        QGuiApplication.clipboard().setImage(img)
        self.w.statusBar().showMessage("Cut-out copied" if cutout else "Mask copied", 4000)
        return True

    # ----- batch ----------------------------------------------------------------------------
    def run_batch(self, expressions: list[str] | None = None) -> BatchJob | None:
        if not self._need_project() or self.w.model_info is None:
            if self.w.project is not None:
                dialogs.show_error(self.w, "Batch", "No model is loaded yet.")
            return None
        expressions = expressions if expressions is not None else dialogs.ask_expressions(self.w)
        if not expressions:
            return None
        return self._start_batch(expressions)

    def propose_objects(self) -> BatchJob | None:
        """photo-coco as the teacher on the open folder: every object it can name, with its mask and
        generated expressions, arrives "to review"; Fine-tune then trains on what was accepted."""
        if not self._need_project() or self.w.model_info is None:
            if self.w.project is not None:
                dialogs.show_error(self.w, "Propose objects", "No model is loaded yet.")
            return None
        if self.w.model_info.get("name") != "photo-coco":
            dialogs.show_error(self.w, "Propose objects",
                               "Proposing objects needs the photo-coco model: choose Model > Real photos: "
                               "photo-coco, then run this again.")
            return None
        return self._start_batch([], propose=True)

    def _start_batch(self, expressions: list[str], propose: bool = False) -> BatchJob:
        images = [(e.key, str(e.path)) for e in self.w.project.images]
        self.job = BatchJob(self.w.worker, images, expressions, self.w.prompt.threshold_value(), self.w,
                            propose=propose)
        self.job.finished.connect(self._batch_done)
        return self.job

    def _batch_done(self, items, cancelled, errors):
        kept, dropped, errors = self.w.flow.review.add_batch(items, errors)  # "to review", with scores
        done = "Cancelled" if cancelled else "Finished"
        self.w.statusBar().showMessage(f"{done}: {kept} mask(s) added for review (Y accepts, N rejects); "
                                       f"{dropped} without a target not kept.", 10000)
        if errors.strip():
            dialogs.show_error(self.w, "Batch: some images failed", errors.strip())
        self.job = None

    # ----- fine-tuning (app/finetune.py) -----------------------------------------------------
    def fine_tune(self, options=None):
        return self.finetune.start(options)
