"""Render the README's result tables from the JSON files ``rismodel eval --json`` wrote.

    python scripts/results_table.py results/          # the first defaults' tables
    python scripts/results_table.py --v2 results/v2   # issue 9: the retrained defaults, before/after
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


def classic_table(f: Path, rows, head: str = "model") -> None:
    print(f"| {head} | oIoU | mIoU | P@0.5 | P@0.6 | P@0.7 | P@0.8 | P@0.9 | " + " | ".join(BUCKETS) + " |")
    print("|---|" + "---:|" * (7 + len(BUCKETS)))
    for label, name in rows:
        m = load(f, name)
        if m is None:
            continue
        cells = [m["oIoU"], m["mIoU"]] + [m[f"Prec@{t}"] for t in ("0.5", "0.6", "0.7", "0.8", "0.9")]
        cells += [m["oIoU_by_length"][b]["oIoU"] for b in BUCKETS]
        print(f"| {label} | " + " | ".join(pct(c) for c in cells) + " |")
    print()


def generalised_table(f: Path, rows, head: str = "model (generalised: single, multi and no-target)") -> None:
    print(f"| {head} | cIoU | gIoU | N-acc | T-acc | P@0.5 | P@0.7 | P@0.9 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, name in rows:
        m = load(f, name)
        if m is None:
            continue
        cells = [m["cIoU"], m["gIoU"], m["N-acc"], m["T-acc"], m["Prec@0.5"], m["Prec@0.7"], m["Prec@0.9"]]
        print(f"| {label} | " + " | ".join(pct(c) for c in cells) + " |")
    print()


def boundary_table(f: Path, rows) -> None:
    """scripts/eval_refine.py's JSON: IoU and boundary F at the original resolution, raw and GrabCut."""
    print("| model (original resolution) | oIoU | boundary F | oIoU, GrabCut | boundary F, GrabCut |")
    print("|---|---:|---:|---:|---:|")
    for label, name in rows:
        p = f / f"{name}.json"
        if not p.is_file():
            continue
        v = json.loads(p.read_text())["results"]
        raw, cut = v["none"], next((v[k] for k in v if k.startswith("grabcut")), None)
        cells = [raw["oIoU"], raw["boundary_F"]] + ([cut["oIoU"], cut["boundary_F"]] if cut else [None, None])
        print(f"| {label} | " + " | ".join(pct(c) for c in cells) + " |")
    print()


def first_defaults(f: Path) -> None:
    classic_table(f, [("LGFormer-compact (shipped)", "lgformer-compact-final"),
                      ("LQMFormer-compact (shipped)", "lqmformer-compact-final"),
                      ("LQMFormer-compact, stage 1 only (1,800 steps)", "lqmformer-compact-stage1"),
                      ("LQMFormer-compact, stages 1-2 (3,300 steps)", "lqmformer-compact-stage2"),
                      ("LGFormer-compact, random Swin (previous default)", "scratch-lgformer-compact"),
                      ("LQMFormer-compact, random Swin (previous default)", "scratch-lqmformer-compact"),
                      ("whole image", "baseline-whole-image-test"),
                      ("largest object", "baseline-largest-object-test")])
    generalised_table(f, [("LQMFormer-compact (shipped)", "lqmformer-compact-final-generalised"),
                          ("LQMFormer-compact, random Swin (previous default)",
                           "scratch-lqmformer-compact-generalised"),
                          ("whole image", "baseline-whole-image-test-generalised"),
                          ("largest object", "baseline-largest-object-test-generalised")])
    query_table(f, "query (LGFormer-compact, random Swin, 2000 steps each)",
                [("learnable, 10 queries merged by an MLP", "scratch-lgformer-learnable-q10"),
                 ("linguistic (the paper's)", "scratch-lgformer-compact")])


def query_table(f: Path, head: str, rows) -> None:
    """lgformer.md Table 3's comparison: oIoU overall and per expression length."""
    print(f"| {head} | oIoU | mIoU | " + " | ".join(BUCKETS) + " |")
    print("|---|" + "---:|" * (2 + len(BUCKETS)))
    for label, name in rows:
        m = load(f, name)
        if m is None:
            continue
        cells = [m["oIoU"], m["mIoU"]] + [m["oIoU_by_length"][b]["oIoU"] for b in BUCKETS]
        print(f"| {label} | " + " | ".join(pct(c) for c in cells) + " |")
    print()


