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

from rismodel.data.errors import DatasetError
from rismodel.imageio import DEFAULT_MAX_PIXELS

Segmentation = list | dict


# Polygon vertices may lie outside the image (annotators overshoot) but within one image size of
# it; pycocotools turns each coordinate into a C int (1e10 overflows it) and allocates memory in
# proportion to the outline's length (5 samples per pixel), so both are bounded before it runs.
MAX_POLYGON_PERIMETER = 4_000_000  # pixels, all parts of one annotation (mask_to_polygons keeps to it)


def check_image_size(height: Any, width: Any, where: str) -> tuple[int, int]:
    """``(height, width)`` of a mask, or a DatasetError (not positive ints, or too many pixels)."""
    for name, v in (("height", height), ("width", width)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
            raise DatasetError(f"{where}: {name} must be a positive integer, got {_short(v)}")
    height, width = int(height), int(width)
    if height * width > DEFAULT_MAX_PIXELS:
        raise DatasetError(f"{where}: {width}x{height} is more than the {DEFAULT_MAX_PIXELS / 1e6:.0f} "
                           "megapixels an image may have")
    return height, width


def _check_polygons(polys: Any, height: int, width: int, where: str) -> list[list[float]]:
    if not isinstance(polys, list) or not polys:
        raise DatasetError(f"{where}: polygon segmentation must be a non-empty list of lists")
    out, perimeter = [], 0.0
    for i, p in enumerate(polys):
        if not isinstance(p, (list, tuple)) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in p):
            raise DatasetError(f"{where}: polygon {i} must be a flat list of numbers [x1, y1, x2, y2, ...]")
        if len(p) % 2 or len(p) < 6:
            raise DatasetError(f"{where}: polygon {i} has {len(p)} numbers; need an even count >= 6 "
                               "(at least 3 points)")
        try:
            xy = np.asarray(p, dtype=np.float64).reshape(-1, 2)
        except OverflowError:  # an int beyond float range
            raise DatasetError(f"{where}: polygon {i} has a coordinate out of range") from None
        if not np.isfinite(xy).all():
            raise DatasetError(f"{where}: polygon {i} has a NaN or infinite coordinate")
        x, y = xy[:, 0], xy[:, 1]
        if x.min() < -width or x.max() > 2 * width or y.min() < -height or y.max() > 2 * height:
            raise DatasetError(f"{where}: polygon {i} has points far outside the {width}x{height} image "
                               f"(x {x.min():g}..{x.max():g}, y {y.min():g}..{y.max():g})")
        perimeter += float(np.maximum(np.abs(np.diff(x, append=x[:1])), np.abs(np.diff(y, append=y[:1]))).sum())
        out.append(xy.ravel().tolist())
    if perimeter > MAX_POLYGON_PERIMETER:
        raise DatasetError(f"{where}: the polygons' outline is {perimeter:,.0f} pixels long, more than the "
                           f"{MAX_POLYGON_PERIMETER:,} allowed")
    return out


def _rle_counts(counts: str | bytes, where: str) -> np.ndarray:
    """Run lengths of a compressed COCO RLE string (pycocotools' ``rleFrString``, vectorised)."""
    try:
        raw = counts.encode("ascii") if isinstance(counts, str) else counts
    except UnicodeEncodeError:
        raise DatasetError(f"{where}: RLE 'counts' holds characters outside the COCO alphabet") from None
    c = np.frombuffer(raw, np.uint8).astype(np.int64) - 48
    if c.size == 0:
        return np.zeros(0, np.int64)
    if c.min() < 0 or c.max() > 63:
        raise DatasetError(f"{where}: RLE 'counts' holds characters outside the COCO alphabet")
    end = (c & 0x20) == 0
    if not end[-1]:
        raise DatasetError(f"{where}: RLE 'counts' is truncated")
    ends = np.flatnonzero(end)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    if lengths.max() > 7:  # 7 characters hold 35 bits: more is no 32-bit count
        raise DatasetError(f"{where}: RLE 'counts' holds a run too long to be real")
    k = np.arange(c.size) - np.repeat(starts, lengths)
    x = np.add.reduceat((c & 0x1F) << (5 * k), starts)
    negative = (c[ends] & 0x10) != 0
    x = np.where(negative, x - (np.int64(1) << (5 * lengths)), x)
    runs = x.copy()
    if runs.size > 3:  # from the 4th on, each is a delta to the run two before it
        runs[3::2] = runs[1] + np.cumsum(x[3::2])
        runs[4::2] = runs[2] + np.cumsum(x[4::2])
    return runs


