"""Masks held compressed: COCO RLE (pycocotools) as the truth, decoded on demand into a small LRU.

A 12-megapixel boolean mask is 12 MB decoded and a few kilobytes as RLE, so a project keeps only
the RLE of every annotation and decodes a mask when something asks for its pixels (drawing the
current image, a brush edit, an export). :class:`MaskCache` keeps the most recently decoded masks
up to a byte budget, so browsing back and forth over one image does not decode again.

:func:`check_many` validates compressed counts *before* pycocotools sees them: its C decoder
writes one byte per counted pixel without checking the total, so counts that add up to more than
``h * w`` (or that are negative, which wrap to huge unsigned numbers) would write past the buffer.
It is the batch form of ``rismodel.data.masks``' per-segmentation check (which imported COCO files
go through): a project file holds tens of thousands of masks, checked here in one vectorised pass.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict

import numpy as np
from pycocotools import mask as mask_utils

DEFAULT_BUDGET = 256 << 20  # bytes of decoded masks kept (about twenty 12-megapixel masks)
_MAX_SIDE = 1 << 20


def check_counts(counts: bytes, h: int, w: int) -> str | None:
    """The problem with compressed RLE ``counts`` for an ``h x w`` mask, or None when valid."""
    if not isinstance(counts, (bytes, bytearray)):
        return "counts must be a string"
    bad = check_many([bytes(counts)], [(h, w)])
    return bad[1] if bad else None


def check_many(counts: list[bytes], sizes: list[tuple[int, int]], chunk_chars: int = 1 << 20
               ) -> tuple[int, str] | None:
    """(index, problem) of the first invalid compressed RLE among ``counts``, or None (see
    :func:`_check_chunk`); checked in chunks of about ``chunk_chars`` so memory stays bounded."""
    i = 0
    while i < len(counts):
        j, size = i, 0
        while j < len(counts) and (j == i or size + len(counts[j]) <= chunk_chars):
            size += len(counts[j])
            j += 1
        bad = _check_chunk(counts[i:j], sizes[i:j])
        if bad:
            return i + bad[0], bad[1]
        i = j
    return None


def _check_chunk(counts: list[bytes], sizes: list[tuple[int, int]]) -> tuple[int, str] | None:
    """(index, problem) of the first invalid compressed RLE among ``counts``, or None.

    Mirrors pycocotools' ``rleFrString``: 6-bit characters ``48..111``, 5 data bits each, bit
    0x20 continues a number, bit 0x10 of a number's last character is its sign, and from the
    fourth number on each number is a delta to the one two places before. All masks of a project
    file are checked in one vectorised pass (a project holds tens of thousands).
    """
    n = len(counts)
    if n == 0:
        return None
    for i, (h, w) in enumerate(sizes):
        if not (0 < h <= _MAX_SIDE and 0 < w <= _MAX_SIDE):
            return i, f"size {h}x{w} is out of range"
    lens = np.fromiter((len(c) for c in counts), np.int64, n)
    if (lens == 0).any():
        return int(np.argmax(lens == 0)), "counts are empty"
    raw = np.frombuffer(b"".join(counts), np.uint8)
    if raw.min() < 48 or raw.max() > 111:
        bad = (raw < 48) | (raw > 111)
        return int(np.searchsorted(np.cumsum(lens), np.argmax(bad), side="right")), \
            "counts contain characters outside the RLE alphabet"
    c = raw - np.uint8(48)
    more = (c & 0x20) != 0
    last_char = np.cumsum(lens) - 1
    if more[last_char].any():
        return int(np.argmax(more[last_char])), "counts end in the middle of a number"
    ends = np.flatnonzero(~more)
    starts = np.empty_like(ends)
    starts[0], starts[1:] = 0, ends[:-1] + 1
    length = ends - starts + 1
    ann = np.repeat(np.arange(n, dtype=np.int32), lens)[ends]  # the mask each number belongs to
    if length.max() > 6:  # pycocotools shifts a C int: more than 6 x 5 bits overflows it
        return int(ann[np.argmax(length > 6)]), "a count is too large"
    data = (c & 0x1F).astype(np.int64)
    vals = data[starts]
    for p in range(1, int(length.max())):  # numbers are 1-6 characters: one gather per position
        sel = length > p
        vals[sel] += data[starts[sel] + p] << (5 * p)
    negative = (c[ends] & 0x10) != 0
    vals[negative] -= np.left_shift(np.int64(1), 5 * length[negative])
    first = np.searchsorted(ann, np.arange(n))
    k = np.arange(len(vals)) - first[ann]  # index of the number within its mask
    # x[k] = vals[k] + x[k - 2] for k >= 3: cumulative sums along two chains per mask (odd k
    # from 1, even k from 2; number 0 stands alone), as global cumsums minus each mask's offset.
    odd = (k % 2) == 1
    x = vals.copy()
    for chain in (odd, ~odd & (k >= 2)):
        cs = np.cumsum(np.where(chain, vals, 0))
        before = np.concatenate(([0], cs))[first]
        x = np.where(chain, cs - before[ann], x)
    if x.min() < 0:
        return int(ann[np.argmax(x < 0)]), "a count is negative"
    if x.max() >= 1 << 32:
        return int(ann[np.argmax(x >= 1 << 32)]), "a count is too large"
    total = np.bincount(ann, weights=x.astype(np.float64), minlength=n)
    want = np.array([h * w for h, w in sizes], np.float64)
    wrong = total != want
    if wrong.any():
        i = int(np.argmax(wrong))
        return i, f"counts cover {int(total[i])} pixels, the mask has {int(want[i])}"
    return None


def encode(mask: np.ndarray) -> dict:
    """``[H, W]`` mask -> pycocotools RLE with ``bytes`` counts (exact)."""
    m = np.asfortranarray((np.asarray(mask) > 0).astype(np.uint8))
    rle = mask_utils.encode(m)
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": bytes(rle["counts"])}


def decode(rle: dict) -> np.ndarray:
    """RLE -> read-only bool ``[H, W]``."""
    m = mask_utils.decode({"size": list(rle["size"]), "counts": rle["counts"]}).view(bool)  # 0/1 bytes: no copy
    m.setflags(write=False)
    return m


def area(rle: dict) -> int:
    return int(mask_utils.area({"size": list(rle["size"]), "counts": rle["counts"]}))


def bbox(rle: dict) -> list[float]:
    """COCO ``[x, y, w, h]`` without decoding."""
    return [float(v) for v in mask_utils.toBbox({"size": list(rle["size"]), "counts": rle["counts"]})]


class MaskCache:
    """LRU of decoded masks by token, bounded by bytes (always keeps the newest one)."""

    def __init__(self, budget: int = DEFAULT_BUDGET):
        self.budget = budget
        self._items: OrderedDict[int, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()  # the GUI reads masks from worker threads too
        self.decodes = 0  # how many masks were decoded (benchmarks print it)

    def get(self, token: int, rle: dict) -> np.ndarray:
        with self._lock:
            m = self._items.get(token)
            if m is not None:
                self._items.move_to_end(token)
                return m
        m = decode(rle)
        with self._lock:
            self.decodes += 1
            self._put(token, m)
        return m

    def put(self, token: int, mask: np.ndarray) -> None:
        with self._lock:
            self._put(token, mask)

    def _put(self, token, mask):
        old = self._items.pop(token, None)
        if old is not None:
            self._bytes -= old.nbytes
        self._items[token] = mask
        self._bytes += mask.nbytes
        while self._bytes > self.budget and len(self._items) > 1:
            _, dropped = self._items.popitem(last=False)
            self._bytes -= dropped.nbytes

    def drop(self, token: int) -> None:
        with self._lock:
            old = self._items.pop(token, None)
            if old is not None:
                self._bytes -= old.nbytes

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    @property
    def nbytes(self) -> int:
        return self._bytes


CACHE = MaskCache()
_tokens = itertools.count(1)


def new_token() -> int:
    """A process-wide unique key for one version of one mask (several projects may be open)."""
    return next(_tokens)
