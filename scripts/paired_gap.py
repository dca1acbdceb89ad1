"""Paired comparison of two models on the same expressions: oIoU per length bucket and the gap,
with a 95 % bootstrap interval over images (lgformer.md Table 3's question: does the gap grow
with expression length?).

    rismodel eval --model A ... --json a.json --per-expression
    rismodel eval --model B ... --json b.json --per-expression
    python scripts/paired_gap.py a.json b.json [--names A B] [--reps 2000] [--json OUT]

The gap is B minus A in oIoU points. Images, not expressions, are resampled: the expressions of
one image share its objects and are not independent.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from rismodel.evaluation.metrics import LENGTH_BUCKETS, bucket_name


def _rows(path: str) -> list[dict]:
    rec = json.loads(Path(path).read_text())
    if "per_expression" not in rec:
        sys.exit(f"{path}: no per-expression counts (run rismodel eval with --per-expression)")
    return rec["per_expression"]


def _key(r: dict) -> tuple:
    return r["image_id"], r["ref_id"], r["sentence"]


def paired_gap(a: list[dict], b: list[dict], reps: int = 2000, seed: int = 0) -> dict:
    """oIoU of A and B and the gap B - A (fractions) per bucket and overall, with 95 % intervals."""
    if [_key(r) for r in a] != [_key(r) for r in b]:
        raise ValueError("the two files do not hold the same expressions in the same order")
    images = sorted({r["image_id"] for r in a})
    index = {im: k for k, im in enumerate(images)}
    groups = [("all", 0, float("inf"))] + [(bucket_name(lo, hi), lo, hi) for lo, hi in LENGTH_BUCKETS]
    # Per image and group: summed I and U of each model, so one resample is a weighted sum.
    sums = np.zeros((len(groups), len(images), 4))
    counts = [0] * len(groups)
    for ra, rb in zip(a, b):
        im = index[ra["image_id"]]
        for g, (_, lo, hi) in enumerate(groups):
            if lo <= ra["words"] < hi:
                sums[g, im] += (ra["inter"], ra["union"], rb["inter"], rb["union"])
                counts[g] += 1
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(len(images), np.full(len(images), 1 / len(images)), size=reps)  # [R, N]
    out = {}
    for g, (name, _, _) in enumerate(groups):
        tot = sums[g].sum(0)
        if tot[1] == 0 or tot[3] == 0:
            continue
        boot = weights @ sums[g]  # [R, 4]
        with np.errstate(invalid="ignore", divide="ignore"):
            gaps = boot[:, 2] / boot[:, 3] - boot[:, 0] / boot[:, 1]
        gaps = gaps[np.isfinite(gaps)]
        lo, hi = np.percentile(gaps, [2.5, 97.5])
        out[name] = {"count": counts[g],
                     "a": tot[0] / tot[1], "b": tot[2] / tot[3], "gap": tot[2] / tot[3] - tot[0] / tot[1],
                     "gap_lo": float(lo), "gap_hi": float(hi)}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--names", nargs=2, default=["A", "B"])
    p.add_argument("--reps", type=int, default=2000)
    p.add_argument("--json", metavar="OUT")
    args = p.parse_args(argv)
    res = paired_gap(_rows(args.a), _rows(args.b), reps=args.reps)
    na, nb = args.names
    print(f"| words | expressions | {na} oIoU | {nb} oIoU | {nb} - {na} | 95 % interval |")
    print("|---|---:|---:|---:|---:|---|")
    for name, r in res.items():
        print(f"| {name} | {r['count']} | {100 * r['a']:.1f} | {100 * r['b']:.1f} | {100 * r['gap']:+.1f} "
              f"| [{100 * r['gap_lo']:+.1f}, {100 * r['gap_hi']:+.1f}] |")
    if args.json:
        Path(args.json).write_text(json.dumps({"a": args.a, "b": args.b, "names": args.names,
                                               "reps": args.reps, "buckets": res}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
