"""Fine-tuning from the window: choose what to learn from, run in the background, stop only on purpose.

The user picks the annotations (all, accepted only, the current image), the number of steps and the
learning rate in :class:`OptionsDialog`. The run is ``rismodel train`` in a subprocess
(:class:`app.jobs.FineTuneJob`); its progress sits in the status bar (:class:`StatusPanel`), so the
window stays usable. Its Stop button never takes the keyboard focus (a typed space cannot press it)
and asks before stopping; a stop is reported as a cancel, a crash as a failure with the log's tail.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QRadioButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from rismodel.data import coco_refs

from . import dialogs, export
from .frozen import writable_work_dir
from .jobs import FineTuneJob, finetune_command
from .project import TO_REVIEW

SCOPES = {"all": "All annotations", "accepted": "Accepted annotations only (not the batch results still to review)",
          "image": "This image's annotations only"}


@dataclass
class Options:
    scope: str = "all"  # all | accepted | image
    steps: int = 200
    lr: float = 1e-5


def is_accepted(ann) -> bool:
    return ann.review != TO_REVIEW


def select_annotations(project, scope: str, key: str | None) -> set[int]:
    """The ids of the annotations to learn from."""
    return {a.id for e, a in project.all_annotations()
            if scope == "all" or (scope == "accepted" and is_accepted(a)) or (scope == "image" and e.key == key)}


def write_training_coco(project, ids: set[int], path: Path) -> int:
    """The project's COCO export restricted to ``ids`` (images without one dropped); the image count."""
    data, _skipped = export.build_project_coco(project)
    data["annotations"] = [a for a in data["annotations"] if a["id"] in ids]
    used = {a["image_id"] for a in data["annotations"]}
    data["images"] = [im for im in data["images"] if im["id"] in used]
    coco_refs.save_coco(path, data)
    return len(data["images"])


class OptionsDialog(QDialog):
    def __init__(self, parent, counts: dict[str, int], defaults: Options):
        super().__init__(parent)
        self.setWindowTitle("Fine-tune on this project's annotations")
        self.group = QButtonGroup(self)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Learn from:"))
        for scope, text in SCOPES.items():
            b = QRadioButton(f"{text} ({counts.get(scope, 0)})")
            b.setObjectName(f"scope_{scope}")
            b.setEnabled(counts.get(scope, 0) > 0)
            b.setChecked(scope == defaults.scope and b.isEnabled())
            self.group.addButton(b)
            layout.addWidget(b)
        if self.group.checkedButton() is None:
            next(b for b in self.group.buttons() if b.isEnabled()).setChecked(True)
        self.steps = QSpinBox(minimum=1, maximum=1_000_000, value=defaults.steps)
        self.lr = QLineEdit(f"{defaults.lr:g}")
        self.lr.setValidator(QDoubleValidator(1e-9, 1.0, 12, self))
        form = QFormLayout()
        form.addRow("Steps", self.steps)
        form.addRow("Learning rate", self.lr)
        layout.addLayout(form)
        layout.addWidget(QLabel("It runs in the background; the status bar shows its progress."))
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.buttons.button(QDialogButtonBox.Ok).setText("Start")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.lr.textChanged.connect(lambda _t: self.buttons.button(QDialogButtonBox.Ok).setEnabled(
            self.lr.hasAcceptableInput()))

    def options(self) -> Options:
        scope = self.group.checkedButton().objectName().removeprefix("scope_")
        return Options(scope, self.steps.value(), float(self.lr.text()))


def ask_options(parent, counts: dict[str, int], defaults: Options) -> Options | None:
    dialog = OptionsDialog(parent, counts, defaults)
    return dialog.options() if dialog.exec() == QDialog.Accepted else None


def confirm_stop(parent, step: int, total: int) -> bool:
    done = f"{step} of {total} steps are done. " if total else ""
    box = QMessageBox(QMessageBox.Question, "Stop fine-tuning?",
                      f"{done}Stopping now discards this run (the current model stays as it is).",
                      QMessageBox.NoButton, parent)
    stop = box.addButton("Stop fine-tuning", QMessageBox.DestructiveRole)
    keep = box.addButton("Keep training", QMessageBox.RejectRole)
    box.setDefaultButton(keep)  # Enter or a space keeps it running
    box.setEscapeButton(keep)
    box.exec()
    return box.clickedButton() is stop


