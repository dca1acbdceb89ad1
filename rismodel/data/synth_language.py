"""Referring expressions for procedural scenes, checked against the scene's semantics.

Each candidate expression is built from a small meaning (attributes, an absolute region, an
ordinal, relations to landmark objects) and evaluated on every object with three-valued
predicates: 1 = clearly true, 0 = clearly false, 0.5 = too close to call (an object near the
middle for "on the left", two centroids at almost the same height for "above"). An expression is
kept only when its targets score 1 and every other object scores 0, so it is unambiguous in its
scene, including for a human looking at borderline positions. Complexity rises from the shape
name ("circle") through attributes, regions, ordinals and relations to multi-clause expressions;
lengths follow the buckets of LGFormer Table 3 ([1,3), [3,8), [8,13), 13+ words).
"""

from __future__ import annotations

import itertools

import numpy as np

from rismodel.data.synth_scene import COLORS, SHAPES, TEXTURES, SceneObject

SIZE_WORDS = {"small": ("small", "little"), "medium": ("medium-sized",), "large": ("large", "big")}
TEXTURE_WORDS = {"solid": ("solid", "plain"), "striped": ("striped",), "dotted": ("dotted", "spotted"),
                 "checkered": ("checkered",)}
GENERIC_NOUNS = ("shape", "object")
PLURALS = {"cross": "crosses"}
REGIONS = {  # phrase after the noun, adjective before it, (horizontal, vertical) region names
    ("left", None): ("on the left", "left"), ("right", None): ("on the right", "right"),
    (None, "top"): ("at the top", "top"), (None, "bottom"): ("at the bottom", "bottom"),
    ("middle", "middle"): ("in the middle", "central"),
    ("left", "top"): ("in the top left corner", "top left"),
    ("right", "top"): ("in the top right corner", "top right"),
    ("left", "bottom"): ("in the bottom left corner", "bottom left"),
    ("right", "bottom"): ("in the bottom right corner", "bottom right"),
}
RELATIONS = {"left_of": ("left of", "to the left of"), "right_of": ("right of", "to the right of"),
             "above": ("above", "over"), "below": ("below", "under", "beneath")}
ORDINALS = ("first", "second", "third", "fourth")
DIRECTIONS = {"left": ("leftmost",), "right": ("rightmost",), "top": ("topmost", "highest"),
              "bottom": ("lowest", "bottommost")}
COUNTS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}
FUNCTION_WORDS = ("the", "that", "is", "and", "from", "all", "both")
BUCKETS = ((1, 3), (3, 8), (8, 13), (13, 10**9))
ATTRS = ("size", "texture", "color")


def plural(noun: str) -> str:
    return PLURALS.get(noun, noun + "s")


def vocabulary() -> set[str]:
    """Every word the generator can emit."""
    words = set(FUNCTION_WORDS) | set(COLORS) | set(SHAPES) | set(GENERIC_NOUNS)
    words |= {plural(n) for n in SHAPES + GENERIC_NOUNS} | set(ORDINALS) | set(COUNTS.values())
    for table in (SIZE_WORDS, TEXTURE_WORDS, DIRECTIONS, RELATIONS):
        words |= {w for phrases in table.values() for p in phrases for w in p.split()}
    words |= {w for pair in REGIONS.values() for p in pair for w in p.split()}
    return words


def bucket_of(sentence: str) -> int:
    n = len(sentence.split())
    return next(i for i, (lo, hi) in enumerate(BUCKETS) if lo <= n < hi)


def _fuzzy(value: np.ndarray, yes: float, no: float) -> np.ndarray:
    """1 where value > yes, 0 where value < no, 0.5 in between (requires no < yes)."""
    return np.where(value > yes, 1.0, np.where(value < no, 0.0, 0.5))


def region_score(objs: list[SceneObject], h: str | None, v: str | None) -> np.ndarray:
    cx = np.array([o.cx for o in objs])
    cy = np.array([o.cy for o in objs])
    s = np.ones(len(objs))
    for name, u in ((h, cx), (v, cy)):
        if name in ("left", "top"):
            s = np.minimum(s, _fuzzy(-u, -0.30, -0.42))
        elif name in ("right", "bottom"):
            s = np.minimum(s, _fuzzy(u, 0.70, 0.58))
        elif name == "middle":
            s = np.minimum(s, _fuzzy(-np.abs(u - 0.5), -0.12, -0.25))
    return s


