"""Brush and eraser strokes on a full-resolution mask, and overlay rendering (Qt-free).

The canvas only records the stroke (points in image pixels, a radius); this module rasterises it
with OpenCV on the stroke's bounding box, so a stroke on a 24-megapixel mask touches only the
pixels near it.
"""

from __future__ import annotations

import itertools
import math

import cv2
import numpy as np

MAX_OVERLAY_PIXELS = 4_000_000  # overlays above this are drawn subsampled (see overlay_step)


def apply_stroke(mask: np.ndarray, points: list[tuple[float, float]], radius: float,
                 erase: bool = False) -> np.ndarray:
    """A new bool mask with the round-capped polyline through ``points`` painted (or erased)."""
    out = mask.copy()
    if not points:
        return out
    h, w = mask.shape
    r = max(1, round(radius))
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, y0 = max(0, math.floor(min(xs)) - r - 1), max(0, math.floor(min(ys)) - r - 1)
    x1, y1 = min(w, math.ceil(max(xs)) + r + 2), min(h, math.ceil(max(ys)) + r + 2)
    if x0 >= x1 or y0 >= y1:
        return out
    patch = np.zeros((y1 - y0, x1 - x0), np.uint8)
    pts = [(round(x - x0), round(y - y0)) for x, y in points]
    for p in pts:
        cv2.circle(patch, p, r, 1, -1)
    for a, b in itertools.pairwise(pts):
        cv2.line(patch, a, b, 1, 2 * r + 1)
    region = out[y0:y1, x0:x1]
    region[patch.astype(bool)] = not erase
    return out


def overlay_step(h: int, w: int) -> int:
    """Integer subsampling that keeps an overlay under MAX_OVERLAY_PIXELS."""
    return max(1, math.ceil(math.sqrt(h * w / MAX_OVERLAY_PIXELS)))


def render_overlay(layers: list[tuple[np.ndarray, tuple[int, int, int], float]], step: int = 1,
                   outline: np.ndarray | None = None) -> np.ndarray:
    """``[(mask, rgb, opacity)]`` -> premultiplication-free RGBA ``[h, w, 4]`` uint8, later on top.

    ``outline``: a mask whose border is drawn opaque (the selected annotation).
    """
    if not layers and outline is None:
        raise ValueError("nothing to render")
    shape = (layers[0][0] if layers else outline)[::step, ::step].shape
    rgba = np.zeros(shape + (4,), np.uint8)
    if len(layers) == 1:  # the live mask: broadcasting is several times faster than a boolean scatter
        mask, rgb, opacity = layers[0]
        m = mask[::step, ::step]
        rgba[..., :3] = rgb
        rgba[..., 3] = m * np.uint8(round(255 * opacity))
        layers = []
    for mask, rgb, opacity in layers:
        m = mask[::step, ::step]
        rgba[m] = (*rgb, round(255 * opacity))
    if outline is not None:
        m = outline[::step, ::step].astype(np.uint8)
        edge = cv2.morphologyEx(m, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)).astype(bool) & m.astype(bool)
        rgba[edge] = (255, 255, 255, 255)
    return rgba
