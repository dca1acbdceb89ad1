"""Polygons and boxes drawn by hand -> full-resolution bool masks, and a mask -> editable polygon.

Points are in image pixels (scene coordinates of the canvas, pixel centres at +0.5). OpenCV fills
the shape on its bounding box only, as the brush does, so a box on a 24-megapixel photo stays cheap.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

SHIFT = 4  # cv2 sub-pixel bits: vertices keep 1/16-pixel precision


def polygon_mask(points: list[tuple[float, float]], h: int, w: int) -> np.ndarray:
    """The filled polygon (at least 3 vertices) as a bool ``[h, w]`` mask; a pixel is inside when its
    centre is (up to OpenCV's rasterisation)."""
    if len(points) < 3:
        raise ValueError("a polygon needs at least 3 points")
    pts = np.asarray(points, np.float64) - 0.5  # pixel centres sit at +0.5 in scene coordinates
    out = np.zeros((h, w), bool)
    x0, y0 = max(0, math.floor(pts[:, 0].min())), max(0, math.floor(pts[:, 1].min()))
    x1, y1 = min(w, math.ceil(pts[:, 0].max()) + 1), min(h, math.ceil(pts[:, 1].max()) + 1)
    if x0 >= x1 or y0 >= y1:
        return out
    patch = np.zeros((y1 - y0, x1 - x0), np.uint8)
    fixed = np.round((pts - (x0, y0)) * (1 << SHIFT)).astype(np.int32)
    cv2.fillPoly(patch, [fixed], 1, lineType=cv2.LINE_8, shift=SHIFT)
    out[y0:y1, x0:x1] = patch.astype(bool)
    return out


def box_mask(p0: tuple[float, float], p1: tuple[float, float], h: int, w: int) -> np.ndarray:
    """The axis-aligned box between two corners (any order): every pixel it covers at least half."""
    xa, xb = sorted((p0[0], p1[0]))
    ya, yb = sorted((p0[1], p1[1]))
    out = np.zeros((h, w), bool)
    c0, c1 = max(0, round(xa)), min(w, round(xb))
    r0, r1 = max(0, round(ya)), min(h, round(yb))
    out[r0:r1, c0:c1] = True
    return out


def mask_polygon(mask: np.ndarray, tolerance: float = 1.0) -> list[tuple[float, float]]:
    """The outline of the mask's largest part as polygon vertices (scene coordinates), simplified with
    Douglas-Peucker at ``tolerance`` pixels, for vertex editing; [] for an empty mask."""
    m = np.asarray(mask, np.uint8)
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return []
    c = max(contours, key=cv2.contourArea)
    c = cv2.approxPolyDP(c, tolerance, True)[:, 0, :]
    return [(float(x) + 0.5, float(y) + 0.5) for x, y in c]
