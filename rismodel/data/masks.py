"""Binary masks <-> COCO segmentations (polygons and RLE), through pycocotools.

- Decoding: a COCO polygon list or an RLE (compressed string counts or uncompressed list counts)
  becomes a ``uint8 [H, W]`` mask; several polygons / parts are merged (union), as the refer
  toolkit does.
- Encoding to RLE is exact. pycocotools wants a Fortran-ordered uint8 array and returns the counts
  as bytes, which we decode to ``str`` so the result is JSON-ready.
- Encoding to polygons traces the pixel *edges* (not pixel centres, which would shrink the mask
  by half a pixel on every side), so pycocotools' rasteriser fills exactly the traced pixels.
  COCO polygons are merged by union and cannot hold holes: :func:`mask_to_polygons` returns
  ``None`` for a mask with holes (and, as a safety net, for any mask whose polygons would not
  decode back exactly), and the caller writes RLE instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

Segmentation = list | dict


def _check_polygons(polys: Any, where: str) -> list[list[float]]:
    if not isinstance(polys, list) or not polys:
        raise ValueError(f"{where}: polygon segmentation must be a non-empty list of lists")
    out = []
    for i, p in enumerate(polys):
        if not isinstance(p, (list, tuple)) or not all(isinstance(v, (int, float)) for v in p):
            raise ValueError(f"{where}: polygon {i} must be a flat list of numbers [x1, y1, x2, y2, ...]")
        if len(p) % 2 or len(p) < 6:
            raise ValueError(f"{where}: polygon {i} has {len(p)} numbers; need an even count >= 6 "
                             "(at least 3 points)")
        out.append([float(v) for v in p])
    return out


def segmentation_to_mask(seg: Segmentation, height: int, width: int, where: str = "segmentation"
                         ) -> np.ndarray:
    """COCO polygons or RLE (or a list of RLEs, as in refclef) -> ``uint8 [H, W]`` in {0, 1}."""
    if isinstance(seg, list) and seg and all(isinstance(s, dict) for s in seg):
        return merge_masks([segmentation_to_mask(s, height, width, where) for s in seg], height, width)
    if isinstance(seg, list):
        polys = _check_polygons(seg, where)
        rle = mask_utils.merge(mask_utils.frPyObjects(polys, height, width))
    elif isinstance(seg, dict):
        if "counts" not in seg or "size" not in seg:
            raise ValueError(f"{where}: RLE needs 'counts' and 'size'")
        size = list(seg["size"])
        if size != [height, width]:
            raise ValueError(f"{where}: RLE size {size} does not match the image size [{height}, {width}]")
        counts = seg["counts"]
        if isinstance(counts, list):  # uncompressed RLE
            rle = mask_utils.frPyObjects(seg, height, width)
        elif isinstance(counts, (str, bytes)):
            rle = {"size": size, "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
        else:
            raise ValueError(f"{where}: RLE 'counts' must be a string or a list of ints")  # noqa: TRY004 (bad file content)
    else:
        raise ValueError(  # noqa: TRY004 (bad file content, not a programming error)
            f"{where}: must be a polygon list or an RLE dict, got {type(seg).__name__}")
    return mask_utils.decode(rle).astype(np.uint8)


def merge_masks(masks: list[np.ndarray], height: int, width: int) -> np.ndarray:
    """Union of several masks (overlapping parts counted once); all-zero for an empty list."""
    out = np.zeros((height, width), np.uint8)
    for m in masks:
        out |= (m > 0).astype(np.uint8)
    return out


def mask_to_rle(mask: np.ndarray) -> dict:
    """``[H, W]`` mask -> JSON-ready compressed RLE ``{"size": [H, W], "counts": str}`` (exact)."""
    m = np.asfortranarray((np.asarray(mask) > 0).astype(np.uint8))
    rle = mask_utils.encode(m)
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def rle_area(rle: dict) -> int:
    r = dict(rle)
    if isinstance(r["counts"], str):
        r["counts"] = r["counts"].encode("ascii")
    return int(mask_utils.area(r))


def bbox_of(mask: np.ndarray) -> list[float]:
    """COCO ``[x, y, w, h]`` of the mask's pixels; zeros for an empty mask."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return [0.0, 0.0, 0.0, 0.0]
    return [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]