class StatusPanel(QWidget):
    """``Fine-tuning: step i/n [bar] [Stop…]`` in the status bar."""

    stopRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.label = QLabel("Fine-tuning: starting\u2026")
        self.bar = QProgressBar(maximumWidth=140)
        self.bar.setRange(0, 0)
        self.stop = QToolButton(text="Stop\u2026")
        self.stop.setObjectName("finetune_stop")
        self.stop.setFocusPolicy(Qt.NoFocus)  # a space typed in the expression box cannot press it
        self.stop.setToolTip("Stop the fine-tuning run (asks first)")
        self.stop.clicked.connect(self.stopRequested)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for w in (self.label, self.bar, self.stop):
            layout.addWidget(w)

    def show_progress(self, step: int, total: int) -> None:
        self.bar.setRange(0, total)
        self.bar.setValue(step)
        self.label.setText(f"Fine-tuning: step {step}/{total}")


class FineTune(QObject):
    """Runs one fine-tuning job for the window at a time."""

    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self.job: FineTuneJob | None = None
        self.panel: StatusPanel | None = None
        self.defaults = Options()

    def start(self, options: Options | None = None) -> FineTuneJob | None:
        """Ask for the options (unless given), write the training data, start the run."""
        w = self.w
        if self.job is not None:
            dialogs.show_error(w, "Fine-tune", "A fine-tuning run is already going (see the status bar).")
            return None
        if w.project is None or w.model_info is None:
            dialogs.show_error(w, "Fine-tune", "Open a folder and wait for the model to load first.")
            return None
        counts = {s: len(select_annotations(w.project, s, w.key)) for s in SCOPES}
        if not counts["all"]:
            dialogs.show_error(w, "Fine-tune", "The project has no annotations to learn from yet.")
            return None
        options = options or ask_options(w, counts, self.defaults)
        if options is None:
            return None
        self.defaults = options
        ids = select_annotations(w.project, options.scope, w.key)
        if not ids:
            dialogs.show_error(w, "Fine-tune", f"No annotations match \u201c{SCOPES[options.scope]}\u201d.")
            return None
        run_root = writable_work_dir(w.project.folder, "ris-studio-finetune")
        run_dir = run_root / time.strftime("run-%Y%m%d-%H%M%S")
        coco = run_root / f"{run_dir.name}.coco.json"
        try:
            write_training_coco(w.project, ids, coco)
            src = w.model_info.get("source") or ""
            name = w.model_info.get("name", "lgformer-compact")
            if name == "photo-coco":  # the teacher proposed; one of the two architectures learns
                from rismodel.resources import default_checkpoint

                name, src = "lgformer-compact", str(default_checkpoint("lgformer-compact"))
            argv, _cfg = finetune_command(src if src.endswith(".safetensors") else None,
                                          name, coco, w.project.folder, run_dir, options.steps, options.lr)
        except (OSError, ValueError) as e:
            dialogs.show_error(w, "Fine-tune", f"Cannot prepare the training data: {e}")
            return None
        self.job = FineTuneJob(argv, self)
        self.job.total = options.steps  # until the first "step i/n" line
        self.panel = StatusPanel()
        self.panel.show_progress(0, options.steps)
        w.statusBar().addPermanentWidget(self.panel)
        self.panel.stopRequested.connect(self.ask_stop)
        self.job.progress.connect(lambda step, total, _line: self.panel.show_progress(step, total))
        self.job.finished.connect(self._done)
        w.statusBar().showMessage(f"Fine-tuning on {len(ids)} annotation(s) for {options.steps} steps\u2026", 8000)
        return self.job

    def ask_stop(self) -> None:
        # self.job is checked again: the run may have finished while the question was open.
        if self.job is not None and confirm_stop(self.w, self.job.step, self.job.total) and self.job is not None:
            self.job.cancel()

    def _done(self, outcome: str, checkpoint: str, log_tail: str) -> None:
        job, self.job = self.job, None
        if self.panel is not None:
            self.w.statusBar().removeWidget(self.panel)
            self.panel.deleteLater()
            self.panel = None
        if outcome == "cancelled":
            self.w.statusBar().showMessage(f"Fine-tuning cancelled after {job.step} step(s); the model is "
                                           "unchanged.", 10000)
            return
        if outcome == "failed":
            dialogs.show_error(self.w, "Fine-tuning failed",
                               "The training process stopped with an error:\n\n" + (log_tail or "(no output)"))
            return
        answer = QMessageBox.question(self.w, "Fine-tuning finished", f"New weights: {checkpoint}\n\nLoad them now?")
        if answer == QMessageBox.Yes:
            self.w.load_model(checkpoint)

    def confirm_quit(self) -> bool:
        if self.job is None:
            return True
        return QMessageBox.question(self.w, "Quit", "A fine-tuning run is going; quitting stops it and discards "
                                    "the run. Quit anyway?", QMessageBox.Yes | QMessageBox.No,
                                    QMessageBox.No) == QMessageBox.Yes

    def stop_quietly(self) -> None:
        """The window closes: end the run without asking (the user already confirmed quitting)."""
        if self.job is not None:
            self.job.cancel()
            self.job.process.waitForFinished(5000)
