"""Rule-based parse of a referring expression into what the chooser needs: the head noun, colour
words, a position (left/right/top/bottom/middle), an order ("second from the left"), a size
superlative, plurality, and one relation to another object ("X left of / right of / above /
below / next to Y"). No learned parts; what the rules do not cover is ignored (and said so by
the chooser's explanation).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .colour import colour_word
from .labels import COCO_CLASSES, SYNONYMS

# Longest first: matched on the word sequence.
RELATIONS = (
    (("to", "the", "left", "of"), "left of"), (("on", "the", "left", "of"), "left of"),
    (("left", "of"), "left of"), (("to", "the", "right", "of"), "right of"),
    (("on", "the", "right", "of"), "right of"), (("right", "of"), "right of"),
    (("on", "top", "of"), "above"), (("above",), "above"), (("over",), "above"),
    (("below",), "below"), (("under",), "below"), (("underneath",), "below"), (("beneath",), "below"),
    (("next", "to"), "next to"), (("close", "to"), "next to"), (("beside",), "next to"),
    (("besides",), "next to"), (("near",), "next to"), (("by",), "next to"),
    (("in", "front", "of"), "next to"), (("behind",), "next to"),
)
POSITIONS = {
    "left": "left", "leftmost": "left", "right": "right", "rightmost": "right",
    "top": "top", "upper": "top", "topmost": "top", "highest": "top",
    "bottom": "bottom", "lower": "bottom", "lowest": "bottom", "bottommost": "bottom",
    "middle": "middle", "center": "middle", "centre": "middle", "central": "middle",
}
ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
            "fifth": 5, "5th": 5, "last": -1}
SIZES = {"biggest": "biggest", "largest": "biggest", "big": "biggest", "large": "biggest",
         "bigger": "biggest", "larger": "biggest", "huge": "biggest", "tallest": "biggest",
         "smallest": "smallest", "small": "smallest", "little": "smallest", "tiny": "smallest",
         "smaller": "smallest", "shortest": "smallest"}
PLURAL_WORDS = {"all", "both", "two", "three", "four", "five", "several", "many", "every", "each", "group"}
# Words after which the rest of the phrase describes the object rather than names it.
ATTRIBUTE_BREAKS = {"in", "with", "wearing", "holding", "on", "at", "that", "who", "which", "whose",
                    "sitting", "standing", "lying", "having", "has", "carrying", "of", "from", "and"}
STOPWORDS = {"the", "a", "an", "this", "that", "these", "those", "one", "ones", "is", "are", "side",
             "most", "very", "of", "from", "to", "in", "on", "at", "image", "picture", "photo",
             "thing", "object", "there", "its", "his", "her", "their", "any", "some", "only", "other",
             "just", "please", "find", "show", "me", "select", "segment"} | PLURAL_WORDS


@dataclass
class Phrase:
    text: str
    head: str | None = None
    plural: bool = False
    colours: list[str] = field(default_factory=list)
    positions: list[str] = field(default_factory=list)
    ordinal: int | None = None
    size: str | None = None
    relation: str | None = None
    anchor: Phrase | None = None
    ignored: list[str] = field(default_factory=list)  # content words the rules did not use


def words_of(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower().replace("-", " "))


def _find(words: list[str], pattern: tuple[str, ...]) -> int:
    n = len(pattern)
    for i in range(len(words) - n + 1):
        if tuple(words[i:i + n]) == pattern:
            return i
    return -1


def _known(word: str) -> bool:
    from .vocab import singular

    return word in COCO_CLASSES or word in SYNONYMS or singular(word) in SYNONYMS \
        or singular(word) in COCO_CLASSES


def parse(text: str) -> Phrase:
    words = words_of(text)
    for pattern, rel in RELATIONS:
        i = _find(words, pattern)
        # "the dog on the left" has no "of": a position, not a relation; "left of" needs a noun after
        if i > 0 and i + len(pattern) < len(words):
            target = _parse_simple(words[:i], text)
            target.relation = rel
            target.anchor = _parse_simple(words[i + len(pattern):], " ".join(words[i + len(pattern):]))
            return target
    return _parse_simple(words, text)


def _parse_simple(words: list[str], text: str) -> Phrase:
    p = Phrase(text=" ".join(words) if words else text)
    for w in words:
        c = colour_word(w)
        if c and c not in p.colours:
            p.colours.append(c)
        if w in POSITIONS and POSITIONS[w] not in p.positions:
            p.positions.append(POSITIONS[w])
        if w in ORDINALS and p.ordinal is None:
            p.ordinal = ORDINALS[w]
        if w in SIZES and p.size is None:
            p.size = SIZES[w]
        if w in PLURAL_WORDS:
            p.plural = True
    # the head noun: in the part before the first attribute break ("the man in the blue jacket")
    cut = next((i for i, w in enumerate(words) if w in ATTRIBUTE_BREAKS and i > 0), len(words))
    naming = [w for w in words[:cut] if not _modifier(w)]
    rest = [w for w in words[cut:] if not _modifier(w)]
    # two-word class names first ("dining table", "teddy bear", "cell phone")
    for seq in (naming, rest):
        for a, b in zip(seq[::-1][1:], seq[::-1]):
            if f"{a} {b}" in COCO_CLASSES or f"{a}{b}" in SYNONYMS:
                p.head = f"{a} {b}"
                break
        if p.head:
            break
        known = [w for w in seq if _known(w)]
        if known:
            p.head = known[-1]
            break
    if p.head is None:
        nouns = [w for w in naming if not w.endswith("ing")] or naming or rest
        p.head = nouns[-1] if nouns else None
    if p.head:
        from .vocab import singular

        last = p.head.split()[-1]
        if singular(last) != last or last in ("people", "men", "women", "children", "kids"):
            p.plural = True
    used = set((p.head or "").split())
    p.ignored = [w for w in naming + rest if w not in used and w not in ATTRIBUTE_BREAKS]
    return p


def _modifier(w: str) -> bool:
    return (w in STOPWORDS or w in POSITIONS or w in ORDINALS or w in SIZES or colour_word(w) is not None
            or w.isdigit())