def gap_table(path: Path) -> None:
    """scripts/paired_gap.py's JSON: the gap per bucket with its bootstrap interval."""
    if not path.is_file():
        return
    g = json.loads(path.read_text())
    na, nb = g["names"]
    print(f"| words | expressions | {nb} - {na} (oIoU points) | 95 % interval over images |")
    print("|---|---:|---:|---|")
    for name, r in g["buckets"].items():
        print(f"| {name} | {r['count']} | {100 * r['gap']:+.1f} | "
              f"[{100 * r['gap_lo']:+.1f}, {100 * r['gap_hi']:+.1f}] |")
    print()


def issue9(f: Path) -> None:
    models = [("LGFormer-compact, before (first default)", "lgformer-before"),
              ("LGFormer-compact, issue 9 stages 1-2 (2,400 steps)", "lgformer-after"),
              ("LGFormer-compact, + stage 3 (4,600 steps)", "lgformer-stage3"),
              ("LGFormer-compact, + stage 4, Swin at 1x lr (8,200 steps; shipped)", "lgformer-stage4"),
              ("LGFormer-compact, + stage 5 on --overspecify data (10,600 steps; not shipped)", "lgformer-stage5"),
              ("LGFormer-compact, + stage 6 on balanced-draw data (12,600 steps; not shipped)", "lgformer-stage6"),
              ("LGFormer-compact, shipped + 1,800 steps on v7, presence read from the mask (10,000 steps; not shipped)",
               "lgformer-v7"),
              ("LQMFormer-compact, before (first default)", "lqmformer-before"),
              ("LQMFormer-compact, issue 9 stages 1-2 (2,400 steps)", "lqmformer-after"),
              ("LQMFormer-compact, + stage 3 at half lr (3,400 steps; not shipped)", "lqmformer-stage3"),
              ("LQMFormer-compact, + stage 3 at full lr (6,000 steps; shipped)", "lqmformer-stage3b"),
              ("LQMFormer-compact, + stage 4 on --overspecify data (8,400 steps; not shipped)", "lqmformer-stage4"),
              ("LQMFormer-compact, + stage 5 on balanced-draw data (10,400 steps; not shipped)", "lqmformer-stage5"),
              ("LQMFormer-compact, shipped + 1,800 steps on v7, presence read from the mask (7,800 steps; not shipped)",
               "lqmformer-v7")]
    print("In distribution (varied SynthRef test split):\n")
    classic_table(f, [(label, f"{name}-test") for label, name in models])
    print("Robustness set (other seed, harsher rendering):\n")
    classic_table(f, [(label, f"{name}-robust") for label, name in models])
    print("Generalised (no-target expressions included; LGFormer: its presence score):\n")
    generalised_table(f, [(label, f"{name}-test-generalised") for label, name in models], head="model")
    print("Mask edges (first 400 test expressions, original resolution):\n")
    boundary_table(f, [(label, f"{name}-boundary") for label, name in models])
    print("Overfit check (the training split of a 60-image SynthRef, 202 refs, 606 expressions):\n")
    classic_table(f, [("LGFormer-compact v2, 400 steps x 8", "overfit-lgformer-train"),
                      ("LGFormer-compact v2, 400 steps x 8, Swin at 1x lr", "overfit-lgformer-backbone-lr1-train"),
                      ("LQMFormer-compact v2, 400 steps x 8", "overfit-lqmformer-train")])
    print("lgformer.md Table 3 at the v2 recipe (equal budget, the same Swin; whole test split):\n")
    query_table(f, "query (LGFormer-compact v2, 900 steps x 12 each)",
                [("learnable, 10 queries merged by an MLP", "t3-learnable-q10-test"),
                 ("linguistic (the paper's)", "t3-linguistic-test")])
    gap_table(f / "t3-gap.json")
    if (f / "t3-seed1-gap.json").is_file():
        print("The same pair again with training seed 1:\n")
        query_table(f, "query (seed 1)", [("learnable, 10 queries merged by an MLP", "t3-seed1-learnable-q10-test"),
                                          ("linguistic (the paper's)", "t3-seed1-linguistic-test")])
        gap_table(f / "t3-seed1-gap.json")


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--v2"]:
        issue9(Path(args[1] if len(args) > 1 else "results/v2"))
    else:
        first_defaults(Path(args[0] if args else "results"))
