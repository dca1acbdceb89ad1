"""Referring-segmentation metrics, computed the way the field's evaluation code computes them.

Classic metrics (LGFormer 4.1, LQMFormer 4.1; RefCOCO, RefCOCO+, RefCOCOg, ReferIt):

- IoU per expression = I / U, and 0 when U = 0;
- mIoU = mean IoU over expressions; oIoU = sum I / sum U over expressions;
- Prec@X = share of expressions with IoU >= X, X in {0.5, 0.6, 0.7, 0.8, 0.9};
- oIoU per expression length (LGFormer Table 3): buckets [1, 3), [3, 8), [8, 13), [13, inf)
  words, a word being a whitespace-separated token (an empty expression, which some datasets
  hold, is in no bucket but still in every other metric).

Generalised metrics (LQMFormer 4.1 and Table 2, following gRefCOCO's evaluation), per sample:

- empty target, empty prediction: a no-target hit, IoU 1, nothing added to the sums;
- empty target, non-empty prediction: a no-target miss, IoU 0, the predicted area added to sum U;
- non-empty target, empty prediction: IoU 0 (I = 0), U = the target area added to sum U;
- both non-empty: ordinary I / U, added to the sums.

gIoU = mean IoU; cIoU = sum I / sum U; N-acc = no-target hits / no-target samples; T-acc =
non-empty predictions on targeted samples / targeted samples; Prec@X counts targeted samples
only. "Empty prediction" means a mask with no pixel; callers that have a no-object head empty the
mask when it says so (see rismodel/evaluation/evaluate.py).

Since I and U of the last three cases equal the plain pixel counts (and the first adds 0 + 0),
cIoU always equals oIoU; the conventions differ only in the per-sample IoU of an empty/empty pair
(classic 0, generalised 1) and in which samples Prec@X counts.

All values are fractions in [0, 1]; :func:`markdown_table` shows them as percentages, as the
papers do. An undefined value (no sample to average over) is ``None``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

PREC_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
# LGFormer Table 3: expression length buckets [lo, hi) in words.
LENGTH_BUCKETS = ((1, 3), (3, 8), (8, 13), (13, math.inf))


def bucket_name(lo: float, hi: float) -> str:
    return f"[{lo},{'inf' if hi == math.inf else hi})"


def word_count(sentence: str) -> int:
    """Words as LGFormer's Table 3 counts them: whitespace-separated tokens."""
    return len(sentence.split())


def mask_counts(pred: np.ndarray, gt: np.ndarray) -> tuple[int, int, int, int]:
    """(intersection, union, predicted area, target area) of two same-shaped binary masks."""
    pred, gt = np.asarray(pred), np.asarray(gt)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in shape")
    p, g = pred > 0, gt > 0
    inter = int(np.count_nonzero(p & g))
    union = int(np.count_nonzero(p | g))
    return inter, union, int(np.count_nonzero(p)), int(np.count_nonzero(g))


def _mask_boundary(m: np.ndarray) -> np.ndarray:
    """Pixels of ``m`` with a 4-neighbour outside it (the image border counts as outside)."""
    p = np.pad(m, 1)
    inner = p[1:-1, 1:-1] & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    return m & ~inner


def boundary_f_score(pred: np.ndarray, gt: np.ndarray, tolerance: int | None = None) -> float:
    """DAVIS's boundary F-measure (Perazzi et al. 2016): precision and recall of the predicted and
    true boundary pixels, each matched if the other boundary lies within ``tolerance`` pixels
    (default: 0.8% of the image diagonal, DAVIS's setting). Both empty: 1; one empty: 0."""
    import cv2  # only this metric needs it

    pred, gt = np.asarray(pred) > 0, np.asarray(gt) > 0
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in shape")
    if tolerance is None:
        tolerance = max(1, math.ceil(0.008 * math.hypot(*pred.shape)))
    bp, bg = _mask_boundary(pred), _mask_boundary(gt)
    if not bp.any() and not bg.any():
        return 1.0
    if not bp.any() or not bg.any():
        return 0.0
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * tolerance + 1, 2 * tolerance + 1))
    near_g = cv2.dilate(bg.astype(np.uint8), disk) > 0
    near_p = cv2.dilate(bp.astype(np.uint8), disk) > 0
    precision = np.count_nonzero(bp & near_g) / np.count_nonzero(bp)
    recall = np.count_nonzero(bg & near_p) / np.count_nonzero(bg)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _div(a: float, b: float) -> float | None:
    return a / b if b else None


@dataclass
class _Sums:
    inter: int = 0
    union: int = 0
    count: int = 0

    def add(self, i: int, u: int) -> None:
        self.inter += i
        self.union += u
        self.count += 1


