"""SynthRef rendering variation (issue 9): backgrounds, camera effects, lighting, shape pose, occlusion.

The shipped SynthRef has one look; a model trained on it learns that renderer, not the world.
:class:`Variation` widens it. Every field's default is today's renderer, so ``Variation()`` writes
the same files byte for byte. All extra randomness comes from its own stream
(``default_rng([seed, index, STREAM])``), never from the scene's, so the objects, their places and
the expressions of image ``i`` are the same with or without a variation (a robustness set can be
the same scenes rendered differently) -- except ``rotation``, ``aspect``, ``diamond_long_axis`` and
``min_visible``, which change the shapes and their placement, and ``overspecify`` and ``hard_negatives``,
which add expressions (``overspecify_own_ref`` only regroups them).

Colour names must stay true: ``lighting`` keeps per-channel gains within +-8 % times its value
and brightness within +-25 % times it, small next to the gaps between the palette's colours.
"""

from __future__ import annotations

import io
import math
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

STREAM = 7  # third seed word of the variation stream
BACKGROUNDS = ("default", "flat", "cluttered", "textured", "mixed")


@dataclass(frozen=True)
class Variation:
    background: Literal["default", "flat", "cluttered", "textured", "mixed"] = "default"
    noise: float = 0.0  # largest std of Gaussian pixel noise (0-255 scale); per image U(0, noise)
    blur: float = 0.0  # largest Gaussian blur radius in pixels; per image U(0, blur)
    jpeg: int = 0  # lowest JPEG quality of a round trip (0 = none); per image U(jpeg, 95)
    lighting: float = 0.0  # 0..1: brightness/contrast, per-channel gain, a shading gradient
    rotation: float = 0.2  # largest |rotation| of a shape in radians (today: 0.2)
    aspect: float = 1.0  # largest stretch of a shape along its own axis (1 = none)
    min_visible: float = 0.65  # share of an object that must stay visible (lower = more occlusion)
    # Phrasing, not rendering: one true over-specified expression per object ("the red star" for the
    # only star), it and the no-target expressions half the time without "the". Without it, "the <colour>
    # <shape>" for a unique shape occurs only as a no-target expression and the presence heads learn
    # that phrasing (docs/architecture.md, "The presence scores learnt a phrasing shortcut").
    overspecify: bool = False
    # A diamond stretched across its long diagonal by about 1.24 becomes a square on its corner
    # (~15 % of the v2 data's diamonds have diagonals within 15 % of equal). With this set, it is only
    # stretched along its long diagonal; the random draws stay the same, so only diamonds change.
    diamond_long_axis: bool = False
    # Extra no-target expressions per image, "the <colour> <shape>" for a shape unique in the scene
    # with another object's colour: the presence heads otherwise see about one colour check per image
    # and learn to accept a unique shape whatever colour is named (docs/architecture.md).
    hard_negatives: int = 0
    # Each over-specified expression as a ref of its own (the same object) rather than one more
    # sentence of the object's ref. Training draws one sentence per ref (half the time the shortest),
    # so appended, "the red star" is drawn less than a quarter as often as a no-target expression, which
    # is a ref of one sentence; the presence heads then learn "<colour> <unique shape>" = no target
    # (docs/architecture.md). The draws stay the same; only the grouping into refs changes.
    overspecify_own_ref: bool = False

    def __post_init__(self):
        checks = [(self.background in BACKGROUNDS, f"background must be one of {', '.join(BACKGROUNDS)}"),
                  (0 <= self.noise <= 100, "noise must be in [0, 100]"),
                  (0 <= self.blur <= 20, "blur must be in [0, 20] pixels"),
                  (self.jpeg == 0 or 5 <= self.jpeg <= 95, "jpeg must be 0 (off) or a quality in [5, 95]"),
                  (0 <= self.lighting <= 1, "lighting must be in [0, 1]"),
                  (0 <= self.rotation <= math.pi, "rotation must be in [0, pi] radians"),
                  (1 <= self.aspect <= 3, "aspect must be in [1, 3]"),
                  (0.2 <= self.min_visible <= 1, "min_visible must be in [0.2, 1]"),
                  (0 <= self.hard_negatives <= 8, "hard_negatives must be in [0, 8]"),
                  (self.overspecify or not self.overspecify_own_ref, "overspecify_own_ref needs overspecify")]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def photometric(self) -> bool:
        return bool(self.noise or self.blur or self.jpeg or self.lighting)

    def to_dict(self) -> dict:
        return asdict(self)


