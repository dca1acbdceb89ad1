"""Where the shape-only bucket fails: oIoU and P@0.5 of the expressions that name a shape alone
("the star", 1-2 words), by the shape named and by the target's size (quartiles of its area).

    rismodel eval --model M ... --json m.json --per-expression
    python scripts/shape_breakdown.py m.json [--json OUT]

If small targets fail and large ones succeed, input resolution limits shape; if every size
fails alike, the shape features do.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from paired_gap import _rows

from rismodel.data.synth_scene import SHAPES
from rismodel.evaluation.metrics import MetricAccumulator


def _score(rows: list[dict]) -> dict:
    acc = MetricAccumulator()  # the eval command's own oIoU and Prec@0.5, from the recorded counts
    for r in rows:
        acc.add_counts(r["inter"], r["union"], r["pred_area"], r["gt_area"], n_words=r["words"])
    m = acc.result()
    return {"count": len(rows), "oiou": m["oIoU"] or 0.0, "p50": m["Prec@0.5"]}


def shape_breakdown(rows: list[dict]) -> dict:
    """Scores of the 1-2 word expressions by shape word and by target-area quartile."""
    alone = [r for r in rows if 1 <= r["words"] < 3]
    by_shape = {}
    for shape in SHAPES:
        named = [r for r in alone if shape in r["sentence"].lower().split()]
        if named:
            by_shape[shape] = _score(named)
    by_size = {}
    if alone:
        areas = [r["gt_area"] for r in alone]
        edges = np.quantile(areas, [0, 0.25, 0.5, 0.75, 1])
        quartile = np.searchsorted(edges[1:-1], areas, side="right")  # 0..3, the largest area in 3
        for k in range(4):
            part = [r for r, q in zip(alone, quartile) if q == k]
            if part:
                by_size[f"{edges[k]:.0f}-{edges[k + 1]:.0f} px"] = _score(part)
    return {"all": _score(alone), "by_shape": by_shape, "by_size": by_size}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("per_expression_json")
    p.add_argument("--json", metavar="OUT")
    args = p.parse_args(argv)
    res = shape_breakdown(_rows(args.per_expression_json))
    print("| group | expressions | oIoU | P@0.5 |\n|---|---:|---:|---:|")
    groups = [("all 1-2 words", res["all"])] + list(res["by_shape"].items()) + list(res["by_size"].items())
    for name, r in groups:
        print(f"| {name} | {r['count']} | {100 * r['oiou']:.1f} | {100 * r['p50']:.1f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"source": args.per_expression_json, **res}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
