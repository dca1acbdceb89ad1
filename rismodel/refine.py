"""Snap a mask to the image's edges (numpy + OpenCV only: no torch, so the desktop app imports it).

The models predict at 1/4 of their input size (48x48 logits for the compact 192-pixel models), so
the bilinearly upsampled probability map has blurred, blocky edges on a photo. Two refinements:

- ``guided``: the guided filter of He, Sun and Tang (ECCV 2010 / TPAMI 2013) applied to the
  probability map with the colour image as guide, written with OpenCV box filters (opencv-python-
  headless has no ``cv2.ximgproc``). The output follows the image's edges where the map changes,
  then is thresholded as usual. The radius scales with the size of one model output cell in
  image pixels, so the filter only redistributes probability within the blur the upsampling made.
- ``grabcut``: ``cv2.grabCut`` initialised from the mask: sure foreground well inside it, sure
  background well outside, "probable" in a band around its border of about one model cell.

Both work on the mask's bounding box plus a margin, so a small object on a 24-megapixel photo
costs a small crop, not the whole image. :func:`refine` picks the method by name.
"""

from __future__ import annotations

import cv2
import numpy as np

METHODS = ("guided", "grabcut")
# Chosen on SynthRef's validation split (scripts/eval_refine.py); see docs/app.md for the figures.
GUIDED_EPS = 1e-4
GUIDED_CELLS = 2.0  # filter radius in model output cells
GRABCUT_CELLS = 1.5  # width of GrabCut's undecided band in model output cells
MAX_PIXELS = 250_000  # GrabCut works at most on this many pixels (a larger crop is scaled down): ~1 s


def cell_size(image_shape: tuple[int, ...], logits_side: int = 48) -> float:
    """Image pixels per model output cell along the longer side (the model squashes to a square)."""
    return max(image_shape[0], image_shape[1]) / float(logits_side)


