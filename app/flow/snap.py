"""Snap the live mask to the image's edges (rismodel.refine, GrabCut from the model's mask) without
blocking the GUI: the refinement of a result runs on a worker thread (OpenCV releases the GIL);
until it arrives the unrefined mask is shown, and keeping waits for it (computes it at once), so
what is kept is always the refined mask of the result on screen.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import shiboken6
from PySide6.QtCore import QObject, Signal

from rismodel import refine


def logits_side(window) -> int:
    """The side of the model's mask logits (1/4 of its input size), from the loaded model's info."""
    info = window.model_info or {}
    return max(1, int(info.get("image_size") or 192) // 4)


def snap_mask(image: np.ndarray, mask: np.ndarray, side: int) -> np.ndarray:
    return refine.grabcut_mask(image, mask, logits_side=side)


def _snap_prob(image: np.ndarray, prob: np.ndarray, threshold: float, side: int) -> np.ndarray:
    return snap_mask(image, prob >= threshold, side)


class LiveSnap(QObject):
    ready = Signal()  # a refined live mask arrived: redraw

    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="snap")
        self._key = None  # (id of the live result, threshold) the cached/pending mask belongs to
        self._mask: np.ndarray | None = None
        self._future = None
        window.prompt.snap.setChecked(window.settings.value("snap_edges", "true") == "true")
        self.ready.connect(window._render_live)
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
            args = (self.w.image, live.result["prob"], live.threshold, logits_side(self.w))
            self._future = self._pool.submit(_snap_prob, *args)
            self._future.add_done_callback(lambda f, k=key: self._done(f, k))
        if self._mask is None and wait:
            self._mask = self._future.result()
        return shown if self._mask is None else self._mask[::step, ::step]

    def _done(self, future, key) -> None:  # on the snap thread
        if key == self._key and not future.cancelled() and future.exception() is None:
            self._mask = future.result()
            if shiboken6.isValid(self):  # the window may have closed meanwhile
                self.ready.emit()  # queued to the GUI thread

    def save(self) -> None:
        self.w.settings.setValue("snap_edges", "true" if self.enabled() else "false")
