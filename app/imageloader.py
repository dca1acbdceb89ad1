"""Decode images off the GUI thread (a 6000x4000 JPEG takes a noticeable fraction of a second).

``rismodel.imageio.load_image`` gives the upright array used for both display and inference, so
the mask and the picture always share one orientation. The display QImage is built here too (a
QImage, unlike a QPixmap, may be made outside the GUI thread) and downscaled when it would pass
Qt's 256 MB image allocation limit; the canvas scales it back so scene coordinates stay in
full-resolution image pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtGui import QImage

from rismodel.imageio import load_image

MAX_DISPLAY_BYTES = 200 * 1024 * 1024  # below QImageReader's 256 MB default allocation limit
PREVIEW_SIDE = 2048  # longest side of the preview shown while zoomed out


def _rgb32(rgb: np.ndarray) -> QImage:
    """``[H, W, 3]`` -> QImage in the raster pixmap's native format (no conversion in the GUI thread)."""
    h, w = rgb.shape[:2]
    bgra = np.empty((h, w, 4), np.uint8)
    bgra[..., 0], bgra[..., 1], bgra[..., 2], bgra[..., 3] = rgb[..., 2], rgb[..., 1], rgb[..., 0], 255
    return QImage(bgra.data, w, h, w * 4, QImage.Format_RGB32).copy()


def to_qimage(rgb: np.ndarray) -> tuple[QImage, int]:
    """``[H, W, 3]`` uint8 -> (QImage owning its pixels, integer display step)."""
    h, w = rgb.shape[:2]
    step = max(1, math.ceil(math.sqrt(h * w * 4 / MAX_DISPLAY_BYTES)))
    return _rgb32(rgb[::step, ::step]), step


def to_preview(rgb: np.ndarray) -> tuple[QImage, float] | None:
    """A smoothly downscaled copy for zoomed-out display, and its scale; None for small images."""
    h, w = rgb.shape[:2]
    if max(h, w) <= PREVIEW_SIDE:
        return None
    f = PREVIEW_SIDE / max(h, w)
    small = np.asarray(Image.fromarray(rgb).resize((max(1, round(w * f)), max(1, round(h * f))), Image.BILINEAR))
    return _rgb32(small), w / small.shape[1]


@dataclass
class DisplayImage:
    full: QImage  # the image (subsampled by ``step`` only past Qt's allocation limit)
    step: int
    preview: tuple[QImage, float] | None  # (small copy, its scale) for big images
    size: tuple[int, int]  # full-resolution (width, height)


class _Signals(QObject):
    loaded = Signal(int, str, object, object)  # generation, key, array, DisplayImage
    failed = Signal(int, str, str)  # generation, key, message


class _Job(QRunnable):
    def __init__(self, signals, generation, key, path):
        super().__init__()
        self.signals, self.generation, self.key, self.path = signals, generation, key, path

    def run(self):
        try:
            rgb = load_image(self.path)
            qimage, step = to_qimage(rgb)
            display = DisplayImage(qimage, step, to_preview(rgb), (rgb.shape[1], rgb.shape[0]))
            self.signals.loaded.emit(self.generation, self.key, rgb, display)
        except Exception as e:  # noqa: BLE001 - any unreadable file becomes a message
            self.signals.failed.emit(self.generation, self.key, str(e) or type(e).__name__)


class ImageLoader(QObject):
    """``load(key, path)``; only the newest load is reported (older ones are dropped)."""

    loaded = Signal(str, object, object)  # key, rgb array, DisplayImage
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

    def _on_loaded(self, gen, key, rgb, display):
        if gen == self._generation:
            self.loaded.emit(key, rgb, display)

    def _on_failed(self, gen, key, message):
        if gen == self._generation:
            self.failed.emit(key, message)
