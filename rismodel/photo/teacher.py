"""photo-coco as a teacher: for each confidently detected object of a photo, its mask and
several generated referring expressions (class, colour, position, relation), each kept only if
photo-coco itself, given that expression, picks that same object back (so an expression that
is ambiguous among the photo's detections is not written).

The output is what ``rismodel annotate --model photo-coco`` writes (COCO with expressions), for
``rismodel train --init lgformer-compact`` (or lqmformer) to fine-tune on after review.
"""

from __future__ import annotations

from ..data.coco_refs import ObjectEntry
from .detector import box_iou

MIN_TEACH = 0.3  # detector score an object needs to be proposed
MIN_COLOUR = 0.35  # share of the object's pixels a colour needs to be named
MIN_FILL = 0.1  # share of its box an object's mask must fill to be proposed


def _dominant_colour(shares: dict[str, float]) -> str | None:
    colour, share = max(shares.items(), key=lambda kv: kv[1])
    return colour if share >= MIN_COLOUR else None


def candidate_expressions(engine, i: int, objects: list[int]) -> list[tuple[str, str]]:
    """(type, expression) candidates for detection ``i`` among the proposed ``objects``."""
    dets = engine.detections
    d = dets[i]
    w, h = engine.image_size
    name = d.name
    same = [j for j in objects if dets[j].cls == d.cls]
    out = [("class", f"the {name}")]
    colour = _dominant_colour(engine.colour_of(i))
    if colour:
        out.append(("colour", f"the {name} in {colour}" if name == "person" else f"the {colour} {name}"))
    cx, cy = d.center
    if len(same) > 1:
        xs = sorted(same, key=lambda j: dets[j].center[0])
        if i == xs[0]:
            out.append(("position", f"the {name} on the left"))
        elif i == xs[-1]:
            out.append(("position", f"the {name} on the right"))
        elif len(xs) >= 3:
            out.append(("position", f"the second {name} from the left" if i == xs[1]
                        else f"the second {name} from the right" if i == xs[-2] else f"the {name} in the middle"))
        areas = sorted(same, key=lambda j: dets[j].area)
        if i == areas[-1]:
            out.append(("position", f"the biggest {name}"))
    else:
        side = "left" if cx < w / 3 else "right" if cx > 2 * w / 3 else "middle"
        out.append(("position", f"the {name} on the {side}" if side != "middle" else f"the {name} in the middle"))
    others = [j for j in objects if j != i and dets[j].cls != d.cls and box_iou(dets[j].box, d.box) < 0.5]
    if others:
        j = min(others, key=lambda j: ((dets[j].center[0] - cx) / w) ** 2 + ((dets[j].center[1] - cy) / h) ** 2)
        ox, oy = dets[j].center
        dx, dy = (cx - ox) / w, (cy - oy) / h
        rel = ("left of" if dx < 0 else "right of") if abs(dx) >= abs(dy) else ("above" if dy < 0 else "below")
        out.append(("relation", f"the {name} {rel} the {dets[j].name}"))
    return out


def propose(engine) -> tuple[list[ObjectEntry], list[list[str]], list[float]]:
    """-> (objects with masks and expressions, each object's expression types, detector scores)."""
    dets = engine.detections
    objects = []
    for i in sorted(range(len(dets)), key=lambda i: -dets[i].score):
        d = dets[i]
        # one object per place: the detector often gives several classes for one box
        if d.score >= MIN_TEACH and all(box_iou(d.box, dets[j].box) < 0.7 for j in objects):
            objects.append(i)
    entries, types, scores = [], [], []
    for i in objects:
        kept = [(t, e) for t, e in candidate_expressions(engine, i, objects)
                if engine.choose(e).indices == [i]]
        if not kept:
            continue
        mask = engine.object_mask(i)
        if mask.sum() < MIN_FILL * dets[i].area:  # the mask maker found (almost) nothing in the box
            continue
        entries.append(ObjectEntry(dets[i].name, mask, [e for _, e in kept]))
        types.append([t for t, _ in kept])
        scores.append(float(dets[i].score))
    return entries, types, scores