def _check_rle(seg: dict, height: int, width: int, where: str) -> dict:
    """A pycocotools-ready RLE, checked so that decoding cannot write outside the mask."""
    if "counts" not in seg or "size" not in seg:
        raise DatasetError(f"{where}: RLE needs 'counts' and 'size'")
    size = seg["size"]
    if not isinstance(size, (list, tuple)) or [v for v in size] != [height, width]:
        raise DatasetError(f"{where}: RLE size {_short(size)} does not match the image size [{height}, {width}]")
    counts = seg["counts"]
    if isinstance(counts, list):  # uncompressed RLE
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in counts):
            raise DatasetError(f"{where}: uncompressed RLE 'counts' must be a list of integers")
        if len(counts) > height * width + 1:
            raise DatasetError(f"{where}: RLE has more runs than the mask has pixels")
        if counts and (min(counts) < 0 or max(counts) > height * width):
            raise DatasetError(f"{where}: RLE has a run length outside 0..{height * width}")
        total = int(sum(counts))
        rle: dict = {"size": [height, width], "counts": counts}
    elif isinstance(counts, (str, bytes)):
        runs = _rle_counts(counts, where)
        if runs.size and (runs.min() < 0 or runs.max() > height * width):
            raise DatasetError(f"{where}: RLE has a run length outside 0..{height * width}")
        total = int(runs.sum())
        rle = {"size": [height, width], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    else:
        raise DatasetError(f"{where}: RLE 'counts' must be a string or a list of ints")
    if total != height * width:
        raise DatasetError(f"{where}: RLE runs cover {total:,} pixels, the {width}x{height} mask has "
                           f"{height * width:,}")
    return rle


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_segmentation(seg: Any, height: int, width: int, where: str = "segmentation") -> None:
    """Refuse (DatasetError) a segmentation pycocotools could not decode safely; decodes nothing."""
    _checked(seg, height, width, where)


def _checked(seg: Any, height: int, width: int, where: str) -> list:
    """The pycocotools RLE objects of a checked segmentation (one per part)."""
    height, width = check_image_size(height, width, where)
    if isinstance(seg, list) and seg and all(isinstance(s, dict) for s in seg):
        return [r for s in seg for r in _checked(s, height, width, where)]
    if isinstance(seg, list):
        return [("poly", _check_polygons(seg, height, width, where))]
    if isinstance(seg, dict):
        rle = _check_rle(seg, height, width, where)
        return [("rle", rle)]
    raise DatasetError(f"{where}: must be a polygon list or an RLE dict, got {type(seg).__name__}")


def segmentation_to_mask(seg: Segmentation, height: int, width: int, where: str = "segmentation"
                         ) -> np.ndarray:
    """COCO polygons or RLE (or a list of RLEs, as in refclef) -> ``uint8 [H, W]`` in {0, 1}.

    Everything is checked first (:func:`check_segmentation`): pycocotools trusts its input and
    writes past its buffers on RLE runs that overshoot the mask.
    """
    out = None
    for kind, part in _checked(seg, height, width, where):
        if kind == "poly":
            rle = mask_utils.merge(mask_utils.frPyObjects(part, height, width))
        elif isinstance(part["counts"], list):
            rle = mask_utils.frPyObjects(part, height, width)
        else:
            rle = part
        m = mask_utils.decode(rle).astype(np.uint8)
        out = m if out is None else (out | m)
    return out


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
    try:
        decoded = segmentation_to_mask(polys, h, w)
    except DatasetError:  # an outline too long for readers to accept: RLE holds it instead
        return None
    if not np.array_equal(decoded, mask):
        return None
    return polys