def relation_score(objs: list[SceneObject], rel: str, j: int) -> np.ndarray:
    """How clearly each object stands in ``rel`` to landmark ``j`` (the landmark itself: 0)."""
    lm = objs[j]
    d = {"left_of": [lm.cx - o.cx for o in objs], "right_of": [o.cx - lm.cx for o in objs],
         "above": [lm.cy - o.cy for o in objs], "below": [o.cy - lm.cy for o in objs]}[rel]
    s = _fuzzy(np.array(d), 0.06, 0.015)
    s[j] = 0.0
    return s


def match(objs: list[SceneObject], desc: dict) -> np.ndarray:
    return np.array([float(all(getattr(o, k) == v for k, v in desc.items())) for o in objs])


def ordinal_score(objs: list[SceneObject], desc: dict, direction: str, k: int) -> np.ndarray:
    """1 for the k-th (0-based) matching object from ``direction``; 0.5 everywhere if the order
    of the matching objects along that axis is not clear (centroids closer than 5%)."""
    m = np.flatnonzero(match(objs, desc))
    key = {"left": lambda o: o.cx, "right": lambda o: -o.cx, "top": lambda o: o.cy,
           "bottom": lambda o: -o.cy}[direction]
    order = sorted(m, key=lambda i: key(objs[i]))
    s = np.zeros(len(objs))
    vals = [key(objs[i]) for i in order]
    if len(order) < 2 or k >= len(order) or any(b - a < 0.05 for a, b in itertools.pairwise(vals)):
        s[m] = 0.5
        return s
    s[order[k]] = 1.0
    return s


def unique(scores: np.ndarray, targets: set[int]) -> bool:
    want = np.zeros(len(scores))
    want[list(targets)] = 1.0
    return bool(np.array_equal(scores, want))


