"""Image loading shared by the predictor, the app and the datasets.

One door for every image: a path, raw bytes or a PIL image come out as an upright
(EXIF orientation applied) ``uint8 [H, W, 3]`` RGB array, whatever the stored mode:

- RGB, L, 1-bit, CMYK, YCbCr: converted by Pillow.
- RGBA, LA, PA and palette/greyscale/RGB images with a ``transparency`` entry: composited on
  white (transparent pixels of screenshots and logos are meant to be seen on a light page; the
  RGB values hidden under alpha 0 are arbitrary). :func:`load_image_rgba` keeps the alpha.
- 16-bit and 32-bit greyscale (I;16*, I, F): scaled to 0..255 by the image's maximum (and its
  minimum when negative), never clipped, so a 12-bit sensor image is not a white sheet.

Every failure is an :class:`ImageLoadError` naming the file and the reason: missing, not an
image, truncated, corrupt, or larger than ``max_pixels`` (Pillow's decompression-bomb warning
and error are turned into this error too).
"""

from __future__ import annotations

import io
import os
import struct
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError


def _max_pixels_setting() -> int:
    """The pixel limit: 64 megapixels (8000x8000), or RISMODEL_MAX_PIXELS when set to a number."""
    try:
        return max(1, int(float(os.environ.get("RISMODEL_MAX_PIXELS", ""))))
    except ValueError:
        return 64_000_000


# 64 megapixels covers every camera photo up to 61 MP full frame. A predicted image costs about
# 12 bytes per pixel at its original size (RGB, float probabilities, mask), so the limit bounds a
# prediction at well under 1 GB; a 100 MP PNG (9999x9999) took 1.9 GB before it was enforced.
DEFAULT_MAX_PIXELS = _max_pixels_setting()
# Pillow's own decompression-bomb guard, set deliberately to the same figure: it warns above it
# (silenced below: our check decides) and raises above twice it, before anything is decoded.
Image.MAX_IMAGE_PIXELS = DEFAULT_MAX_PIXELS

ImageSource = str | os.PathLike | bytes | bytearray | Image.Image
# What Pillow's EXIF parser raises on a malformed block.
_EXIF_ERRORS = (OSError, ValueError, KeyError, TypeError, IndexError, SyntaxError, struct.error,
                ZeroDivisionError)

# What Pillow's format plugins raise on malformed data besides OSError.
_DECODE_ERRORS = (ValueError, SyntaxError, struct.error, TypeError, IndexError, KeyError, EOFError,
                  ZeroDivisionError, OverflowError, MemoryError)

_EXIF_ORIENTATION = 0x0112
_HIGH_DEPTH_MODES = {"I", "F", "I;16", "I;16L", "I;16B", "I;16N"}
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}


