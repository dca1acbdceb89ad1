"""The main window: builds the parts and wires their signals together; no logic of its own
beyond routing (project edits live in project.py, inference in worker.py, drawing in canvas.py,
exports and long jobs in tasks.py)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QFileDialog, QLabel, QMainWindow, QProgressBar, QSplitter

from . import dialogs, menus, tasks
from .brush import apply_stroke, overlay_step, render_overlay
from .canvas import Canvas
from .flow import Flow
from .imageloader import ImageLoader
from .live import LiveSegmenter
from .panels import AnnotationPanel, FilePanel
from .project import Project, ProjectError
from .prompt_panel import PromptPanel
from .safety import Safety
from .worker import WorkerThread

DEFAULT_MODELS = {"lgformer": "lgformer-compact", "lqmformer": "lqmformer-compact", "photo": "photo-coco"}


class MainWindow(QMainWindow):
    def __init__(self, worker_thread: WorkerThread | None = None, allow_random: bool | None = None):
        super().__init__()
        self.setWindowTitle("RIS Studio")
        self.resize(1280, 820)
        self.settings = dialogs.settings()
        self.allow_random = (os.environ.get("RIS_STUDIO_ALLOW_RANDOM") == "1") if allow_random is None \
            else allow_random
        self._own_worker = worker_thread is None
        self.worker_thread = worker_thread or WorkerThread()
        self.worker = self.worker_thread.worker
        self.project: Project | None = None
        self.key: str | None = None
        self.image: np.ndarray | None = None
        self.selected = -1
        self.model_info: dict | None = None
        self.device = str(self.settings.value("device", "auto"))
        self.device = self.device if self.device in ("auto", "cuda", "cpu") else "auto"  # a hand-edited INI
        self.loaded_device = self.device
        self.model_spec = str(self.settings.value("model", DEFAULT_MODELS["lgformer"]))

        self.canvas = Canvas()
        self.files = FilePanel()
        self.prompt = PromptPanel()
        self.annotations = AnnotationPanel()
        self.setCentralWidget(self.canvas)
        self._dock("Images", self.files, Qt.LeftDockWidgetArea)
        side = QSplitter(Qt.Vertical)
        side.addWidget(self.prompt)
        side.addWidget(self.annotations)
        self._dock("Expression and annotations", side, Qt.RightDockWidgetArea)
        self.status_model, self.status_latency = QLabel("no model"), QLabel("")
        self.busy = QProgressBar(maximum=0, maximumWidth=90, textVisible=False)
        self.busy.hide()
        for w in (self.status_model, self.status_latency, self.busy):
            self.statusBar().addPermanentWidget(w)
        self.actions = menus.build(self)
        self.tasks = tasks.Tasks(self)
        self.safety = Safety(self)
        self.flow = Flow(self)  # the annotator's flow: keys, opening, shapes, labels, review, interop

        self.loader = ImageLoader(self)
        self.live = LiveSegmenter(self.worker, self)
        self._wire()
        self._restore_settings()
        self.load_model(self.model_spec)

    def _dock(self, title, widget, area):
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)

    def _wire(self):
        self.files.imageChosen.connect(self.show_image)
        self.canvas.filesDropped.connect(self.open_paths)
        self.canvas.strokeFinished.connect(self.apply_stroke)
        self.loader.loaded.connect(self._image_loaded)
        self.loader.failed.connect(self._image_failed)
        self.prompt.expressionChanged.connect(self.live.set_text)
        self.prompt.keepRequested.connect(self.keep_mask)
        self.prompt.thresholdChanged.connect(self.live.set_threshold)
        self.prompt.overlayChanged.connect(lambda *_: self._render_live())
        self.prompt.toolChanged.connect(self.canvas.set_tool)
        self.prompt.radiusChanged.connect(self.canvas.set_radius)
        self.prompt.showRejectedChanged.connect(self.live.set_show_rejected)
        self.prompt.bind_show_rejected(self.actions["show_rejected"])
        self.live.changed.connect(self._render_live)
        self.live.keepReady.connect(self.keep_mask)
        self.live.keepDropped.connect(lambda why: self.statusBar().showMessage(f"Not kept: {why}.", 8000))
        self.live.busyChanged.connect(self.busy.setVisible)
        self.live.latencyMeasured.connect(lambda ms, dev: self.status_latency.setText(f"{ms:.0f} ms on {dev.upper()}"))
        self.live.failed.connect(lambda msg: dialogs.show_error(self, "Inference failed", msg))
        self.annotations.selected.connect(self._select)
        self.annotations.renameRequested.connect(self.rename)
        self.annotations.recolourRequested.connect(self.recolour)
        self.annotations.deleteRequested.connect(lambda i: self._edit(self.project.remove, self.key, i))
        self.annotations.visibilityToggled.connect(
            lambda i, v: self._edit(self.project.set_field, self.key, i, "visible", v))
        self.worker.modelLoaded.connect(self._model_loaded)
        self.worker.modelFailed.connect(self._model_failed)

    # ----- opening and navigation -----------------------------------------------------------
    def choose_images(self):
        paths, _ = QFileDialog.getOpenFileNames(self, "Open images", self._last_folder(),
                                                "Images (*.jpg *.jpeg *.png *.bmp *.tif *.tiff *.webp)")
        if paths:
            self.open_paths(paths)

    def choose_folder(self):
        folder = QFileDialog.getExistingDirectory(self, "Open folder", self._last_folder())
        if folder:
            self.open_paths([folder])

    def _last_folder(self) -> str:
        return str(self.settings.value("last_folder", str(Path.home())))

    def open_paths(self, paths) -> bool:
        if not self.safety.confirm_leave("open another folder"):  # unsaved edits (autosave failed)
            return False
        project = self.safety.open_project(paths)  # locked: another instance is refused or read-only
        if project is None:
            return False
        if not project.images:
            project.close()
            dialogs.show_error(self, "Cannot open", f"No images found in {', '.join(map(str, paths))}.")
            return False
        self.project = project
        project.listeners.append(self._project_changed)
        self.settings.setValue("last_folder", str(project.folder))
        self.files.set_images([(e.key, project.count(e.key)) for e in project.images])
        self.safety.opened(project)  # missing images, notices, autosave failures
        self.setWindowTitle(f"RIS Studio \u2014 {project.folder}{self.safety.title_suffix()}")
        self.flow.project_opened(project, paths)  # recent folders; shows the image that was opened
        return True

    def show_image(self, key: str):
        if self.project is None or self.project.entry(key) is None:
            return
        self.key, self.image, self.selected = key, None, -1
        self.files.select(key)
        self.live.set_image(None, None)
        self._refresh_annotations()  # this image's annotations, never the previous image's
        if self.safety.image_missing(key):  # said in the status bar; its annotations stay in the file
            return
        self.statusBar().showMessage(f"Loading {key}\u2026")
        self.loader.load(key, str(self.project.entry(key).path))

    def _image_loaded(self, key, rgb, display):
        if key != self.key:
            return
        self.image = rgb
        self.project.entry(key).size = (rgb.shape[1], rgb.shape[0])
        self.canvas.set_image(display)
        self.statusBar().showMessage(f"{key}: {rgb.shape[1]}x{rgb.shape[0]}", 4000)
        self._refresh_annotations()
        self.live.set_image(key, rgb)

    def _image_failed(self, key, message):
        if key != self.key:
            return
        self.image, self.selected = None, -1
        self.annotations.set_annotations([])  # nothing to show or edit on an image that cannot be read
        self.flow.labels.show_selected()
        self.canvas.set_image(None)
        self.statusBar().clearMessage()
        dialogs.show_error(self, "Cannot open image", message)

    def next_image(self):
        self.files.step(1)

    def previous_image(self):
        self.files.step(-1)

    def fit(self):
        self.canvas.fit()

    def zoom_in(self):
        self.canvas.zoom_by(1.25)

    def zoom_out(self):
        self.canvas.zoom_by(0.8)

    def focus_expression(self):
        self.prompt.expression.setFocus()
        self.prompt.expression.selectAll()

    # ----- live mask ------------------------------------------------------------------------
    def _render_live(self):
        step = 1 if self.image is None else overlay_step(*self.image.shape[:2])
        text, level = self.live.verdict(step)
        self.prompt.set_verdict(text, level)
        shown = self.flow.snap.mask(step)  # thresholded (and snapped) at display resolution only
        opacity = self.prompt.opacity_value()
        if shown is None:  # the previous expression's mask while this one computes: faded, never current
            shown, opacity = self.live.stale_mask(step), opacity * 0.3
        if self.image is None or shown is None:
            self.canvas.set_live_overlay(None)
            return
        self.canvas.set_live_overlay(render_overlay([(shown, self.prompt.colour, opacity)]), step)

    def keep_mask(self):
        if self.project is not None and self.live.request_keep() == "pending":  # kept when it arrives
            self.statusBar().showMessage(f"Computing \u201c{self.live.text}\u201d: it is kept as soon as its "
                                         "mask arrives.", 8000)
            return
        if self.project is not None and self.flow.snap.defer_keep():  # kept once snapped to edges
            return
        mask = self.flow.snap.mask(wait=True)  # snapped to edges when "Snap to edges" is on
        if self.project is None or self.live.key is None or mask is None or not mask.any():
            self.statusBar().showMessage(f"Nothing to keep: {self.live.why_nothing_to_keep()}.", 5000)
            return
        text = self.live.text
        label = dialogs.ask_label(self, self.project.labels(), text.split()[-1])  # "the red circle" -> "circle"
        if label:
            ann = self._edit(self.project.add, self.live.key, label, text, mask)  # the image it was computed on
            if ann is not None:
                self.annotations.select(ann.id)
                self.activateWindow()  # without a window manager nothing gives it back after the dialog
                self.canvas.setFocus()  # tool letters and D / A act again, Ctrl+Z undoes the keep

    # ----- annotations ----------------------------------------------------------------------
    def _edit(self, fn, *args):
        """Run a project edit; a bad edit becomes a message, never an exception."""
        try:
            return fn(*args)
        except (ProjectError, KeyError, ValueError) as e:
            dialogs.show_error(self, "Cannot change the annotation", str(e))
            return None

    def _select(self, ann_id: int):
        self.selected = ann_id
        self._render_annotations()

    def _project_changed(self, event: str, key: str):
        self.files.set_count(key, self.project.count(key))
        if key != self.key and event in ("undo", "redo"):
            self.show_image(key)  # show what the undo changed
        elif key == self.key:
            self._refresh_annotations()

    def _refresh_annotations(self):
        anns = self.project.annotations(self.key) if self.project and self.key else []
        if self.selected not in {a.id for a in anns}:
            self.selected = -1
        self.annotations.set_annotations(anns, self.selected)
        self.flow.labels.show_selected()
        self._render_annotations()

    def _render_annotations(self):
        if self.image is None:
            return
        anns = [a for a in self.project.annotations(self.key) if a.visible]
        sel = next((a.mask for a in anns if a.id == self.selected), None)
        if not anns:
            self.canvas.set_annotation_overlay(None)
            return
        step = overlay_step(*self.image.shape[:2])
        layers = [(a.mask, a.color, 0.45) for a in anns]
        self.canvas.set_annotation_overlay(render_overlay(layers, step, outline=sel), step)

    def _annotation(self, ann_id: int):
        """The annotation of the current image, or None (said in the status bar) when it is gone."""
        try:
            return self.project.get(self.key, ann_id)
        except (AttributeError, KeyError):  # no project, or a list out of date
            self.statusBar().showMessage("That annotation is not on the image shown.", 5000)
            return None

    def rename(self, ann_id: int):
        ann = self._annotation(ann_id)
        if ann is None:
            return
        label = dialogs.ask_label(self, self.project.labels(), ann.label)
        if label:
            self._edit(self.project.set_field, self.key, ann_id, "label", label)

    def recolour(self, ann_id: int):
        from PySide6.QtGui import QColor
        from PySide6.QtWidgets import QColorDialog

        ann = self._annotation(ann_id)
        if ann is None:
            return
        c = QColorDialog.getColor(QColor(*ann.color), self, "Annotation colour")
        if c.isValid():
            self._edit(self.project.set_field, self.key, ann_id, "color", (c.red(), c.green(), c.blue()))

    def delete_selected(self):
        if self.project and self.key and self.selected >= 0:
            self._edit(self.project.remove, self.key, self.selected)

    def apply_stroke(self, points, radius, erase):
        if self.project is None or self.key is None or self.selected < 0:
            self.statusBar().showMessage("Select an annotation (or keep the live mask) before painting.", 5000)
            return
        mask = self.project.get(self.key, self.selected).mask
        self._edit(self.project.edit_mask, self.key, self.selected, apply_stroke(mask, points, radius, erase),
                   "erase" if erase else "brush")

    def undo(self):
        if self.project:
            self._edit(self.project.undo)  # a read-only project refuses: a message

    def redo(self):
        if self.project:
            self._edit(self.project.redo)

    def tool_pan(self):
        self.prompt.set_tool("pan")

    def tool_brush(self):
        self.prompt.set_tool("brush")

    def tool_erase(self):
        self.prompt.set_tool("erase")

    def brush_bigger(self):
        self.prompt.radius.setValue(int(self.prompt.radius.value() * 1.25) + 1)

    def brush_smaller(self):
        self.prompt.radius.setValue(max(1, int(self.prompt.radius.value() / 1.25)))

    # ----- model ----------------------------------------------------------------------------
    def load_model(self, spec: str):
        self.model_spec = spec
        self.status_model.setText(f"loading {Path(spec).name}\u2026")
        self.busy.show()
        self.worker.load_model(spec, self.device, self.allow_random)

    def _model_loaded(self, info: dict):
        self.model_info, self.loaded_spec, self.loaded_device = info, self.model_spec, self.device
        self.busy.setVisible(self.live.busy)
        self.settings.setValue("model", self.model_spec)
        self.settings.setValue("device", self.device)  # only a device that worked is remembered
        random = " (random weights)" if info.get("source") == "random" else ""
        self.status_model.setText(f"{info['name']}{random} \u00b7 {info['device'].upper()}")
        self.prompt.set_rejects_absent(info.get("rejects_absent", False))
        self.live.refresh()

    def _model_failed(self, message: str):
        self.busy.setVisible(self.live.busy)
        if "no trained checkpoint ships" in message and not self.allow_random:
            from PySide6.QtWidgets import QMessageBox

            if QMessageBox.question(self, "Model", f"{message}\n\nTry the app with random weights "
                                    "(the masks will be meaningless)?") == QMessageBox.Yes:
                self.allow_random = True
                self.load_model(self.model_spec)
                return
        if self.model_info is None and self.device != "auto":  # e.g. a saved CUDA choice on a machine without
            dialogs.show_error(self, "Model", f"{message}\n\nThe device is set back to auto.")
            self._use_device("auto")
            self.settings.setValue("device", "auto")
            self.load_model(self.model_spec)
            return
        if self.model_info is None:
            self.status_model.setText("no model")
        else:  # the worker kept the previous model, on the device it worked on
            if self.device != self.loaded_device:
                message += f"\n\nThe device is set back to {self.loaded_device}."
            self.model_spec = self.loaded_spec
            self._use_device(self.loaded_device)
            self.status_model.setText(f"{self.model_info['name']} \u00b7 {self.model_info['device'].upper()}")
            message += f"\n\nStill using {self.model_info['name']}."
        dialogs.show_error(self, "Model", message)

    def use_lgformer(self):
        self.load_model(DEFAULT_MODELS["lgformer"])

    def use_lqmformer(self):
        self.load_model(DEFAULT_MODELS["lqmformer"])

    def use_photo_coco(self):  # real photos: COCO detector + rules (rismodel/photo)
        self.load_model(DEFAULT_MODELS["photo"])

    def choose_checkpoint(self):
        path, _ = QFileDialog.getOpenFileName(self, "Load checkpoint", self._last_folder(),
                                              "Checkpoints (*.safetensors)")
        if path:
            self.load_model(path)

    def set_device(self, device: str):
        self._use_device(device)  # saved once a model loads on it (_model_loaded)
        self.load_model(self.model_spec)

    def _use_device(self, device: str):
        self.device = device
        self.actions[f"device_{device}"].setChecked(True)

    def show_model_info(self):
        if self.model_info is None:
            dialogs.show_error(self, "Model", "No model is loaded yet.")
            return
        dialogs.show_text(self, "Model information", dialogs.model_info_html(self.model_info))

    def show_shortcuts(self):
        dialogs.show_text(self, "Keyboard shortcuts", dialogs.shortcuts_html(menus.shortcut_rows()))

    # ----- the rest lives in tasks.py -------------------------------------------------------
    def export_coco(self):
        self.tasks.export_coco()

    def export_masks(self):
        self.tasks.export_masks()

    def save_cutout(self):
        self.tasks.save_cutout()

    def copy_mask(self):
        self.tasks.copy(cutout=False)

    def copy_cutout(self):
        self.tasks.copy(cutout=True)

    def run_batch(self):
        self.tasks.run_batch()

    def propose_objects(self):
        self.tasks.propose_objects()

    def fine_tune(self):
        self.tasks.fine_tune()

    # ----- settings -------------------------------------------------------------------------
    def _restore_settings(self):
        s = self.settings
        colour = s.value("overlay_colour", "30,144,255")
        rgb = tuple(int(c) for c in str(colour).split(","))[:3]
        self.prompt.set_overlay(rgb, float(s.value("overlay_opacity", 0.5)))
        self.prompt.threshold.setValue(int(s.value("threshold", 50)))
        self.actions["export_polygons"].setChecked(s.value("export_polygons", "false") == "true")
        self.actions.get(f"device_{self.device}", self.actions["device_auto"]).setChecked(True)

    def save_settings(self):
        s = self.settings
        s.setValue("overlay_colour", ",".join(map(str, self.prompt.colour)))
        s.setValue("overlay_opacity", self.prompt.opacity_value())
        s.setValue("threshold", self.prompt.threshold.value())
        s.setValue("export_polygons", "true" if self.actions["export_polygons"].isChecked() else "false")
        self.flow.save_settings()
        s.sync()

    def closeEvent(self, event):
        if not self.safety.confirm_leave("quit") or not self.tasks.finetune.confirm_quit():
            event.ignore()  # unsaved edits or a training run: the user chose to stay
            return
        self.tasks.finetune.stop_quietly()
        if self.project is not None:
            self.project.close()  # release the lock
        self.save_settings()
        if self._own_worker:
            self.worker_thread.stop()
        else:  # a shared worker (tests) must stop talking to a closed window
            for sig, slot in ((self.worker.modelLoaded, self._model_loaded), (self.worker.modelFailed, self._model_failed),
                              (self.worker.result, self.live._on_result), (self.worker.error, self.live._on_error)):
                sig.disconnect(slot)
        super().closeEvent(event)
