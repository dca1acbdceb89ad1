"""Render the README's result tables from the JSON files ``rismodel eval --json`` wrote.

    python scripts/results_table.py results/
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

BUCKETS = ["[1,3)", "[3,8)", "[8,13)", "[13,inf)"]


def pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}"


def load(folder: Path, name: str) -> dict | None:
    p = folder / f"{name}.json"
    return json.loads(p.read_text())["metrics"] if p.is_file() else None


def main(folder: str) -> None:
    f = Path(folder)
    rows = [("LGFormer-compact (shipped)", "lgformer-compact-final"),
            ("LQMFormer-compact (shipped)", "lqmformer-compact-final"),
            ("LQMFormer-compact, stage 1 only (1,800 steps)", "lqmformer-compact-stage1"),
            ("LQMFormer-compact, stages 1-2 (3,300 steps)", "lqmformer-compact-stage2"),
            ("LGFormer-compact, random Swin (previous default)", "scratch-lgformer-compact"),
            ("LQMFormer-compact, random Swin (previous default)", "scratch-lqmformer-compact"),
            ("whole image", "baseline-whole-image-test"),
            ("largest object", "baseline-largest-object-test")]
    print("| model | oIoU | mIoU | P@0.5 | P@0.6 | P@0.7 | P@0.8 | P@0.9 | " + " | ".join(BUCKETS) + " |")
    print("|---|" + "---:|" * (7 + len(BUCKETS)))
    for label, name in rows:
        m = load(f, name)
        if m is None:
            continue
        cells = [m["oIoU"], m["mIoU"]] + [m[f"Prec@{t}"] for t in ("0.5", "0.6", "0.7", "0.8", "0.9")]
        cells += [m["oIoU_by_length"][b]["oIoU"] for b in BUCKETS]
        print(f"| {label} | " + " | ".join(pct(c) for c in cells) + " |")
    print()
    print("| model (generalised: single, multi and no-target) | cIoU | gIoU | N-acc | T-acc | P@0.5 | P@0.7 | P@0.9 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, name in [("LQMFormer-compact (shipped)", "lqmformer-compact-final-generalised"),
                        ("LQMFormer-compact, random Swin (previous default)",
                         "scratch-lqmformer-compact-generalised"),
                        ("whole image", "baseline-whole-image-test-generalised"),
                        ("largest object", "baseline-largest-object-test-generalised")]:
        m = load(f, name)
        if m is None:
            continue
        cells = [m["cIoU"], m["gIoU"], m["N-acc"], m["T-acc"], m["Prec@0.5"], m["Prec@0.7"], m["Prec@0.9"]]
        print(f"| {label} | " + " | ".join(pct(c) for c in cells) + " |")
    print()
    print("| query (LGFormer-compact, random Swin, 2000 steps each) | oIoU | mIoU | "
          + " | ".join(BUCKETS) + " |")
    print("|---|" + "---:|" * (2 + len(BUCKETS)))
    for label, name in [("learnable, 10 queries merged by an MLP", "scratch-lgformer-learnable-q10"),
                        ("linguistic (the paper's)", "scratch-lgformer-compact")]:
        m = load(f, name)
        if m is None:
            continue
        cells = [m["oIoU"], m["mIoU"]] + [m["oIoU_by_length"][b]["oIoU"] for b in BUCKETS]
        print(f"| {label} | " + " | ".join(pct(c) for c in cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "results")
