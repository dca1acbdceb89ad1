"""Polygons and boxes drawn by hand -> full-resolution bool masks, and a mask -> editable polygon.

Points are in image pixels (scene coordinates of the canvas, pixel centres at +0.5). Shapes are
filled on their bounding rows only, as the brush works on its box, so a small polygon on a
24-megapixel photo stays cheap.
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def polygon_mask(points: list[tuple[float, float]], h: int, w: int) -> np.ndarray:
    """The filled polygon (at least 3 vertices, even-odd rule) as a bool ``[h, w]`` mask: a pixel is
    inside exactly when its centre is, so a polygon along pixel edges gives exactly those pixels.

    A scanline fill on the polygon's bounding rows (OpenCV's fillPoly also fills the pixels its
    edges touch, one pixel too many on the right and bottom)."""
    if len(points) < 3:
        raise ValueError("a polygon needs at least 3 points")
    pts = np.asarray(points, np.float64)
    out = np.zeros((h, w), bool)
    r0, r1 = max(0, math.floor(pts[:, 1].min())), min(h, math.ceil(pts[:, 1].max()))
    if r0 >= r1:
        return out
    (xa, ya), (xb, yb) = pts.T, np.roll(pts, -1, axis=0).T
    yc = np.arange(r0, r1, dtype=np.float64)[:, None] + 0.5  # row centres [R, 1]
    crosses = (ya <= yc) != (yb <= yc)  # [R, E]: the edge spans the centre line (half-open)
    with np.errstate(divide="ignore", invalid="ignore"):
        xs = np.where(crosses, xa + (yc - ya) * (xb - xa) / (yb - ya), np.inf)
    xs.sort(axis=1)
    n = crosses.sum(axis=1)
    for i, row in enumerate(xs):
        for left, right in zip(row[0:n[i]:2], row[1:n[i]:2]):
            c0, c1 = max(0, math.ceil(left - 0.5)), min(w, math.ceil(right - 0.5))
            out[r0 + i, c0:c1] = True
    return out


def box_mask(p0: tuple[float, float], p1: tuple[float, float], h: int, w: int) -> np.ndarray:
    """The axis-aligned box between two corners (any order): every pixel it covers at least half."""
    xa, xb = sorted((p0[0], p1[0]))
    ya, yb = sorted((p0[1], p1[1]))
    out = np.zeros((h, w), bool)
    c0, c1 = (min(max(round(v), 0), w) for v in (xa, xb))  # clamped: a negative end would wrap
    r0, r1 = (min(max(round(v), 0), h) for v in (ya, yb))
    out[r0:r1, c0:c1] = True
    return out


def mask_polygon(mask: np.ndarray, tolerance: float = 1.0) -> list[tuple[float, float]]:
    """The outline of a one-piece mask without holes as polygon vertices (scene coordinates),
    simplified with Douglas-Peucker at ``tolerance`` pixels, for vertex editing; [] for an empty
    mask or one with several parts or holes (one polygon would drop them)."""
    m = np.asarray(mask, np.uint8)
    contours, _ = cv2.findContours(m, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if len(contours) != 1:
        return []
    c = max(contours, key=cv2.contourArea)
    c = cv2.approxPolyDP(c, tolerance, True)[:, 0, :]
    return [(float(x) + 0.5, float(y) + 0.5) for x, y in c]
