"""Live segmentation state on the GUI side: sequence numbers, stale-result dropping, threshold.

The GUI never waits on the model: :meth:`LiveSegmenter.set_text` tags a request with a new
sequence number and returns at once. A result is used only if its number is the newest one sent
and it belongs to the image on screen; anything else is counted in ``dropped`` and ignored. The
probability map is kept, so the threshold slider re-thresholds without recomputing.

``result`` is only ever the result computed for the text and image shown now: a new request moves
it to ``stale`` (drawn faded, never kept, never reported as the verdict). A keep asked for while
the request is in flight waits for its result (:meth:`request_keep`, ``keepReady``) and is
forgotten if the text or the image changes first.

A result whose model rejects absent targets (``rejects_absent``: LQMFormer's no-object head, an
LGFormer with a presence head) and whose presence probability is below 0.5 is a *no target*: no
mask is shown or kept, unless the user asked to see rejected masks (``show_rejected``, a viewing
preference for the session, off at start); then the thresholded map is shown and kept as usual and
the verdict says the model said no target.
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
    keepReady = Signal()  # the result a pending keep waited for has arrived
    keepDropped = Signal(str)  # a pending keep was forgotten (why)

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
        self.result: dict | None = None  # computed for (self.key, self.text), else None
        self.stale: dict | None = None  # the previous result of this image while a new one computes
        self.pending_keep = False
        self.show_rejected = False  # draw (and keep) a no-target result's mask anyway
        worker.result.connect(self._on_result)
        worker.error.connect(self._on_error)

    def set_image(self, key: str | None, image: np.ndarray | None) -> None:
        self.key, self.image, self.result, self.stale = key, image, None, None  # another image's mask: never shown
        self._request()

    def set_text(self, text: str) -> None:
        text = " ".join(text.split())
        if text == self.text and (self.busy or self.result is not None):
            return  # the same expression again (Enter flushing the box): keep the request in flight
        self.text = text
        self._request()

    def refresh(self) -> None:
        """Ask again (after a model change)."""
        self.result, self.stale = None, None
        self._request()

    def request_keep(self) -> str:
        """``ready`` (``mask()`` is the current text's), ``pending`` (computing: ``keepReady`` follows)
        or ``nothing`` (no text or no image)."""
        if self.result is not None:
            return "ready"
        if self.busy:
            self.pending_keep = True
            return "pending"
        return "nothing"

    def set_show_rejected(self, on: bool) -> None:
        self.show_rejected = bool(on)
        self.changed.emit()

    def set_threshold(self, t: float) -> None:
        self.threshold = float(t)
        self.changed.emit()

    def _request(self) -> None:
        self.seq += 1  # even a cleared box gets a number, so an older result cannot show up
        self._drop_keep("the expression or the image changed before its mask arrived")
        if self.result is not None:
            self.stale = self.result
        self.result = None
        if self.text and self.image is not None:
            self.worker.request(self.seq, self.key, self.image, self.text)
            self._set_busy(True)
        else:
            self.stale = None
            self._set_busy(False)
        self.changed.emit()

    def _drop_keep(self, why: str) -> None:
        if self.pending_keep:
            self.pending_keep = False
            self.keepDropped.emit(why)

    def _set_busy(self, busy: bool) -> None:
        if busy != self.busy:
            self.busy = busy
            self.busyChanged.emit(busy)

    def _on_result(self, seq: int, key: str, out: dict) -> None:
        if seq != self.seq or key != self.key:
            self.dropped += 1
            return
        self.result, self.stale = out, None
        self._set_busy(False)
        self.latencyMeasured.emit(out["latency_ms"], out["device"])
        self.changed.emit()
        if self.pending_keep:
            self.pending_keep = False
            self.keepReady.emit()

    def _on_error(self, seq: int, message: str) -> None:
        if seq != self.seq:
            self.dropped += 1
            return
        self.result, self.stale = None, None
        self._set_busy(False)
        self._drop_keep("the model failed on this expression")
        self.failed.emit(message)
        self.changed.emit()

    # ----- what to show ---------------------------------------------------------------------
    def no_target(self, r: dict | None = None) -> bool:
        """The model's presence score rejected the result (shown only with ``show_rejected``)."""
        r = self.result if r is None else r
        return r is not None and bool(r.get("rejects_absent")) and r["score"] < 0.5

    def mask(self, step: int = 1) -> np.ndarray | None:
        """The thresholded mask of the current text (full resolution, or every ``step``-th pixel for
        display), or None when it is not computed yet or the presence score rejected it (unless
        ``show_rejected``)."""
        return self._threshold(self.result, step)

    def stale_mask(self, step: int = 1) -> np.ndarray | None:
        """The previous expression's mask while the current one computes (to draw faded), or None."""
        return self._threshold(self.stale, step)

    def _threshold(self, r: dict | None, step: int) -> np.ndarray | None:
        if r is None or (self.no_target(r) and not self.show_rejected):
            return None
        return r["prob"][::step, ::step] >= self.threshold

    def why_nothing_to_keep(self) -> str:
        if self.no_target() and not self.show_rejected:
            return "the model says there is no target (tick \u201cShow rejected mask\u201d to keep its mask anyway)"
        return "type an expression and wait for a mask"

    def verdict(self, step: int = 1) -> tuple[str, str]:
        """(text, level) with level ok | warn | none; ``step`` subsamples the pixel count."""
        r = self.result
        if r is None:
            if not self.busy:
                return "Type an expression to see its mask.", "ok"
            shown = f" (faded: the mask of \u201c{self.stale['text']}\u201d)" if self.stale else ""
            return f"Computing \u201c{self.text}\u201d\u2026{shown}", "warn" if self.stale else "ok"
        score = r["score"]
        note = " (expression truncated)" if r.get("truncated") else ""
        if r.get("explanation"):  # photo-coco: the chosen class and the rule that decided
            note += f" \u2014 {r['explanation']}"
        if self.no_target() and not self.show_rejected:
            return f"No target: the model's presence head says nothing matches (p = {score:.2f}).{note}", "none"
        m = self.mask(step)
        if self.no_target():  # shown because the user asked for it (kept short: the panel is narrow)
            said = f"No target, says the model (p = {score:.2f})"
            if not m.any():
                return f"{said}; shown on request, but no pixel is above {self.threshold:.2f}.{note}", "none"
            approx = "\u2248 " if step > 1 else ""
            return f"{said}; its mask is shown on request: {approx}{int(m.sum()) * step * step} px.{note}", "warn"
        if not m.any():
            return f"No pixel above the threshold {self.threshold:.2f} (presence p = {score:.2f}).{note}", "none"
        if score < 0.5:
            return f"Probably no target (presence p = {score:.2f}); the mask is shown anyway.{note}", "warn"
        if score < UNSURE_SCORE:
            return f"Unsure (presence p = {score:.2f}); check the mask.{note}", "warn"
        approx = "\u2248 " if step > 1 else ""
        return f"Target found: {approx}{int(m.sum()) * step * step} px (presence p = {score:.2f}).{note}", "ok"
