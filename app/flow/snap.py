"""Snap the live mask to the image's edges (rismodel.refine, GrabCut from the model's mask) without
blocking the GUI: the refinement of a result runs on a worker thread (OpenCV releases the GIL);
until it arrives the unrefined mask is shown, and Enter defers the keep until it arrives, so what
is kept is always the snapped mask of the result on screen. A newer result or threshold drops a
pending snap (and a deferred keep with it).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import shiboken6
from PySide6.QtCore import QObject, Signal

from rismodel import refine

log = logging.getLogger(__name__)


def logits_side(window) -> int:
    """The side of the model's mask logits (1/4 of its input size), from the loaded model's info."""
    info = window.model_info or {}
    return max(1, int(info.get("image_size") or 192) // 4)


def snap_mask(image: np.ndarray, mask: np.ndarray, side: int) -> np.ndarray:
    return refine.grabcut_mask(image, mask, logits_side=side)


def _snap_prob(image: np.ndarray, prob: np.ndarray, threshold: float, side: int) -> np.ndarray:
    return snap_mask(image, prob >= threshold, side)


class LiveSnap(QObject):
    ready = Signal(object, object)  # key, snapped mask: from the snap thread to the GUI thread

    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="snap")
        self._key = None  # (id of the live result, threshold) the cached/pending mask belongs to
        self._result = None
        self._mask: np.ndarray | None = None
        self._future = None
        self._keep_key = None  # Enter came while snapping: keep when this key's mask arrives
        window.prompt.snap.setChecked(window.settings.value("snap_edges", "true") == "true")
        self.ready.connect(self._on_ready)
        window.prompt.snapChanged.connect(lambda _on: window._render_live())
        window.destroyed.connect(lambda *_: self._pool.shutdown(wait=False, cancel_futures=True))

    def enabled(self) -> bool:
        return self.w.prompt.snap.isChecked()

    def mask(self, step: int = 1, wait: bool = False) -> np.ndarray | None:
        """The live mask to show (every ``step``-th pixel) or keep (``wait=True``: the refined one
        for sure). Without snapping, the live segmenter's own mask. Only the subsampled mask is
        thresholded here; the full-resolution work runs on the snap thread."""
        live = self.w.live
        shown = live.mask(step)
        if shown is None or not self.enabled() or self.w.image is None or not shown.any():
            return shown
        key = (id(live.result), live.threshold)
        if key != self._key:
            self._key, self._mask = key, None
            self._result = live.result  # held, so that its id cannot be reused by a newer result
            args = (self.w.image, live.result["prob"], live.threshold, logits_side(self.w))
            self._future = self._pool.submit(_snap_prob, *args)
            self._future.add_done_callback(lambda f, k=key: self._done(f, k))
        if self._mask is None and wait:
            try:
                self._mask = self._future.result()
            except Exception:  # OpenCV failed on this image: keep the model's mask
                log.exception("snapping to edges failed")
                self._mask = live.mask()
        return shown if self._mask is None else self._mask[::step, ::step]

    def defer_keep(self) -> bool:
        """Enter while the live mask is still being snapped: keep it once snapped (the GUI stays
        responsive meanwhile). True when the keep was deferred."""
        if self.mask() is None or self._mask is not None or self._future is None or self._future.done():
            return False
        self._keep_key = self._key
        self.w.statusBar().showMessage("Snapping the mask to the image's edges: it is kept as soon as "
                                       "that is done.", 8000)
        return True

    def _done(self, future, key) -> None:  # on the snap thread
        if not future.cancelled() and future.exception() is None and shiboken6.isValid(self):
            self.ready.emit(key, future.result())  # queued to the GUI thread

    def _on_ready(self, key, mask) -> None:
        if key != self._key:
            return  # a newer result or threshold replaced it
        self._mask = mask
        self.w._render_live()
        if self._keep_key == key:
            self._keep_key = None
            self.w.keep_mask()

    def save(self) -> None:
        self.w.settings.setValue("snap_edges", "true" if self.enabled() else "false")
