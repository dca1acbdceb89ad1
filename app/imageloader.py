"""Decode images off the GUI thread (a 6000x4000 JPEG takes a noticeable fraction of a second).

``rismodel.imageio.load_image`` gives the upright array used for both display and inference, so
the mask and the picture always share one orientation. The display QImage is built here too (a
QImage, unlike a QPixmap, may be made outside the GUI thread) and downscaled when it would pass
Qt's 256 MB image allocation limit; the canvas scales it back so scene coordinates stay in
full-resolution image pixels.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtGui import QImage

from rismodel.imageio import load_image

MAX_DISPLAY_BYTES = 200 * 1024 * 1024  # below QImageReader's 256 MB default allocation limit


def to_qimage(rgb: np.ndarray) -> tuple[QImage, int]:
    """``[H, W, 3]`` uint8 -> (QImage owning its pixels, integer display step)."""
    h, w = rgb.shape[:2]
    step = max(1, math.ceil(math.sqrt(h * w * 4 / MAX_DISPLAY_BYTES)))
    small = np.ascontiguousarray(rgb[::step, ::step]) if step > 1 else np.ascontiguousarray(rgb)
    sh, sw = small.shape[:2]
    return QImage(small.data, sw, sh, sw * 3, QImage.Format_RGB888).copy(), step


class _Signals(QObject):
    loaded = Signal(int, str, object, object, int)  # generation, key, array, QImage, step
    failed = Signal(int, str, str)  # generation, key, message


class _Job(QRunnable):
    def __init__(self, signals, generation, key, path):
        super().__init__()
        self.signals, self.generation, self.key, self.path = signals, generation, key, path

    def run(self):
        try:
            rgb = load_image(self.path)
            qimage, step = to_qimage(rgb)
            self.signals.loaded.emit(self.generation, self.key, rgb, qimage, step)
        except Exception as e:  # noqa: BLE001 - any unreadable file becomes a message
            self.signals.failed.emit(self.generation, self.key, str(e) or type(e).__name__)


class ImageLoader(QObject):
    """``load(key, path)``; only the newest load is reported (older ones are dropped)."""

    loaded = Signal(str, object, object, int)  # key, rgb array, QImage, display step
    failed = Signal(str, str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._generation = 0
        self._signals = _Signals()
        self._signals.loaded.connect(self._on_loaded)
        self._signals.failed.connect(self._on_failed)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)

    def load(self, key: str, path: str) -> None:
        self._generation += 1
        self.pool.start(_Job(self._signals, self._generation, key, path))

    def _on_loaded(self, gen, key, rgb, qimage, step):
        if gen == self._generation:
            self.loaded.emit(key, rgb, qimage, step)

    def _on_failed(self, gen, key, message):
        if gen == self._generation:
            self.failed.emit(key, message)