def _value_noise(h: int, w: int, rng: np.random.Generator, octaves: int = 4) -> np.ndarray:
    """Smooth multi-octave noise in [0, 1], ``[h, w]`` (a stand-in for photographic texture)."""
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        cells = 2 + 3 * 2**o
        grid = rng.random((cells, cells)).astype(np.float32)
        layer = np.asarray(Image.fromarray(grid).resize((w, h), Image.BICUBIC), np.float32)
        out += amp * layer
        total += amp
        amp *= 0.55
    out /= total
    return (out - out.min()) / max(float(out.max() - out.min()), 1e-6)


def background(kind: str, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A uint8 ``[h, w, 3]`` background of ``kind`` (not "default": that is synth_scene's)."""
    if kind == "mixed":
        kind = str(rng.choice(["flat", "cluttered", "textured"]))
    base = rng.uniform(60, 195) + rng.uniform(-15, 15, 3)
    if kind == "flat":
        return np.broadcast_to(np.clip(base, 0, 255).astype(np.uint8), (h, w, 3)).copy()
    if kind == "textured":  # two muted colours mixed by smooth noise, plus fine grain
        other = np.clip(base + rng.uniform(-70, 70) + rng.uniform(-20, 20, 3), 20, 235)
        t = _value_noise(h, w, rng)[..., None]
        img = base * (1 - t) + other * t + rng.standard_normal((h, w, 1)).astype(np.float32) * rng.uniform(2, 10)
        return np.clip(img, 0, 255).astype(np.uint8)
    # cluttered: muted blobs, boxes and lines that are no object of the palette's shapes
    out = Image.fromarray(np.broadcast_to(np.clip(base, 0, 255).astype(np.uint8), (h, w, 3)).copy())
    draw = ImageDraw.Draw(out)
    for _ in range(int(rng.integers(8, 30))):
        g = rng.uniform(40, 210)
        col = tuple(int(v) for v in np.clip(g + rng.uniform(-25, 25, 3), 0, 255))
        x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
        x1, y1 = x0 + rng.uniform(-0.3, 0.3) * w, y0 + rng.uniform(-0.3, 0.3) * h
        box = [min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)]
        kind_i = int(rng.integers(3))
        if kind_i == 0:
            draw.line([(x0, y0), (x1, y1)], fill=col, width=int(rng.integers(1, 6)))
        elif kind_i == 1:
            draw.rectangle(box, outline=col, width=int(rng.integers(1, 4)))
        else:
            draw.ellipse(box, fill=col)
    return np.asarray(out.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.0)))).copy()


def apply_photometric(image: np.ndarray, var: Variation, rng: np.random.Generator) -> np.ndarray:
    """Lighting, blur, noise and JPEG on a rendered image (masks are unchanged)."""
    img = image.astype(np.float32)
    if var.lighting:
        h, w = img.shape[:2]
        gain = 1 + var.lighting * rng.uniform(-0.25, 0.25)  # brightness
        gain = gain * (1 + var.lighting * rng.uniform(-0.08, 0.08, 3))  # colour cast
        contrast = 1 + var.lighting * rng.uniform(-0.3, 0.2)
        ang = rng.uniform(0, 2 * math.pi)
        t = (np.arange(w, dtype=np.float32)[None, :] / w * math.cos(ang)
             + np.arange(h, dtype=np.float32)[:, None] / h * math.sin(ang))
        t = (t - t.mean()) / max(float(np.abs(t).max()), 1e-6)
        shade = 1 + var.lighting * 0.2 * t[..., None]  # a soft light falloff across the image
        mean = img.mean()
        img = ((img - mean) * contrast + mean) * gain * shade
    img = np.clip(img, 0, 255)
    if var.blur:
        radius = rng.uniform(0, var.blur)
        img = np.asarray(Image.fromarray(img.astype(np.uint8)).filter(ImageFilter.GaussianBlur(radius)), np.float32)
    if var.noise:
        img = img + rng.standard_normal(img.shape).astype(np.float32) * rng.uniform(0, var.noise)
    out = np.clip(img, 0, 255).astype(np.uint8)
    if var.jpeg:
        buf = io.BytesIO()
        Image.fromarray(out).save(buf, format="JPEG", quality=int(rng.integers(var.jpeg, 96)))
        out = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")).copy()
    return out