@dataclass
class MetricAccumulator:
    """Feed one expression at a time with :meth:`add`; read everything with :meth:`result`.

    ``generalised=True`` reports gRefCOCO's metrics (cIoU, gIoU, N-acc, T-acc, Prec@X over
    targeted samples); otherwise the classic ones (oIoU, mIoU, Prec@X over all samples). Both
    report oIoU per expression-length bucket.
    """

    generalised: bool = False
    thresholds: tuple[float, ...] = PREC_THRESHOLDS
    _sums: _Sums = field(default_factory=_Sums)
    _classic_iou: list[float] = field(default_factory=list)  # IoU per expression, 0 when U = 0
    _general_iou: list[float] = field(default_factory=list)  # empty/empty counts 1
    _targeted_iou: list[float] = field(default_factory=list)
    _nt_hits: int = 0
    _nt_count: int = 0
    _t_nonempty: int = 0
    _buckets: dict[str, _Sums] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._buckets = {bucket_name(lo, hi): _Sums() for lo, hi in LENGTH_BUCKETS}

    def add(self, pred: np.ndarray, gt: np.ndarray, n_words: int) -> float:
        """Add one expression from its binary masks; returns its IoU under the active convention."""
        return self.add_counts(*mask_counts(pred, gt), n_words=n_words)

    def add_counts(self, inter: int, union: int, pred_area: int, gt_area: int, n_words: int) -> float:
        """Add one expression from pixel counts (lets callers count on the GPU)."""
        inter, union, pred_area, gt_area = int(inter), int(union), int(pred_area), int(gt_area)
        if not (0 <= inter <= min(pred_area, gt_area) and inter + union == pred_area + gt_area):
            raise ValueError(f"inconsistent pixel counts: I={inter}, U={union}, "
                             f"|P|={pred_area}, |G|={gt_area}")
        if n_words < 0:
            raise ValueError(f"word count must be >= 0, got {n_words}")
        classic = inter / union if union else 0.0
        self._classic_iou.append(classic)
        # Sums: the generalised rules add I = 0 and U = |P| or |G| in the miss cases, which are
        # the plain pixel counts, and nothing for empty/empty (I = U = 0), so one sum serves both.
        self._sums.add(inter, union)
        for lo, hi in LENGTH_BUCKETS:
            if lo <= n_words < hi:
                self._buckets[bucket_name(lo, hi)].add(inter, union)
        if gt_area == 0:  # no-target sample
            self._nt_count += 1
            hit = pred_area == 0
            self._nt_hits += hit
            general = 1.0 if hit else 0.0
        else:
            self._t_nonempty += pred_area > 0
            general = classic  # an empty prediction gives I = 0, so IoU 0 already
            self._targeted_iou.append(general)
        self._general_iou.append(general)
        return general if self.generalised else classic

    def __len__(self) -> int:
        return self._sums.count

    def result(self) -> dict:
        """Metrics as a JSON-ready dict (fractions; ``None`` where undefined)."""
        n = len(self)
        out: dict = {"protocol": "generalised" if self.generalised else "classic", "count": n}
        if self.generalised:
            targeted = len(self._targeted_iou)
            out.update({
                "cIoU": _div(self._sums.inter, self._sums.union),
                "gIoU": _div(sum(self._general_iou), n),
                "N-acc": _div(self._nt_hits, self._nt_count),
                "T-acc": _div(self._t_nonempty, targeted),
                "target_count": targeted,
                "no_target_count": self._nt_count,
            })
            ious = self._targeted_iou
        else:
            out.update({"oIoU": _div(self._sums.inter, self._sums.union),
                        "mIoU": _div(sum(self._classic_iou), n)})
            ious = self._classic_iou
        arr = np.asarray(ious, dtype=np.float64)
        for t in self.thresholds:
            out[f"Prec@{t:g}"] = float(np.mean(arr >= t)) if len(arr) else None
        out["oIoU_by_length"] = {name: {"oIoU": _div(s.inter, s.union), "count": s.count}
                                 for name, s in self._buckets.items()}
        return out


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100.0 * v:.2f}"


def markdown_table(result: dict, title: str | None = None) -> str:
    """The metrics of :meth:`MetricAccumulator.result` as two markdown tables (percent)."""
    skip = {"protocol", "count", "target_count", "no_target_count", "oIoU_by_length"}
    names = [k for k in result if k not in skip and not isinstance(result[k], dict)]
    lines = [f"**{title}**", ""] if title else []
    counts = f"{result['count']} expressions"
    if "no_target_count" in result:
        counts += f" ({result['target_count']} with a target, {result['no_target_count']} without)"
    lines += [counts, "", "| " + " | ".join(names) + " |", "|" + "---:|" * len(names),
              "| " + " | ".join(_pct(result[k]) for k in names) + " |"]
    by_len = result.get("oIoU_by_length")
    if by_len:
        lines += ["", "| expression length (words) | " + " | ".join(by_len) + " |",
                  "|---|" + "---:|" * len(by_len),
                  "| oIoU | " + " | ".join(_pct(b["oIoU"]) for b in by_len.values()) + " |",
                  "| expressions | " + " | ".join(str(b["count"]) for b in by_len.values()) + " |"]
    return "\n".join(lines) + "\n"
