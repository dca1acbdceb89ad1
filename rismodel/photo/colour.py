"""Colour words measured on an object's pixels: each pixel of the central part of the box (an
ellipse inscribed in the inner 70 %, which holds more object and less background than the box)
gets one colour name from its HSV value; an object's score for a colour is that name's share of
its pixels."""

from __future__ import annotations

import numpy as np

COLOURS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white", "gray")
ALIASES = {"grey": "gray", "silver": "gray", "golden": "yellow", "gold": "yellow", "violet": "purple",
           "navy": "blue", "tan": "brown", "beige": "brown", "cyan": "blue",
           "turquoise": "blue", "maroon": "red", "crimson": "red", "blond": "yellow", "blonde": "yellow"}


def colour_word(word: str) -> str | None:
    word = word.lower()
    if word in COLOURS:
        return word
    return ALIASES.get(word)


def pixel_colours(rgb: np.ndarray) -> np.ndarray:
    """``[N, 3]`` uint8 RGB -> ``[N]`` index into :data:`COLOURS`."""
    import cv2

    hsv = cv2.cvtColor(rgb.reshape(-1, 1, 3), cv2.COLOR_RGB2HSV).reshape(-1, 3).astype(np.int32)
    h, s, v = hsv[:, 0], hsv[:, 1], hsv[:, 2]  # h in 0..179
    out = np.full(len(h), COLOURS.index("gray"))
    chroma = (s >= 50) & (v >= 50)
    hue = np.select([(h < 8) | (h >= 170), h < 20, h < 34, h < 85, h < 130, h < 150, h < 170],
                    [0, 1, 2, 3, 4, 5, 6], 0)
    out = np.where(chroma, hue, out)
    # dark oranges/reds are brown; light desaturated reds are pink
    brown = ((h >= 8) & (h < 30) & (v < 160)) | ((hue == 0) & (v < 100))
    out = np.where(chroma & brown, COLOURS.index("brown"), out)
    out = np.where((hue == 0) & (s < 120) & (v >= 180) & chroma, COLOURS.index("pink"), out)
    out = np.where(v < 50, COLOURS.index("black"), out)
    out = np.where((s < 50) & (v >= 190), COLOURS.index("white"), out)
    return out


def region_pixels(image: np.ndarray, box, mask: np.ndarray | None = None) -> np.ndarray:
    x1, y1, x2, y2 = (round(v) for v in box)
    crop = image[y1:y2, x1:x2]
    if crop.size == 0:
        return np.zeros((0, 3), np.uint8)
    if mask is not None:
        sel = mask[y1:y2, x1:x2]
        if sel.sum() >= 20:
            return crop[sel]
    hh, ww = crop.shape[:2]
    yy, xx = np.mgrid[0:hh, 0:ww]
    ell = ((xx - ww / 2) / (0.35 * ww)) ** 2 + ((yy - hh / 2) / (0.35 * hh)) ** 2 <= 1.0
    return crop[ell] if ell.any() else crop.reshape(-1, 3)


def colour_shares(image: np.ndarray, box, mask: np.ndarray | None = None) -> dict[str, float]:
    px = region_pixels(image, box, mask)
    if len(px) == 0:
        return {c: 0.0 for c in COLOURS}
    if len(px) > 4000:  # a sample is enough for shares, and keeps set_image fast on big boxes
        px = px[np.linspace(0, len(px) - 1, 4000).astype(int)]
    counts = np.bincount(pixel_colours(px), minlength=len(COLOURS))
    return {c: float(n) / len(px) for c, n in zip(COLOURS, counts)}
