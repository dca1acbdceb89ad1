"""Live segmentation state on the GUI side: sequence numbers, stale-result dropping, threshold.

The GUI never waits on the model: :meth:`LiveSegmenter.set_text` tags a request with a new
sequence number and returns at once. A result is used only if its number is the newest one sent
and it belongs to the image on screen; anything else is counted in ``dropped`` and ignored. The
probability map is kept, so the threshold slider re-thresholds without recomputing.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal

UNSURE_SCORE = 0.65  # presence probability below this (but >= 0.5) is reported as unsure


class LiveSegmenter(QObject):
    changed = Signal()  # mask or verdict changed
    busyChanged = Signal(bool)
    latencyMeasured = Signal(float, str)  # ms, device
    failed = Signal(str)

    def __init__(self, worker, parent=None):
        super().__init__(parent)
        self.worker = worker
        self.seq = 0
        self.dropped = 0
        self.busy = False
        self.key: str | None = None
        self.image: np.ndarray | None = None
        self.text = ""
        self.threshold = 0.5
        self.result: dict | None = None
        worker.result.connect(self._on_result)
        worker.error.connect(self._on_error)

    def set_image(self, key: str | None, image: np.ndarray | None) -> None:
        self.key, self.image, self.result = key, image, None
        self._request()

    def set_text(self, text: str) -> None:
        self.text = " ".join(text.split())
        self._request()

    def refresh(self) -> None:
        """Ask again (after a model change)."""
        self.result = None
        self._request()

    def set_threshold(self, t: float) -> None:
        self.threshold = float(t)
        self.changed.emit()

    def _request(self) -> None:
        self.seq += 1  # even a cleared box gets a number, so an older result cannot show up
        if self.text and self.image is not None:
            self.worker.request(self.seq, self.key, self.image, self.text)
            self._set_busy(True)
        else:
            self.result = None
            self._set_busy(False)
        self.changed.emit()

    def _set_busy(self, busy: bool) -> None:
        if busy != self.busy:
            self.busy = busy
            self.busyChanged.emit(busy)

    def _on_result(self, seq: int, key: str, out: dict) -> None:
        if seq != self.seq or key != self.key:
            self.dropped += 1
            return
        self.result = out
        self._set_busy(False)
        self.latencyMeasured.emit(out["latency_ms"], out["device"])
        self.changed.emit()

    def _on_error(self, seq: int, message: str) -> None:
        if seq != self.seq:
            self.dropped += 1
            return
        self.result = None
        self._set_busy(False)
        self.failed.emit(message)
        self.changed.emit()

    # ----- what to show ---------------------------------------------------------------------
    def no_target(self) -> bool:
        r = self.result
        return r is not None and r["no_object_head"] and r["score"] < 0.5

    def mask(self, step: int = 1) -> np.ndarray | None:
        """The thresholded mask (full resolution, or every ``step``-th pixel for display), or None
        when nothing is computed or the no-object head says there is no target."""
        if self.result is None or self.no_target():
            return None
        return self.result["prob"][::step, ::step] >= self.threshold

    def verdict(self, step: int = 1) -> tuple[str, str]:
        """(text, level) with level ok | warn | none; ``step`` subsamples the pixel count."""
        r = self.result
        if r is None:
            return ("Working\u2026" if self.busy else "Type an expression to see its mask."), "ok"
        score = r["score"]
        note = " (expression truncated)" if r.get("truncated") else ""
        if self.no_target():
            return f"No target: the model's no-object head says nothing matches (p = {score:.2f}).{note}", "none"
        m = self.mask(step)
        if not m.any():
            return f"No pixel above the threshold {self.threshold:.2f} (presence p = {score:.2f}).{note}", "none"
        if score < 0.5:
            return f"Probably no target (presence p = {score:.2f}); the mask is shown anyway.{note}", "warn"
        if score < UNSURE_SCORE:
            return f"Unsure (presence p = {score:.2f}); check the mask.{note}", "warn"
        approx = "\u2248 " if step > 1 else ""
        return f"Target found: {approx}{int(m.sum()) * step * step} px (presence p = {score:.2f}).{note}", "ok"
