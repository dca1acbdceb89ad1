"""Score every phrase of resources/demo/expressions.txt on its demo scene, as the app shows it.

    python scripts/check_demo_phrases.py [--model lgformer-compact] [--model lqmformer-compact] [--json OUT]

The demo scenes are SynthRef images (resources/demo/make_demo.py: seed 7, indices 0-3), so each
phrase's object is known: the scene is rendered again and the phrase is looked up among its
single-target sentences. A phrase is right when the Predictor's mask (the app's path: threshold
0.5, presence applied) has IoU >= 0.5 with its object; a phrase under "# absent" is right when
the mask is empty (the presence score rejected it, or no pixel passed the threshold).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo"
SEED, INDICES, SIZE = 7, (0, 1, 2, 3), (360, 480)  # as make_demo.py


def read_phrases(path: Path) -> list[tuple[str, str, bool]]:
    """(image name, phrase, absent) for every phrase of expressions.txt."""
    out, image, absent = [], None, False
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line == "# absent":
            absent = True
        elif line.startswith("# "):
            image, absent = line[2:], False
        elif line:
            out.append((image, line, absent))
    return out


def object_masks() -> dict[str, dict[str, np.ndarray]]:
    """Image name -> {single-target sentence: its object's mask}."""
    from rismodel.data.synth import generate_image

    table = {}
    for n, i in enumerate(INDICES, start=1):
        item = generate_image(SEED, i, SIZE)
        scene = item["scene"]
        table[f"synth_scene_{n}.jpg"] = {s: scene.mask(t) > 0 for t, group in enumerate(item["singles"])
                                         for s in group}
    return table


def check(model: str) -> dict:
    from rismodel.imageio import load_image
    from rismodel.predictor import Predictor

    pred = Predictor.load(model, device="cpu")
    masks = object_masks()
    rows, image_name = [], None
    for name, phrase, absent in read_phrases(DEMO / "expressions.txt"):
        if name != image_name:
            pred.set_image(load_image(DEMO / name))
            image_name = name
        p = pred.predict(phrase)
        if absent:
            iou, right = None, not p.mask.any()
        else:
            gt = masks[name][phrase]
            union = np.logical_or(p.mask, gt).sum()
            iou = float(np.logical_and(p.mask, gt).sum() / union) if union else 0.0
            right = iou >= 0.5
        rows.append({"image": name, "phrase": phrase, "absent": absent, "score": round(p.score, 3),
                     "iou": None if iou is None else round(iou, 3), "right": bool(right)})
    return {"model": model, "right": sum(r["right"] for r in rows), "phrases": len(rows), "rows": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append", help="model name or checkpoint (repeatable)")
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args(argv)
    results = [check(m) for m in (args.model or ["lgformer-compact", "lqmformer-compact"])]
    for r in results:
        print(f"{r['model']}: {r['right']} of {r['phrases']} phrases right")
        for row in r["rows"]:
            got = "absent" if row["absent"] else f"IoU {row['iou']:.2f}"
            print(f"  {'ok ' if row['right'] else 'BAD'} {row['image']}: {row['phrase']!r} ({got}, p {row['score']:.2f})")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