def _box(a: np.ndarray, r: int) -> np.ndarray:
    return cv2.boxFilter(a, cv2.CV_32F, (2 * r + 1, 2 * r + 1), normalize=True, borderType=cv2.BORDER_REFLECT)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter with a colour guide ``[h, w, 3]`` (any dtype, scaled to [0, 1]) on a
    float map ``src`` ``[h, w]``; returns float32 ``[h, w]``."""
    g = guide.astype(np.float32)
    if guide.dtype == np.uint8:
        g /= 255.0
    p = src.astype(np.float32)
    r = max(1, int(radius))
    mean_i = _box(g, r)  # [h, w, 3]
    mean_p = _box(p, r)
    mean_ip = _box(g * p[..., None], r)
    cov_ip = mean_ip - mean_i * mean_p[..., None]  # [h, w, 3]
    # Covariance of the guide, a 3x3 matrix per pixel, and its regularised inverse.
    var = np.empty(g.shape[:2] + (3, 3), np.float32)
    for a in range(3):
        for b in range(a, 3):
            v = _box(g[..., a] * g[..., b], r) - mean_i[..., a] * mean_i[..., b]
            var[..., a, b] = var[..., b, a] = v
    var += eps * np.eye(3, dtype=np.float32)
    a_coef = np.linalg.solve(var, cov_ip[..., None])[..., 0]  # [h, w, 3]
    b_coef = mean_p - np.einsum("hwc,hwc->hw", a_coef, mean_i)
    return np.einsum("hwc,hwc->hw", _box(a_coef, r), g) + _box(b_coef, r)


def crop_box(mask: np.ndarray, margin: int = 0) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1) of the mask's pixels grown by ``margin`` (clipped), or None when empty."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    h, w = mask.shape
    return (max(0, rows[0] - margin), min(h, rows[-1] + 1 + margin),
            max(0, cols[0] - margin), min(w, cols[-1] + 1 + margin))


def refine_prob(image: np.ndarray, prob: np.ndarray, cells: float = GUIDED_CELLS, eps: float = GUIDED_EPS,
                logits_side: int = 48) -> np.ndarray:
    """The probability map after the guided filter (same shape, float32, clipped to [0, 1]); only the
    area near where ``prob`` is above 0.05 is filtered."""
    if image.shape[:2] != prob.shape:
        raise ValueError(f"image {image.shape[:2]} and probability map {prob.shape} differ in size")
    cell = cell_size(image.shape, logits_side)
    radius = max(1, round(cells * cell))
    box = crop_box(prob > 0.05, 3 * radius + 2)
    out = prob.astype(np.float32, copy=True)
    if box is None:
        return out
    y0, y1, x0, x1 = box
    rgb = image[y0:y1, x0:x1]
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    out[y0:y1, x0:x1] = guided_filter(rgb[..., :3], out[y0:y1, x0:x1], radius, eps)
    return np.clip(out, 0.0, 1.0, out=out)


def grabcut_mask(image: np.ndarray, mask: np.ndarray, band_cells: float = GRABCUT_CELLS, iterations: int = 3,
                 logits_side: int = 48, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """``cv2.grabCut`` initialised from ``mask``: a band of about ``band_cells`` model cells around its
    border is left for GrabCut to decide. Returns a bool mask; an empty mask comes back empty.

    A crop larger than ``max_pixels`` is segmented at a reduced scale and the result scaled back
    (still far finer than the model's cells), so a big object on a big photo stays fast."""
    mask = np.asarray(mask, bool)
    if image.shape[:2] != mask.shape:
        raise ValueError(f"image {image.shape[:2]} and mask {mask.shape} differ in size")
    band = max(2, round(band_cells * cell_size(image.shape, logits_side)))
    box = crop_box(mask, 3 * band + 2)
    if box is None:
        return mask.copy()
    y0, y1, x0, x1 = box
    rgb = image[y0:y1, x0:x1]
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    m = mask[y0:y1, x0:x1].astype(np.uint8)
    scale = min(1.0, (max_pixels / m.size) ** 0.5)
    if scale < 1.0:
        size = (max(1, round(m.shape[1] * scale)), max(1, round(m.shape[0] * scale)))
        rgb = cv2.resize(np.ascontiguousarray(rgb[..., :3]), size, interpolation=cv2.INTER_AREA)
        m = cv2.resize(m, size, interpolation=cv2.INTER_NEAREST)
        band = max(2, round(band * scale))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    inner, outer = cv2.erode(m, kernel), cv2.dilate(m, kernel)
    gc = np.full(m.shape, cv2.GC_BGD, np.uint8)
    gc[outer > 0] = cv2.GC_PR_BGD
    gc[m > 0] = cv2.GC_PR_FGD
    gc[inner > 0] = cv2.GC_FGD
    if not (gc == cv2.GC_BGD).any() and not (gc == cv2.GC_PR_BGD).any():
        return mask.copy()  # the mask covers the crop: nothing to separate it from
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)  # GrabCut's k-means draws from this thread's RNG: same input, same mask
    try:
        cv2.grabCut(np.ascontiguousarray(rgb[..., :3][..., ::-1]), gc, None, bgd, fgd, iterations,
                    cv2.GC_INIT_WITH_MASK)
    except cv2.error:  # too few pixels of one class for the colour models: keep the input
        return mask.copy()
    fg = ((gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)).astype(np.uint8)
    if scale < 1.0:
        fg = cv2.resize(fg * 255, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR) >= 128
    out = np.zeros_like(mask)
    out[y0:y1, x0:x1] = fg.astype(bool)
    return out


def refine(image: np.ndarray, method: str, *, prob: np.ndarray | None = None, mask: np.ndarray | None = None,
           threshold: float = 0.5, logits_side: int = 48) -> np.ndarray:
    """A refined bool mask. ``guided`` needs ``prob`` (or filters the 0/1 ``mask`` as a map);
    ``grabcut`` needs ``mask`` (or thresholds ``prob``)."""
    if method not in METHODS:
        raise ValueError(f"unknown refinement {method!r}; choose from {', '.join(METHODS)}")
    if prob is None and mask is None:
        raise ValueError("give a probability map or a mask")
    if method == "guided":
        p = prob if prob is not None else np.asarray(mask, np.float32)
        return refine_prob(image, p, logits_side=logits_side) >= threshold
    m = mask if mask is not None else prob >= threshold
    return grabcut_mask(image, m, logits_side=logits_side)

