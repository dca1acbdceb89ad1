"""Long jobs: batch segmentation (worker thread, progress dialog with Cancel) and fine-tuning
(``rismodel train`` in a QProcess, so training never shares the GUI's process or its GIL; its
progress is shown in the status bar by app/finetune.py)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from PySide6.QtCore import QObject, QProcess, Qt, Signal
from PySide6.QtWidgets import QProgressDialog

from rismodel.fileio import atomic_write_text

from .frozen import rismodel_command
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
                 parent=None, propose: bool = False):
        super().__init__(parent)
        self.worker, self.items = worker, []
        what = "Proposing objects in" if propose else f"Running {len(expressions)} expression(s) on"
        self.dialog = _progress(parent, f"{what} {len(images)} image(s)\u2026", len(images))
        # A lambda, not the bound slot: a slot of the worker object would be queued to its (busy) thread.
        self.dialog.canceled.connect(lambda: worker.cancel_batch())
        worker.batchProgress.connect(self._progress)
        worker.batchItem.connect(self._item)
        worker.batchFinished.connect(self._done)
        worker.run_batch(BatchRequest(images, expressions, threshold, propose))

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
                     steps: int = 200, lr: float = 1e-5) -> tuple[list[str], Path]:
    """The ``rismodel train`` command line (program first; the bundled trainer in a frozen app) and
    the config file it needs (written here)."""
    cfg = {"model": {"name": model_name},
           "data": {"format": "coco", "coco_file": str(coco_file), "images_dir": str(images_dir),
                    "split": "train"},
           "train": {"max_steps": int(steps), "batch_size": 4, "lr": float(lr), "log_every": max(1, min(5, steps)),
                     "checkpoint_every": int(steps), "progress": False, "out": str(run_dir)}}
    config = run_dir.parent / f"{run_dir.name}.yaml"
    atomic_write_text(config, yaml.safe_dump(cfg, sort_keys=False))
    argv = rismodel_command() + ["train", "--config", str(config), "--out", str(run_dir)]
    if init:
        argv += ["--init", init]
    return argv, config


class FineTuneJob(QObject):
    """``rismodel train`` in a QProcess (never the GUI's process or its GIL); parses ``step i/n`` and
    the final weights. No window of its own: the caller shows :attr:`progress` where it likes."""

    progress = Signal(int, int, str)  # step, total, the log line
    finished = Signal(str, str, str)  # outcome (done | cancelled | failed), checkpoint path, log tail

    def __init__(self, argv: list[str], parent=None):
        super().__init__(parent)
        self.log: list[str] = []
        self.checkpoint = ""
        self.step, self.total = 0, 0
        self.cancelled = False
        self._over = False
        self.process = QProcess(self)
        self.process.setProcessChannelMode(QProcess.MergedChannels)
        self.process.readyReadStandardOutput.connect(self._read)
        self.process.finished.connect(self._finished)
        self.process.errorOccurred.connect(self._error)
        self.process.start(argv[0], argv[1:])

    def running(self) -> bool:
        return not self._over

    def cancel(self) -> None:
        """Stop the run (the caller asked the user first); reported as ``cancelled``."""
        self.cancelled = True
        if self.process.state() != QProcess.NotRunning:
            self.process.kill()

    def _read(self):
        text = bytes(self.process.readAllStandardOutput()).decode("utf-8", "replace")
        for line in text.splitlines():
            self.log.append(line)
            m = STEP_RE.search(line)
            if m:
                self.step, self.total = int(m.group(1)), int(m.group(2))
                self.progress.emit(self.step, self.total, line.strip())
            d = DONE_RE.search(line)
            if d:
                self.checkpoint = d.group(1)

    def _error(self, err):
        if err == QProcess.FailedToStart:
            self.log.append(f"cannot start {self.process.program()}: {self.process.errorString()}")
            self._finish("failed")

    def _finished(self, code, _status):
        self._read()
        if self.cancelled:
            self._finish("cancelled")
        else:
            self._finish("done" if code == 0 and self.checkpoint else "failed")

    def _finish(self, outcome: str):
        if not self._over:  # FailedToStart may be followed by finished: report once
            self._over = True
            self.finished.emit(outcome, self.checkpoint, "\n".join(self.log[-15:]))
