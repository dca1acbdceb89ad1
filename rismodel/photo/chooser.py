"""Choose the referred object(s) among the image's detections for a parsed expression, and say
why (the rule that decided), or choose nothing.

Order of the rules: class (head noun) -> colour -> relation to an anchor object -> order from a
side -> position -> size -> detector confidence. Each step narrows the candidates; the first
that picks a single object names the rule in the explanation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .detector import Detection, box_iou
from .parser import Phrase
from .vocab import ClassMatch

MIN_CANDIDATE = 0.15  # detector score a candidate needs ...
RELATIVE_CANDIDATE = 0.35  # ... and this share of the best score of its class
NEIGHBOUR_CLASS = 0.6  # class-name similarity for "no cat found, but a dog": the detector confuses them
COLOUR_KEEP = 0.6  # keep candidates whose colour share is >= this share of the best one


@dataclass
class Choice:
    indices: list[int]  # into the detections
    presence: float  # probability-like: does the expression refer to something here
    rule: str  # the rule that decided
    match: ClassMatch | None = None
    notes: list[str] = field(default_factory=list)

    def explanation(self, dets: list[Detection]) -> str:
        if not self.indices:
            what = "nothing"
        else:
            names = sorted({dets[i].name for i in self.indices})
            what = (f"{len(self.indices)} x {', '.join(names)}" if len(self.indices) > 1
                    else f"{dets[self.indices[0]].name} ({dets[self.indices[0]].score:.2f})")
        parts = [f"chose {what}", f"by {self.rule}"]
        if self.match is not None:
            if self.match.how == "text encoder":
                parts.append(f"'{self.match.word}' -> {self.match.name} (text encoder, "
                             f"similarity {self.match.similarity:.2f})")
            elif self.match.how == "unknown":
                parts.append(f"'{self.match.word}' is not one of the 80 COCO classes")
        return "; ".join(parts + self.notes)


def presence_of(score: float) -> float:
    # The detector's confidences sit at 0.3-0.7 for true objects; this maps 0.3 -> 0.51, 0.5 -> 0.75.
    return 1.0 - (1.0 - max(0.0, min(1.0, score))) ** 2


def candidates(dets: list[Detection], cls: int) -> list[int]:
    idx = [i for i, d in enumerate(dets) if d.cls == cls]
    if not idx:
        return []
    best = max(dets[i].score for i in idx)
    keep = [i for i in idx if dets[i].score >= max(MIN_CANDIDATE, RELATIVE_CANDIDATE * best)]
    return keep or [max(idx, key=lambda i: dets[i].score)]


def choose(phrase: Phrase, dets: list[Detection], image_size: tuple[int, int], matcher,
           colour_of, exclude: int | None = None) -> Choice:
    """``image_size`` = (w, h); ``colour_of(i)`` -> {colour: share} of detection i."""
    w, h = image_size
    notes: list[str] = []
    match = matcher.match(phrase.head) if phrase.head else None
    if match is not None and match.cls is not None:
        cands = candidates(dets, match.cls)
        if not cands:  # the detector often calls a cat a dog: accept the nearest detected class
            near = sorted({d.cls for d in dets}, key=lambda c: -matcher.class_similarity(match.cls, c))
            near = [c for c in near if matcher.class_similarity(match.cls, c) >= NEIGHBOUR_CLASS]
            if near:
                cands = candidates(dets, near[0])
                notes.append(f"no {match.name} detected, took the nearest class {dets[cands[0]].name}")
        if not cands:
            return Choice([], 0.0, f"no {match.name} detected", match)
        penalty = 1.0 if not notes else 0.6
    else:
        cands = [i for i, d in enumerate(dets) if d.score >= 0.3] or \
            ([max(range(len(dets)), key=lambda i: dets[i].score)] if dets else [])
        if not cands:
            return Choice([], 0.0, "no object detected", match)
        penalty = 0.5
        notes.append("no class named: chose among all detected objects")
    if exclude is not None:
        cands = [i for i in cands if i != exclude and box_iou(dets[i].box, dets[exclude].box) < 0.7] or cands
    rule = "class"
    if phrase.colours:
        shares = {i: sum(colour_of(i)[c] for c in phrase.colours) for i in cands}
        best = max(shares.values())
        if best > 0:
            cands = [i for i in cands if shares[i] >= COLOUR_KEEP * best]
            if not phrase.plural:
                cands = sorted(cands, key=lambda i: -shares[i])
            rule = f"colour {'/'.join(phrase.colours)} ({best:.0%} of its pixels)"
        else:
            notes.append(f"no candidate shows {'/'.join(phrase.colours)}")
    single = not phrase.plural or phrase.ordinal is not None or phrase.positions or phrase.size
    if phrase.relation and phrase.anchor is not None and len(cands) > 0:
        anchor = choose(phrase.anchor, dets, image_size, matcher, colour_of)
        if anchor.indices:
            a = anchor.indices[0]
            ax, ay = dets[a].center
            ok = {"left of": lambda i: dets[i].center[0] < ax, "right of": lambda i: dets[i].center[0] > ax,
                  "above": lambda i: dets[i].center[1] < ay, "below": lambda i: dets[i].center[1] > ay,
                  "next to": lambda i: True}[phrase.relation]
            pool = [i for i in cands if i != a and box_iou(dets[i].box, dets[a].box) < 0.7] or cands
            sat = [i for i in pool if ok(i)]
            if not sat:
                notes.append(f"nothing {phrase.relation} the {dets[a].name}; took the nearest")
            pool = sat or pool

            def dist(i):
                cx, cy = dets[i].center
                return ((cx - ax) / w) ** 2 + ((cy - ay) / h) ** 2

            cands = sorted(pool, key=dist)
            rule = f"{phrase.relation} the {dets[a].name}"
            single = True
        else:
            notes.append(f"anchor '{phrase.anchor.text}' not found")
    if phrase.ordinal is not None and len(cands) > 1:
        side = phrase.positions[0] if phrase.positions else "left"
        key = _side_key(side, dets)
        order = sorted(cands, key=key)
        k = phrase.ordinal - 1 if phrase.ordinal > 0 else len(order) - 1
        cands = [order[min(k, len(order) - 1)]]
        rule = f"order {phrase.ordinal if phrase.ordinal > 0 else 'last'} from the {side}"
    elif phrase.positions and len(cands) > 1:
        keys = [_side_key(s, dets, w, h) for s in phrase.positions]
        cands = sorted(cands, key=lambda i: sum(k(i) for k in keys))
        rule = f"position {' '.join(phrase.positions)}"
    elif phrase.size and len(cands) > 1:
        cands = sorted(cands, key=lambda i: -dets[i].area if phrase.size == "biggest" else dets[i].area)
        rule = f"size {phrase.size}"
    elif rule == "class" and len(cands) > 1 and single:
        cands = sorted(cands, key=lambda i: -dets[i].score)
        rule = "class (most confident of several)"
    if single:
        cands = cands[:1]
    elif len(cands) > 1:
        rule += " (plural: all)"
    presence = presence_of(max(dets[i].score for i in cands)) * penalty
    return Choice(cands, presence, rule, match, notes)


def _side_key(side: str, dets: list[Detection], w: float = 1.0, h: float = 1.0):
    """Sort key (ascending = closest to the side), normalised by the image size."""
    if side == "left":
        return lambda i: dets[i].center[0] / w
    if side == "right":
        return lambda i: -dets[i].center[0] / w
    if side == "top":
        return lambda i: dets[i].center[1] / h
    if side == "bottom":
        return lambda i: -dets[i].center[1] / h
    return lambda i: abs(dets[i].center[0] / w - 0.5) + abs(dets[i].center[1] / h - 0.5)
