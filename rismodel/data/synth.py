"""SynthRef: a procedural referring-segmentation dataset written in the refer and gRefCOCO formats.

Layout (readable by :func:`rismodel.data.refer.load_dataset` with ``dataset="synthref"``)::

    OUT/images/synth_000000.png ...
    OUT/synthref/instances.json       images, annotations (RLE of the visible part), categories
    OUT/synthref/refs(unc).p          single-target refs (refer format, plain containers only)
    OUT/synthref/grefs(unc).json      the same refs plus multi-target and no-target ones

Image ``i`` is drawn from ``numpy.random.default_rng([seed, i])``, so a seed fixes every file
byte for byte and any image can be regenerated alone. Images are split 80/10/10 into
train/val/test (disjoint images), by a permutation drawn from ``default_rng(seed)``.
Expression lengths are counted in the buckets of LGFormer Table 3 (see synth_language).
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from rismodel.data.masks import mask_to_rle
from rismodel.data.synth_language import (
    BUCKETS,
    Phraser,
    bucket_of,
    colour_negatives,
    multi_target,
    no_target,
    overspecified,
    single_target,
)
from rismodel.data.synth_scene import SHAPES, make_scene
from rismodel.data.synth_variation import STREAM, Variation, apply_photometric
from rismodel.fileio import atomic_write_bytes, atomic_write_json

DATASET = "synthref"
SPLIT_BY = "unc"
SENTENCES_PER_OBJECT = 3
CATEGORY_IDS = {name: i + 1 for i, name in enumerate(SHAPES)}


@dataclass
class SynthStats:
    images: int = 0
    objects: int = 0
    single_refs: int = 0
    multi_refs: int = 0
    no_target_refs: int = 0
    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    splits: dict[str, int] = field(default_factory=dict)

    def histogram(self) -> str:
        total = max(sum(self.buckets), 1)
        lines = [f"{'words':>10} {'sentences':>10} {'share':>7}"]
        for (lo, hi), n in zip(BUCKETS, self.buckets):
            label = f"[{lo},{hi})" if hi < 10**9 else f"[{lo},+inf)"
            lines.append(f"{label:>10} {n:>10} {100 * n / total:>6.1f}% {'#' * round(40 * n / total)}")
        return "\n".join(lines)


def _pick_balanced(cands: list[str], k: int, rng: np.random.Generator) -> list[str]:
    """Up to ``k`` sentences from as many different length buckets as possible."""
    by_bucket: dict[int, list[str]] = {}
    for s in cands:
        by_bucket.setdefault(bucket_of(s), []).append(s)
    order = [int(b) for b in rng.permutation(sorted(by_bucket))]
    chosen = [by_bucket[b][int(rng.integers(len(by_bucket[b])))] for b in order[:k]]
    rest = [s for s in cands if s not in chosen]
    while len(chosen) < k and rest:
        chosen.append(rest.pop(int(rng.integers(len(rest)))))
    return chosen


def _sentences(texts: list[str], first_id: int) -> list[dict]:
    return [{"sent_id": first_id + i, "raw": t, "sent": t.lower(), "tokens": t.lower().split()}
            for i, t in enumerate(texts)]


def generate_image(seed: int, index: int, size_range: tuple[int, int], variation: Variation | None = None) -> dict:
    """Render image ``index`` and its expressions (pure function of seed, index and variation)."""
    rng = np.random.default_rng([seed, index])
    vrng = np.random.default_rng([seed, index, STREAM])  # the variation's own stream
    var = variation or Variation()
    scene = make_scene(rng, size_range, var, vrng)
    if var.photometric():
        scene.image = apply_photometric(scene.image, var, vrng)
    ph = Phraser(rng)
    objs = scene.objects
    singles = []
    for t in range(len(objs)):
        cands = single_target(objs, t, ph)
        singles.append(_pick_balanced(cands, SENTENCES_PER_OBJECT, rng))
    multis = multi_target(objs, ph)
    multis = [multis[int(i)] for i in rng.permutation(len(multis))[:2]]
    nones = no_target(objs, ph)[:2]
    own = []  # (object, over-specified expression) refs of their own: Variation.overspecify_own_ref
    if var.overspecify:  # drawn from the variation's stream: the scene's expressions stay as they were
        vph = Phraser(vrng)
        for t, sents in enumerate(singles):
            extra = [s for s in overspecified(objs, t, vph) if s not in sents]
            if sents and extra:
                pick = extra[int(vrng.integers(len(extra)))]
                # the article as often as in the no-target ones below, or it becomes the cue itself
                pick = pick.removeprefix("the ") if vrng.random() < 0.5 else pick
                if var.overspecify_own_ref:
                    own.append((t, pick))
                else:
                    sents.append(pick)
    if var.hard_negatives:  # after the over-specified ones: with 0 the variation stream is as before
        nones = nones + colour_negatives(objs, Phraser(vrng), var.hard_negatives)
    if var.overspecify:
        nones = [s.removeprefix("the ") if vrng.random() < 0.5 else s for s in nones]
    buf = io.BytesIO()
    Image.fromarray(scene.image).save(buf, format="PNG", compress_level=1)
    return {"png": buf.getvalue(), "scene": scene, "singles": singles, "own": own, "multis": multis,
            "nones": nones}


def generate(out_dir: str | Path, num_images: int, seed: int = 0,
             size_range: tuple[int, int] = (160, 640), progress=None,
             variation: Variation | None = None) -> SynthStats:
    """Write the whole dataset under ``out_dir``; returns counts and the length histogram."""
    if num_images < 3:
        raise ValueError("need at least 3 images (one per split)")
    lo, hi = size_range
    if not 32 <= lo <= hi:
        raise ValueError(f"image size range {lo}-{hi}: need 32 <= min <= max")
    out = Path(out_dir)
    n_val = n_test = max(1, round(0.1 * num_images))
    perm = np.random.default_rng(seed).permutation(num_images)
    split_of = {}
    for rank, idx in enumerate(perm.tolist()):
        split_of[idx] = "val" if rank < n_val else "test" if rank < n_val + n_test else "train"
    stats = SynthStats()
    images, anns, refs, grefs = [], [], [], []
    ref_id = sent_id = 0
    for idx in range(num_images):
        g = generate_image(seed, idx, size_range, variation)
        scene, split = g["scene"], split_of[idx]
        h, w = scene.owner.shape
        image_id, file_name = idx + 1, f"synth_{idx:06d}.png"
        atomic_write_bytes(out / "images" / file_name, g["png"])
        images.append({"id": image_id, "file_name": file_name, "width": w, "height": h, "split": split})
        ann_ids = []
        for i, o in enumerate(scene.objects):
            mask = scene.mask(i)
            ann_ids.append(image_id * 10 + i)
            anns.append({"id": ann_ids[-1], "image_id": image_id, "category_id": CATEGORY_IDS[o.shape],
                         "segmentation": mask_to_rle(mask), "area": float(o.area), "bbox": [float(v) for v in o.bbox],
                         "iscrowd": 0, "attributes": {"color": o.color, "size": o.size,
                                                      "texture": o.texture}})
        groups = [([i], s) for i, s in enumerate(g["singles"]) if s] + [([t], [s]) for t, s in g["own"]]
        groups += [(sorted(m), [s]) for m, s in g["multis"]] + [([], [s]) for s in g["nones"]]
        for members, texts in groups:
            sents = _sentences(texts, sent_id)
            sent_id += len(sents)
            ref_ids = [ann_ids[i] for i in members]
            cats = [CATEGORY_IDS[scene.objects[i].shape] for i in members]
            common = {"ref_id": ref_id, "image_id": image_id, "split": split, "file_name": file_name,
                      "sent_ids": [s["sent_id"] for s in sents], "sentences": sents}
            grefs.append({**common, "ann_id": ref_ids or [-1], "category_id": cats,
                          "no_target": not members})
            if len(members) == 1:
                refs.append({**common, "ann_id": ref_ids[0], "category_id": cats[0]})
                stats.single_refs += 1
            elif members:
                stats.multi_refs += 1
            else:
                stats.no_target_refs += 1
            for t in texts:
                stats.buckets[bucket_of(t)] += 1
            ref_id += 1
        stats.images += 1
        stats.objects += len(scene.objects)
        stats.splits[split] = stats.splits.get(split, 0) + 1
        if progress is not None:
            progress(idx + 1, num_images)
    root = out / DATASET
    atomic_write_json(root / "instances.json", {
        "info": {"description": f"SynthRef procedural referring dataset, seed {seed}",
                 **({} if variation is None or variation == Variation() else {"variation": variation.to_dict()})},
        "images": images, "annotations": anns,
        "categories": [{"id": i, "name": n, "supercategory": "shape"} for n, i in CATEGORY_IDS.items()]})
    atomic_write_bytes(root / f"refs({SPLIT_BY}).p", pickle.dumps(refs, protocol=2))
    atomic_write_json(root / f"grefs({SPLIT_BY}).json", grefs)
    return stats
