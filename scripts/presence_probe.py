"""Does the presence score answer "is it there?" or "does the phrase look like a no-target one?"

    python scripts/presence_probe.py [--model lgformer-compact] [--images 100] [--data-root data/synthref-v2]

For every object of the first test images whose shape is unique in its scene, five phrases: "the
star", "the red star" (true), "red star" (true, no article), "the green star" (a colour absent
from the scene) and "the blue star" (the colour of another object in the scene: the generator's own
hard negative, so a score that checks the colour must reject it). SynthRef's generator (without
``--overspecify``) never writes the second kind for a target (it names a unique shape alone), but
writes the fifth kind as its no-target expressions, so a presence score that learnt the phrasing
rejects the true "the red star". Prints the share each kind is accepted (p >= 0.5) and the share
whose probability map (>= 0.5, rejected or not) covers the unique shape (IoU >= 0.5): whether the
mask branch checks the colour where the presence score does not; and the share whose map is empty
(no pixel >= 0.5), which is what a presence read from the mask (``presence: mask``) can see; and,
for the other object's colour, the share whose map is on an object of that colour (IoU >= 0.5): the
mask found the colour and missed the shape.

    python scripts/presence_probe.py --count [--split train] [--data-root data/synthref-v6]

counts instead the split's expressions of the probe's form, "[the] <colour> <shape>" for a shape
unique in its scene, as true / no-target and with / without the article, and how often one epoch
of training draws them: the phrasing prior the presence heads learn (docs/architecture.md,
"Presence"). It loads no model.
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

import numpy as np

from rismodel.data.dataset import shortest_sentence
from rismodel.data.masks import segmentation_to_mask
from rismodel.data.synth_scene import COLORS
from rismodel.evaluation.metrics import mask_counts
from rismodel.imageio import load_image
from rismodel.predictor import Predictor

KINDS = ("the S", "the C S (true)", "C S (true, no article)", "the C S (absent colour)",
         "the C S (another object's colour)")


def phrases(shape: str, colour: str, absent: str, other: str | None) -> dict[str, str]:
    texts = (f"the {shape}", f"the {colour} {shape}", f"{colour} {shape}", f"the {absent} {shape}",
             f"the {other} {shape}" if other else None)
    return {k: t for k, t in zip(KINDS, texts) if t}


def iou(a: np.ndarray, b: np.ndarray) -> float:
    inter, union, _, _ = mask_counts(a, b)
    return inter / union if union else 0.0


def count_phrasings(root: Path, split: str = "train", shortest_prob: float = 0.5
                    ) -> dict[tuple[bool, bool], tuple[int, float]]:
    """``{(no_target, has_article): (sentences, draws)}`` over ``split``'s "[the] <colour> <unique
    shape>" sentences. ``draws`` is how many of them one epoch of training is expected to see: a
    training item is one ref, its shortest sentence with ``shortest_prob`` (the configs'
    ``data.shortest_sentence_prob``), else one drawn uniformly (rismodel.data.dataset)."""
    inst = json.loads((root / "synthref" / "instances.json").read_text())
    cats = {c["id"]: c["name"] for c in inst["categories"]}
    shapes = collections.defaultdict(collections.Counter)
    for a in inst["annotations"]:
        shapes[a["image_id"]][cats[a["category_id"]]] += 1
    keys = [(nt, art) for nt in (False, True) for art in (True, False)]
    sentences, draws = dict.fromkeys(keys, 0), dict.fromkeys(keys, 0.0)
    for ref in json.loads((root / "synthref" / "grefs(unc).json").read_text()):
        if ref["split"] != split:
            continue
        texts = [sent["raw"] for sent in ref["sentences"]]
        shortest = shortest_sentence(texts)
        for j, text in enumerate(texts):
            words = text.split()
            article = words[:1] == ["the"]
            words = words[1:] if article else words
            if len(words) == 2 and words[0] in COLORS and shapes[ref["image_id"]][words[1]] == 1:
                key = (bool(ref["no_target"]), article)
                sentences[key] += 1
                draws[key] += shortest_prob * (j == shortest) + (1 - shortest_prob) / len(texts)
    return {k: (sentences[k], draws[k]) for k in keys}


def print_counts(counts: dict[tuple[bool, bool], tuple[int, float]]) -> None:
    print("                 sentences  drawn per epoch")
    for (nt, art), (n, d) in counts.items():
        kind, article = "no-target" if nt else "true", '"the"' if art else "bare"
        print(f"{kind:>9}, {article:>5}: {n:9d}  {d:15.1f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append")
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--data-root", default="data/synthref-v2")
    ap.add_argument("--count", action="store_true", help="count the split's phrasings; no model")
    ap.add_argument("--split", default="train", help="with --count")
    ap.add_argument("--shortest-prob", type=float, default=0.5,
                    help="with --count: the training config's data.shortest_sentence_prob")
    args = ap.parse_args(argv)
    root = Path(args.data_root)
    if args.count:
        print_counts(count_phrasings(root, args.split, args.shortest_prob))
        return 0
    inst = json.loads((root / "synthref" / "instances.json").read_text())
    cats = {c["id"]: c["name"] for c in inst["categories"]}
    anns = collections.defaultdict(list)
    for a in inst["annotations"]:
        anns[a["image_id"]].append(a)
    images = [im for im in inst["images"] if im.get("split") == "test"][: args.images]
    for model in args.model or ["lgformer-compact", "lqmformer-compact"]:
        pred = Predictor.load(model)
        accepted, on_shape, empty = (collections.defaultdict(list) for _ in range(3))
        on_colour = []
        for im in images:
            pred.set_image(load_image(root / "images" / im["file_name"]))
            objs = anns[im["id"]]
            shapes = collections.Counter(cats[a["category_id"]] for a in objs)
            colours = {a["attributes"]["color"] for a in objs}
            absent = next(c for c in COLORS if c not in colours)
            for a in objs:
                shape = cats[a["category_id"]]
                if shapes[shape] == 1:
                    colour = a["attributes"]["color"]
                    other = min(colours - {colour}, default=None)
                    truth = segmentation_to_mask(a["segmentation"], im["height"], im["width"]) > 0
                    coloured = [segmentation_to_mask(o["segmentation"], im["height"], im["width"]) > 0
                                for o in objs if o["attributes"]["color"] == other]
                    for kind, text in phrases(shape, colour, absent, other).items():
                        out = pred.predict(text)
                        accepted[kind].append(out.score >= 0.5)
                        covered = out.prob >= 0.5
                        on_shape[kind].append(iou(covered, truth) >= 0.5)
                        empty[kind].append(not covered.any())
                        if kind == KINDS[4]:
                            on_colour.append(any(iou(covered, m) >= 0.5 for m in coloured))
        print(f"{model}: " + "; ".join(f"{k}: {100 * np.mean(v):.1f} % of {len(v)} accepted" for k, v in accepted.items()))
        print("  mask on the shape (IoU >= 0.5): " + "; ".join(f"{k}: {100 * np.mean(v):.1f} %"
                                                               for k, v in on_shape.items()))
        print("  map empty: " + "; ".join(f"{k}: {100 * np.mean(v):.1f} %" for k, v in empty.items()))
        if on_colour:
            print(f"  {KINDS[4]}: map on an object of that colour {100 * np.mean(on_colour):.1f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
