"""Long jobs with a progress bar and Cancel: batch segmentation (worker thread) and fine-tuning
(``rismodel train`` in a QProcess, so training never shares the GUI's process or its GIL)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml
from PySide6.QtCore import QObject, QProcess, Qt, Signal
from PySide6.QtWidgets import QProgressDialog

from rismodel.fileio import atomic_write_text

from .worker import BatchRequest

STEP_RE = re.compile(r"step (\d+)/(\d+)")
DONE_RE = re.compile(r"weights: (\S+)")


def _progress(parent, title: str, total: int) -> QProgressDialog:
    dlg = QProgressDialog(title, "Cancel", 0, total, parent)
    dlg.setWindowModality(Qt.WindowModal)
    dlg.setMinimumDuration(0)
    dlg.setAutoClose(False)
    dlg.setAutoReset(False)
    dlg.setValue(0)
    return dlg


class BatchJob(QObject):
    """Runs expressions over images in the worker; collects ``(key, expression, mask, score)``."""

    finished = Signal(list, bool, str)  # items, cancelled, errors

    def __init__(self, worker, images: list[tuple[str, str]], expressions: list[str], threshold: float,
                 parent=None):
        super().__init__(parent)
        self.worker, self.items = worker, []
        self.dialog = _progress(parent, f"Running {len(expressions)} expression(s) on {len(images)} image(s)\u2026",
                                len(images))
        # A lambda, not the bound slot: a slot of the worker object would be queued to its (busy) thread.
        self.dialog.canceled.connect(lambda: worker.cancel_batch())
        worker.batchProgress.connect(self._progress)
        worker.batchItem.connect(self._item)
        worker.batchFinished.connect(self._done)
        worker.run_batch(BatchRequest(images, expressions, threshold))

    def _progress(self, done, total):
        self.dialog.setValue(done)

    def _item(self, key, text, mask, score):
        self.items.append((key, text, mask, score))

    def _done(self, cancelled, errors):
        for sig, slot in ((self.worker.batchProgress, self._progress), (self.worker.batchItem, self._item),
                          (self.worker.batchFinished, self._done)):
            sig.disconnect(slot)
        self.dialog.close()
        self.finished.emit(self.items, cancelled, errors)


def finetune_command(init: str | None, model_name: str, coco_file: Path, images_dir: Path, run_dir: Path,
                     steps: int = 200) -> tuple[list[str], Path]:
    """The ``rismodel train`` arguments and the config file they need (written here)."""
    cfg = {"model": {"name": model_name},
           "data": {"format": "coco", "coco_file": str(coco_file), "images_dir": str(images_dir),
                    "split": "train"},
           "train": {"max_steps": steps, "batch_size": 4, "lr": 1e-5, "log_every": 5,
                     "checkpoint_every": steps, "progress": False, "out": str(run_dir)}}
    config = run_dir.parent / f"{run_dir.name}.yaml"
    atomic_write_text(config, yaml.safe_dump(cfg, sort_keys=False))
    args = ["-m", "rismodel.cli", "train", "--config", str(config), "--out", str(run_dir)]
    if init:
        args += ["--init", init]
    return args, config


class FineTuneJob(QObject):
    """``python -m rismodel.cli train`` in a QProcess; parses ``step i/n`` and the final weights."""

    finished = Signal(bool, str, str)  # ok, checkpoint path, log tail

    def __init__(self, args: list[str], parent=None, program: str | None = None):
        super().__init__(parent)
        self.log: list[str] = []
        self.checkpoint = ""
        self.cancelled = False
        self.dialog = _progress(parent, "Fine-tuning on this project's annotations\u2026", 0)
        self.dialog.canceled.connect(self.cancel)
        self.process = QProcess(self)
        self.process.setProcessChannelMode(QProcess.MergedChannels)
        self.process.readyReadStandardOutput.connect(self._read)
        self.process.finished.connect(self._finished)
        self.process.errorOccurred.connect(self._error)
        self.process.start(program or sys.executable, args)

    def cancel(self):
        self.cancelled = True
        if self.process.state() != QProcess.NotRunning:
            self.process.kill()

    def _read(self):
        text = bytes(self.process.readAllStandardOutput()).decode("utf-8", "replace")
        for line in text.splitlines():
            self.log.append(line)
            m = STEP_RE.search(line)
            if m:
                self.dialog.setMaximum(int(m.group(2)))
                self.dialog.setValue(int(m.group(1)))
                self.dialog.setLabelText(line.strip())
            d = DONE_RE.search(line)
            if d:
                self.checkpoint = d.group(1)

    def _error(self, err):
        if err == QProcess.FailedToStart:
            self._finish(False)

    def _finished(self, code, _status):
        self._read()
        self._finish(code == 0 and not self.cancelled and bool(self.checkpoint))

    def _finish(self, ok):
        if self.dialog.isVisible():
            self.dialog.close()
        self.finished.emit(ok, self.checkpoint, "\n".join(self.log[-15:]))
