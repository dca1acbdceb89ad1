"""Measure the edge refinement of rismodel/refine.py: mask IoU and boundary F with and without it.

``python scripts/eval_refine.py --data-root DIR --split test --model lgformer-compact [--json OUT]``

Each expression is predicted once through the Predictor (the app's path: the probability map at
the image's own resolution), then scored as is, after the guided filter (every ``--guided`` setting
CELLS:EPS) and after GrabCut. Metrics at the original resolution: oIoU, mIoU, and DAVIS's boundary
F-measure (mean over expressions, tolerance 0.8% of the diagonal). Pick the setting on ``--split
val``, report it on ``--split test``.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from rismodel import refine
from rismodel.data.refer import load_dataset
from rismodel.evaluation.metrics import MetricAccumulator, boundary_f_score, word_count
from rismodel.imageio import load_image
from rismodel.predictor import Predictor


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-root", required=True)
    p.add_argument("--dataset", default="synthref")
    p.add_argument("--split", default="test")
    p.add_argument("--model", default="lgformer-compact")
    p.add_argument("--device", default="cpu")
    p.add_argument("--limit", type=int, help="first N expressions only")
    p.add_argument("--guided", nargs="*", default=["2:1e-4"], metavar="CELLS:EPS")
    p.add_argument("--grabcut", nargs="*", default=["1.5"], metavar="BAND_CELLS",
                   help="GrabCut settings: width of the undecided band in model cells (none: no GrabCut)")
    p.add_argument("--json", metavar="OUT")
    args = p.parse_args(argv)

    samples = load_dataset(args.data_root, args.dataset, "unc", args.split)
    pred = Predictor.load(args.model, device=args.device)
    side = pred.config.input.image_size // 4  # the logits' side: the masks are predicted at 1/4
    variants = {"none": None}
    for g in args.guided:
        cells, eps = g.split(":")
        variants[f"guided {cells}:{eps}"] = ("guided", float(cells), float(eps))
    for band in args.grabcut:
        variants[f"grabcut {band}"] = ("grabcut", float(band))
    accs = {k: MetricAccumulator() for k in variants}
    bf = {k: [] for k in variants}
    secs = {k: 0.0 for k in variants}
    n = 0
    for s in samples:
        if args.limit and n >= args.limit:
            break
        image = load_image(s.image_path)
        gt = s.mask() > 0
        pred.set_image(image)
        for sentence in s.sentences:
            if args.limit and n >= args.limit:
                break
            out = pred.predict(sentence)
            for name, v in variants.items():
                t0 = time.perf_counter()
                if v is None:
                    m = out.prob >= 0.5
                elif v[0] == "guided":
                    m = refine.refine_prob(image, out.prob, cells=v[1], eps=v[2], logits_side=side) >= 0.5
                else:
                    m = refine.grabcut_mask(image, out.prob >= 0.5, band_cells=v[1], logits_side=side)
                secs[name] += time.perf_counter() - t0
                accs[name].add(m, gt, word_count(sentence))
                bf[name].append(boundary_f_score(m, gt))
            n += 1
        print(f"\r{n} expressions", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    rows = {}
    print(f"{args.model} on {args.dataset} {args.split}, {n} expressions, original resolution")
    print("| refinement | oIoU | mIoU | boundary F | ms / mask |")
    print("|---|---:|---:|---:|---:|")
    for name in variants:
        r = accs[name].result()
        rows[name] = {"oIoU": r["oIoU"], "mIoU": r["mIoU"], "boundary_F": float(np.mean(bf[name])),
                      "ms_per_mask": 1000 * secs[name] / max(n, 1)}
        x = rows[name]
        print(f"| {name} | {100 * x['oIoU']:.2f} | {100 * x['mIoU']:.2f} | {100 * x['boundary_F']:.2f} | "
              f"{x['ms_per_mask']:.1f} |")
    if args.json:
        from rismodel.fileio import atomic_write_json

        atomic_write_json(args.json, {"model": args.model, "split": args.split, "expressions": n,
                                      "data_root": args.data_root, "results": rows}, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
