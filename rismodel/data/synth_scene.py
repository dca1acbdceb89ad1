"""Procedural scenes for the synthetic referring dataset: cluttered backgrounds and 2-7 shapes.

Every object is rasterised without anti-aliasing into an owner map (index of the topmost object
per pixel), so each object's mask is exactly its *visible* part: later objects occlude earlier
ones, and a ring's hole shows what lies behind it. Placement is retried until every object keeps
at least ``MIN_VISIBLE`` of its area visible. Randomness comes only from the numpy Generator given
to :func:`make_scene`, so a seed fixes the scene byte for byte. A :class:`~rismodel.data.synth_variation.Variation`
(issue 9) changes backgrounds, shape pose and occlusion, drawing from its own stream ``vrng``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from rismodel.data.synth_variation import Variation, background

SHAPES = ("circle", "square", "triangle", "star", "hexagon", "cross", "ring", "heart", "diamond")
COLORS = {  # name -> RGB; well apart in hue or brightness so a name is never in doubt
    "red": (220, 30, 30), "orange": (245, 135, 20), "yellow": (245, 220, 30),
    "green": (40, 170, 50), "cyan": (40, 210, 225), "blue": (35, 60, 215),
    "purple": (135, 45, 190), "pink": (245, 120, 185), "white": (250, 250, 250),
    "black": (15, 15, 15),
}
TEXTURES = ("solid", "striped", "dotted", "checkered")
# Radius as a share of the image's shorter side; gaps between classes keep them distinct.
SIZES = {"small": (0.06, 0.085), "medium": (0.11, 0.14), "large": (0.175, 0.22)}
MIN_VISIBLE = Variation.min_visible  # the default; Variation(min_visible=...) changes it
MIN_PIXELS = 60


@dataclass
class SceneObject:
    shape: str
    color: str
    size: str
    texture: str
    cx: float  # centroid of the visible part, as a share of width / height (0 = left / top)
    cy: float
    area: int  # visible pixels
    bbox: tuple[int, int, int, int]  # COCO [x, y, w, h] of the visible part


@dataclass
class Scene:
    image: np.ndarray  # uint8 [H, W, 3]
    owner: np.ndarray  # int8 [H, W]: index of the visible object per pixel, -1 = background
    objects: list[SceneObject]

    def mask(self, i: int) -> np.ndarray:
        return self.owner == i


def _outline(shape: str, r: float, rot: float, aspect: float = 1.0) -> list[tuple[float, float]] | None:
    """Polygon vertices around (0, 0) with radius ``r``; None for ellipse-based shapes."""
    def regular(n, radius, start):
        return [(radius * math.cos(start + 2 * math.pi * k / n), radius * math.sin(start + 2 * math.pi * k / n))
                for k in range(n)]

    if shape == "square":
        pts = regular(4, r * 1.2, math.pi / 4)
    elif shape == "diamond":
        pts = [(0, -r * 1.15), (r * 0.75, 0), (0, r * 1.15), (-r * 0.75, 0)]
    elif shape == "triangle":
        pts = [(x, y + r * 0.2) for x, y in regular(3, r * 1.25, -math.pi / 2)]
    elif shape == "hexagon":
        pts = regular(6, r * 1.05, 0)
    elif shape == "star":
        outer, inner = regular(5, r * 1.25, -math.pi / 2), regular(5, r * 0.52, -math.pi / 2 + math.pi / 5)
        pts = [p for pair in zip(outer, inner) for p in pair]
    elif shape == "cross":
        a, b = r * 0.36, r * 1.1
        pts = [(-a, -b), (a, -b), (a, -a), (b, -a), (b, a), (a, a), (a, b), (-a, b), (-a, a), (-b, a),
               (-b, -a), (-a, -a)]
    elif shape == "heart":
        t = np.linspace(0, 2 * math.pi, 48, endpoint=False)
        x = 16 * np.sin(t) ** 3
        y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        pts = list(zip((x * r / 15).tolist(), ((y + 2) * r / 15).tolist()))
    else:
        return None
    if aspect != 1.0:  # stretched along the shape's own axis, then rotated
        pts = [(x * aspect, y / aspect) for x, y in pts]
    c, s = math.cos(rot), math.sin(rot)
    return [(x * c - y * s, x * s + y * c) for x, y in pts]


def _shape_patch(shape: str, r: float, rot: float, aspect: float = 1.0) -> np.ndarray:
    """bool [2R, 2R] footprint of the shape centred in its patch."""
    half = math.ceil(r * 1.3 * max(aspect, 1 / aspect)) + 1
    img = Image.new("1", (2 * half, 2 * half), 0)
    draw = ImageDraw.Draw(img)
    if shape in ("circle", "ring"):
        rx, ry = r * aspect, r / aspect
        draw.ellipse([half - rx, half - ry, half + rx, half + ry], fill=1)
        if shape == "ring":
            ix, iy = rx * 0.55, ry * 0.55
            draw.ellipse([half - ix, half - iy, half + ix, half + iy], fill=0)
    else:
        draw.polygon([(half + x, half + y) for x, y in _outline(shape, r, rot, aspect)], fill=1)
    return np.asarray(img, dtype=bool)


def _texture(texture: str, shape_hw: tuple[int, int], r: float, rng: np.random.Generator) -> np.ndarray:
    """bool pattern: True where the texture's second shade shows."""
    h, w = shape_hw
    y = np.arange(h, dtype=np.float32)[:, None]  # broadcasting grids: [h, 1] and [1, w]
    x = np.arange(w, dtype=np.float32)[None, :]
    period = max(4.0, r * rng.uniform(0.45, 0.7))
    if texture == "striped":
        ang = rng.uniform(0, math.pi)
        return ((x * math.cos(ang) + y * math.sin(ang)) // (period / 2)) % 2 == 1
    if texture == "checkered":
        return ((x // (period / 2)) + (y // (period / 2))) % 2 == 1
    if texture == "dotted":
        fx, fy = (x % period) - period / 2, (y % period) - period / 2
        return fx * fx + fy * fy < (period * 0.27) ** 2
    return np.zeros((h, w), bool)


def _shade(rgb: np.ndarray) -> np.ndarray:
    """The second shade of a textured object: darker, or lighter for black."""
    return np.full(3, 105.0) if rgb.max() < 60 else rgb * 0.55


def _background(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Muted gradient plus, at random, noise, a faint texture and random lines."""
    base = rng.uniform(70, 185)
    c0 = base + rng.uniform(-12, 12, 3)  # a faint tint: a background never looks "purple"
    c1 = np.clip(c0 + rng.uniform(-60, 60) + rng.uniform(-8, 8, 3), 40, 215)
    ang = rng.uniform(0, 2 * math.pi)
    t = (np.arange(w, dtype=np.float32)[None, :] / w * math.cos(ang)
         + np.arange(h, dtype=np.float32)[:, None] / h * math.sin(ang))  # [h, w]
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    lum = np.zeros((h, w), np.float32)  # texture and noise are grey: they shift all channels
    if rng.random() < 0.5:  # faint background texture
        pat = _texture(str(rng.choice(["striped", "checkered", "dotted"])), (h, w), rng.uniform(20, 60), rng)
        lum += pat * np.float32(rng.uniform(-18, 18))
    if rng.random() < 0.7:
        lum += rng.standard_normal((h, w), dtype=np.float32) * np.float32(rng.uniform(3, 14))
    img = (c0.astype(np.float32) + (c1 - c0).astype(np.float32) * t[..., None]) + lum[..., None]
    out = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    if rng.random() < 0.7:  # clutter lines in muted colours
        draw = ImageDraw.Draw(out)
        for _ in range(int(rng.integers(3, 16))):
            g = rng.uniform(50, 200)
            col = tuple(int(v) for v in np.clip(g + rng.uniform(-20, 20, 3), 0, 255))
            draw.line([tuple(rng.uniform(0, [w, h])), tuple(rng.uniform(0, [w, h]))], fill=col,
                      width=int(rng.integers(1, 4)))
    return np.asarray(out).copy()


def make_scene(rng: np.random.Generator, size_range: tuple[int, int] = (160, 640),
               variation: Variation | None = None, vrng: np.random.Generator | None = None) -> Scene:
    """Render one scene: image, owner map and object attributes (visible centroids)."""
    var = variation or Variation()
    vrng = vrng if vrng is not None else np.random.default_rng(0)
    w, h = (int(v) for v in rng.integers(size_range[0], size_range[1] + 1, 2))
    image = _background(h, w, rng)  # drawn even when replaced: the scene's stream stays the same
    if var.background != "default":
        image = background(var.background, h, w, vrng)
    owner = np.full((h, w), -1, np.int8)
    specs, full_areas, visible = [], [], np.zeros(0, np.int64)
    for _ in range(int(rng.integers(2, 8))):
        shape = str(rng.choice(SHAPES))
        color = str(rng.choice(list(COLORS)))
        size = str(rng.choice(list(SIZES)))
        texture = str(rng.choice(TEXTURES, p=[0.4, 0.2, 0.2, 0.2]))
        r = rng.uniform(*SIZES[size]) * min(w, h)
        rot = rng.uniform(-var.rotation, var.rotation)
        aspect = math.exp(vrng.uniform(-math.log(var.aspect), math.log(var.aspect))) if var.aspect > 1 else 1.0
        if shape == "diamond" and var.diamond_long_axis:
            aspect = min(aspect, 1 / aspect)  # < 1 stretches y, the diamond's long diagonal
        patch = _shape_patch(shape, r, rot, aspect)
        ph, pw = patch.shape
        if ph >= h or pw >= w:
            continue
        for _attempt in range(15):
            y0, x0 = int(rng.integers(0, h - ph)), int(rng.integers(0, w - pw))
            covered = owner[y0:y0 + ph, x0:x0 + pw][patch]
            left = visible - np.bincount(covered[covered >= 0], minlength=len(specs))
            areas = np.array(full_areas + [int(patch.sum())])
            left = np.append(left, areas[-1])
            if (left >= var.min_visible * areas).all() and (left >= MIN_PIXELS).all():
                owner[y0:y0 + ph, x0:x0 + pw][patch] = len(specs)
                visible = left
                rgb = np.array(COLORS[color], np.float32) + rng.uniform(-12, 12, 3)
                pat = _texture(texture, (ph, pw), r, rng)
                colour = np.where(pat[..., None], _shade(rgb), rgb)
                region = image[y0:y0 + ph, x0:x0 + pw]
                region[patch] = np.clip(colour[patch], 0, 255).astype(np.uint8)
                specs.append((shape, color, size, texture))
                full_areas.append(int(patch.sum()))
                break
    if len(specs) < 2:  # crowded by chance: draw again from the same stream (stays deterministic)
        return make_scene(rng, size_range, variation, vrng)
    objects = []
    for i, (shape, color, size, texture) in enumerate(specs):
        ys, xs = np.nonzero(owner == i)
        x0, y0 = int(xs.min()), int(ys.min())
        objects.append(SceneObject(shape, color, size, texture, cx=float(xs.mean() + 0.5) / w,
                                   cy=float(ys.mean() + 0.5) / h, area=len(xs),
                                   bbox=(x0, y0, int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1)))
    return Scene(image=image, owner=owner, objects=objects)