class ImageLoadError(ValueError):
    """An image could not be loaded; ``path`` names it, ``reason`` says why."""

    def __init__(self, path: object, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot load image {self.path}: {reason}")


def _describe(src: ImageSource) -> str:
    if isinstance(src, (bytes, bytearray)):
        return f"<{len(src)} bytes>"
    if isinstance(src, Image.Image):
        return f"<PIL image {src.mode} {src.size[0]}x{src.size[1]}>"
    return str(src)


def _open(src: ImageSource, max_pixels: int | None) -> Image.Image:
    """Open lazily (header only) and enforce the pixel limit before any decoding."""
    name = _describe(src)
    if isinstance(src, Image.Image):
        img = src
    else:
        fp = io.BytesIO(bytes(src)) if isinstance(src, (bytes, bytearray)) else Path(src)
        if isinstance(fp, Path) and not fp.exists():
            raise ImageLoadError(name, "file not found")
        if isinstance(fp, Path) and fp.is_dir():
            raise ImageLoadError(name, "is a folder, not an image file")
        if isinstance(fp, Path) and not fp.is_file():  # a FIFO would block the read forever
            raise ImageLoadError(name, "not a regular file (a FIFO, device or socket)")
        try:
            with warnings.catch_warnings():
                # Our own max_pixels check below decides; Pillow's warning would only be noise.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                img = Image.open(fp)
        except Image.DecompressionBombError as e:
            raise ImageLoadError(name, f"too many pixels (decompression-bomb guard): {e}") from e
        except UnidentifiedImageError as e:
            raise ImageLoadError(name, "not an image (format not recognised)") from e
        except OSError as e:
            raise ImageLoadError(name, f"unreadable: {e}") from e
        except _DECODE_ERRORS as e:  # Pillow's plugins raise these on malformed headers
            raise ImageLoadError(name, f"corrupt image header: {e}") from e
    w, h = img.size
    if max_pixels is not None and w * h > max_pixels:
        raise ImageLoadError(name, f"{w}x{h} = {w * h / 1e6:.1f} megapixels exceeds the limit of "
                                   f"{max_pixels / 1e6:.1f} megapixels (set RISMODEL_MAX_PIXELS "
                                   "to raise it)")
    if w == 0 or h == 0:
        raise ImageLoadError(name, f"empty image ({w}x{h})")
    return img


def _decode_upright(src: ImageSource, max_pixels: int | None) -> Image.Image:
    name = _describe(src)
    img = _open(src, max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img.load()
    except Image.DecompressionBombError as e:
        raise ImageLoadError(name, f"too many pixels (decompression-bomb guard): {e}") from e
    except (OSError, *_DECODE_ERRORS) as e:
        # Pillow reports truncation as OSError("image file is truncated ...").
        raise ImageLoadError(name, f"truncated or corrupt image data: {e}") from e
    try:
        upright = ImageOps.exif_transpose(img)
    except _EXIF_ERRORS:  # malformed EXIF must not make a readable image unreadable
        upright = img
    return upright if upright is not None else img


def _scale_high_depth(img: Image.Image) -> np.ndarray:
    """16/32-bit greyscale -> uint8 [H, W] scaled by the value range (not clipped)."""
    a = np.asarray(img).astype(np.float64)
    lo = min(0.0, float(a.min()))
    hi = float(a.max())
    if hi <= lo:
        return np.zeros(a.shape, np.uint8)
    return np.rint((a - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def _to_rgba(img: Image.Image) -> np.ndarray:
    """Any mode -> uint8 [H, W, 4] (alpha 255 where the image has none)."""
    if img.mode in _HIGH_DEPTH_MODES:
        g = _scale_high_depth(img)
        return np.dstack([g, g, g, np.full_like(g, 255)])
    if img.mode in _ALPHA_MODES or "transparency" in img.info:
        return np.asarray(img.convert("RGBA"), dtype=np.uint8).copy()
    rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
    return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])


def load_image_rgba(src: ImageSource, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Upright ``uint8 [H, W, 4]`` RGBA array (alpha 255 for images without transparency)."""
    img = _decode_upright(src, max_pixels)
    try:
        return _to_rgba(img)
    except (OSError, ValueError) as e:
        raise ImageLoadError(_describe(src), f"cannot convert mode {img.mode}: {e}") from e


def composite_on_white(rgba: np.ndarray) -> np.ndarray:
    """``[H, W, 4]`` uint8 -> ``[H, W, 3]`` uint8, alpha-blended over white."""
    rgb = rgba[..., :3].astype(np.uint16)
    a = rgba[..., 3:4].astype(np.uint16)
    return ((rgb * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)


def load_image(src: ImageSource, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Upright ``uint8 [H, W, 3]`` RGB array; transparency is composited on white."""
    img = _decode_upright(src, max_pixels)
    try:
        if img.mode == "RGB" and "transparency" not in img.info:
            return np.asarray(img, dtype=np.uint8).copy()  # fast path: no alpha work
        return composite_on_white(_to_rgba(img))
    except (OSError, ValueError) as e:
        raise ImageLoadError(_describe(src), f"cannot convert mode {img.mode}: {e}") from e


def image_size_upright(src: str | os.PathLike | bytes) -> tuple[int, int]:
    """``(width, height)`` as displayed (EXIF orientation 5-8 swaps them), without decoding pixels."""
    with _open(src, max_pixels=None) as img:
        w, h = img.size
        try:
            orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
        except _EXIF_ERRORS:  # malformed EXIF: the stored size is the best answer
            orientation = 1
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)