class Phraser:
    """Turns meanings into words, drawing synonyms from the scene's Generator."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def pick(self, options):
        return options[int(self.rng.integers(len(options)))]

    def desc(self, d: dict, plural_form: bool = False) -> str:
        words = []
        if "size" in d:
            words.append(self.pick(SIZE_WORDS[d["size"]]))
        if "texture" in d:
            words.append(self.pick(TEXTURE_WORDS[d["texture"]]))
        if "color" in d:
            words.append(d["color"])
        noun = d.get("shape") or self.pick(GENERIC_NOUNS)
        words.append(plural(noun) if plural_form else noun)
        return " ".join(words)


def descriptions(o: SceneObject) -> list[dict]:
    """All attribute subsets of an object, shortest first (with and without the shape)."""
    out = []
    for n in range(len(ATTRS) + 1):
        for keys in itertools.combinations(ATTRS, n):
            base = {k: getattr(o, k) for k in keys}
            out.append({**base, "shape": o.shape})
            if keys:
                out.append(base)
    return out


def full_desc(o: SceneObject) -> dict:
    return {"size": o.size, "texture": o.texture, "color": o.color, "shape": o.shape}


def _minimal_unique(objs: list[SceneObject], i: int) -> dict | None:
    return next((d for d in descriptions(objs[i]) if unique(match(objs, d), {i})), None)


def single_target(objs: list[SceneObject], t: int, ph: Phraser) -> list[str]:
    """Every kind of unambiguous expression for object ``t`` that this scene allows."""
    o, out = objs[t], []
    short = [d for d in descriptions(o) if unique(match(objs, d), {t})]
    if short:  # attributes only: the shortest, bare and with "the", and a longer one
        out += [ph.desc(short[0]), "the " + ph.desc(short[0]), "the " + ph.desc(short[-1])]
    heads = [{"shape": o.shape}, {"color": o.color, "shape": o.shape}]
    for head in heads:  # absolute regions
        for (hr, vr), (after, before) in REGIONS.items():
            if unique(np.minimum(match(objs, head), region_score(objs, hr, vr)), {t}):
                # "the right triangle" would name a geometric shape: keep the phrase after it
                adjective = ph.rng.random() < 0.4 and not (o.shape == "triangle" and len(head) == 1)
                out.append(f"the {before} {ph.desc(head)}" if adjective else f"the {ph.desc(head)} {after}")
        for direction, superlatives in DIRECTIONS.items():  # ordinals
            for k in range(len(ORDINALS)):
                if unique(ordinal_score(objs, head, direction, k), {t}):
                    if k == 0 and ph.rng.random() < 0.5:
                        out.append(f"the {ph.pick(superlatives)} {ph.desc(head)}")
                    else:
                        out.append(f"the {ORDINALS[k]} {ph.desc(head)} from the {direction}")
    landmarks = [(j, _minimal_unique(objs, j)) for j in range(len(objs)) if j != t]
    landmarks = [(j, d) for j, d in landmarks if d is not None]
    rels = [(r, j, d) for j, d in landmarks for r in RELATIONS
            if relation_score(objs, r, j)[t] == 1.0]
    for head in heads + [full_desc(o)]:  # one relation
        for r, j, d in rels:
            if unique(np.minimum(match(objs, head), relation_score(objs, r, j)), {t}):
                glue = " that is " if ph.rng.random() < 0.4 else " "
                lm = full_desc(objs[j]) if len(head) > 2 else d
                if len(head) > 2 and not unique(match(objs, lm), {j}):
                    lm = d
                out.append(f"the {ph.desc(head)}{glue}{ph.pick(RELATIONS[r])} the {ph.desc(lm)}")
                break
    full = full_desc(o)
    usable = [(r, j) for r, j, _ in rels if unique(match(objs, full_desc(objs[j])), {j})]
    if usable:  # long multi-clause: full descriptions, one or two relations
        ph.rng.shuffle(usable)
        chosen = [usable[0]] + [u for u in usable[1:] if u[1] != usable[0][1]][:1]
        score = match(objs, full)
        clauses = []
        for r, j in chosen:
            score = np.minimum(score, relation_score(objs, r, j))
            clauses.append(f"{ph.pick(RELATIONS[r])} the {ph.desc(full_desc(objs[j]))}")
        if unique(score, {t}):
            out.append(f"the {ph.desc(full)} that is " + " and ".join(clauses))
    return list(dict.fromkeys(out))


def overspecified(objs: list[SceneObject], t: int, ph: Phraser) -> list[str]:
    """True expressions naming more than object ``t`` needs: its colour and shape, and everything."""
    o = objs[t]
    return [f"the {ph.desc(d)}" for d in ({"color": o.color, "shape": o.shape}, full_desc(o))
            if unique(match(objs, d), {t})]


def colour_negatives(objs: list[SceneObject], ph: Phraser, n: int) -> list[str]:
    """Up to ``n`` no-target expressions "the <colour> <shape>" for shapes that are unique in the
    scene, each with the colour of another object: the check a presence score must make ("is the
    one star red?"), which ``no_target``'s single hard negative per image rarely asks."""
    colours = sorted({o.color for o in objs})
    out = []
    for i in ph.rng.permutation(len(objs)).tolist():
        o = objs[i]
        others = [c for c in colours if c != o.color]
        if others and unique(match(objs, {"shape": o.shape}), {i}):
            out.append("the " + ph.desc({"color": ph.pick(others), "shape": o.shape}))
            if len(out) == n:
                break
    return out


def multi_target(objs: list[SceneObject], ph: Phraser) -> list[tuple[set[int], str]]:
    """Expressions for groups of 2+ objects (all matching an attribute set, never everything)."""
    found = {}
    for o in objs:
        for d in descriptions(o):
            m = frozenset(np.flatnonzero(match(objs, d)).tolist())
            if 2 <= len(m) < len(objs) and m not in found:
                words = ph.desc(d, plural_form=True)
                if len(m) == 2 and ph.rng.random() < 0.5:
                    found[m] = f"both {words}"
                elif ph.rng.random() < 0.5:
                    found[m] = f"the {COUNTS[len(m)]} {words}"
                else:
                    found[m] = f"all the {words}"
    return [(set(m), s) for m, s in found.items()]


def no_target(objs: list[SceneObject], ph: Phraser) -> list[str]:
    """Expressions that clearly refer to nothing: absent attribute mixes, wrong regions."""
    out = []
    present_colors = sorted({o.color for o in objs})
    present_shapes = sorted({o.shape for o in objs})
    for _ in range(8):  # hard negatives: a colour and a shape that both occur, never together
        d = {"color": ph.pick(present_colors), "shape": ph.pick(present_shapes)}
        if ph.rng.random() < 0.3:
            d["texture"] = ph.pick(TEXTURES)
        if not match(objs, d).any():
            out.append("the " + ph.desc(d))
            break
    for (hr, vr), (after, _) in REGIONS.items():  # a unique object, named where it is not
        for i, o in enumerate(objs):
            head = {"color": o.color, "shape": o.shape}
            if unique(match(objs, head), {i}) and region_score(objs, hr, vr)[i] == 0.0:
                out.append(f"the {ph.desc(head)} {after}")
                break
        if len(out) >= 2:
            break
    return out