# Outgoing crack edges of a foreground pixel (x, y), clockwise on screen (y down), keyed by the
# neighbour that must be background: top, right, bottom, left.
_EDGES = (((0, -1), (0, 0), (1, 0)), ((1, 0), (1, 0), (1, 1)),
          ((0, 1), (1, 1), (0, 1)), ((-1, 0), (0, 1), (0, 0)))
# At a vertex shared by two diagonal pixels, turn so that 8-connected pieces become separate loops.
_DIRS = [(1, 0), (0, 1), (-1, 0), (0, -1)]  # right, down, left, up (clockwise turn order)


def _trace_loops(mask: np.ndarray) -> list[list[tuple[int, int]]]:
    """Closed loops of pixel-corner vertices along the mask boundary (outer loops clockwise)."""
    m = np.pad(mask > 0, 1)
    out: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for (dx, dy), a, b in _EDGES:
        nb = m[1 + dy: m.shape[0] - 1 + dy, 1 + dx: m.shape[1] - 1 + dx]
        ys, xs = np.nonzero(m[1:-1, 1:-1] & ~nb)
        for x, y in zip(xs.tolist(), ys.tolist()):
            out.setdefault((x + a[0], y + a[1]), []).append((x + b[0], y + b[1]))
    loops = []
    while out:
        start = next(iter(out))
        loop, cur, prev_dir = [start], start, None
        while True:
            nexts = out[cur]
            if len(nexts) == 1 or prev_dir is None:
                nxt = nexts[0]
            else:  # two choices at a diagonal touch: take the right turn (stays on this piece)
                right = _DIRS[(_DIRS.index(prev_dir) + 1) % 4]
                nxt = next((n for n in nexts if (n[0] - cur[0], n[1] - cur[1]) == right), nexts[0])
            nexts.remove(nxt)
            if not nexts:
                del out[cur]
            prev_dir = (nxt[0] - cur[0], nxt[1] - cur[1])
            if nxt == start:
                break
            loop.append(nxt)
            cur = nxt
        loops.append(loop)
    return loops


def _simplify(loop: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Drop vertices in the middle of straight runs."""
    n = len(loop)
    keep = []
    for i in range(n):
        p, c, q = loop[i - 1], loop[i], loop[(i + 1) % n]
        if (c[0] - p[0]) * (q[1] - c[1]) != (c[1] - p[1]) * (q[0] - c[0]):
            keep.append(c)
    return keep


def _signed_area(loop: list[tuple[int, int]]) -> float:
    xs = np.array([p[0] for p in loop], float)
    ys = np.array([p[1] for p in loop], float)
    return 0.5 * float(np.dot(xs, np.roll(ys, -1)) - np.dot(ys, np.roll(xs, -1)))


def mask_to_polygons(mask: np.ndarray) -> list[list[float]] | None:
    """Exact COCO polygons of every part of the mask, or ``None`` when polygons cannot be exact.

    ``None`` means: the mask has a hole (COCO polygons are merged by union and cannot cut one),
    or is empty, or the traced polygons do not decode back to the same pixels.
    """
    mask = (np.asarray(mask) > 0).astype(np.uint8)
    if not mask.any():
        return None
    polys = []
    for loop in _trace_loops(mask):
        if _signed_area(loop) < 0:  # counter-clockwise on screen = the boundary of a hole
            return None
        pts = _simplify(loop)
        polys.append([float(v) for p in pts for v in p])
    h, w = mask.shape
    if not np.array_equal(segmentation_to_mask(polys, h, w), mask):
        return None
    return polys
