"""Chooser rules on synthetic detections (no detector, no text encoder)."""

import pytest

from rismodel.photo.chooser import choose
from rismodel.photo.detector import Detection
from rismodel.photo.labels import COCO_CLASSES
from rismodel.photo.parser import parse
from rismodel.photo.vocab import ClassMatch

C = COCO_CLASSES.index


class ListMatcher:
    """Class names and the synonym list only; the text encoder is never loaded."""

    def match(self, word):
        from rismodel.photo.labels import SYNONYMS
        from rismodel.photo.vocab import singular

        w = singular(word)
        name = w if w in COCO_CLASSES else SYNONYMS.get(w) or SYNONYMS.get(word)
        return ClassMatch(word, C(name) if name else None, 1.0 if name else 0.1,
                          "class name" if name else "unknown")

    def class_similarity(self, a, b):
        return 0.8 if {COCO_CLASSES[a], COCO_CLASSES[b]} == {"cat", "dog"} else 0.1


W, H = 1000, 600
DETS = [
    Detection((50, 300, 250, 550), 0.6, C("dog")),  # 0 left dog, big
    Detection((700, 350, 800, 450), 0.5, C("dog")),  # 1 right dog, small
    Detection((400, 100, 600, 550), 0.55, C("person")),  # 2 person in the middle
    Detection((420, 20, 480, 90), 0.4, C("cup")),  # 3 cup above the person
    Detection((820, 300, 980, 550), 0.45, C("person")),  # 4 person on the right
    Detection((430, 120, 590, 540), 0.12, C("dog")),  # 5 a weak dog: below the candidate bar
]
COLOURS = {0: {"brown": 0.7, "white": 0.1}, 1: {"brown": 0.05, "white": 0.8}, 2: {"red": 0.6},
           3: {"white": 0.9}, 4: {"blue": 0.7}, 5: {}}


def pick(text, dets=DETS):
    def colour_of(i):
        return {c: COLOURS.get(i, {}).get(c, 0.0) for c in
                ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white", "gray")}

    return choose(parse(text), dets, (W, H), ListMatcher(), colour_of)


@pytest.mark.parametrize("text,want", [
    ("the dog on the left", [0]), ("the dog on the right", [1]), ("the white dog", [1]),
    ("the brown dog", [0]), ("the biggest dog", [0]), ("the smallest dog", [1]),
    ("the second dog from the left", [1]), ("the first dog from the right", [1]),
    ("the person on the right", [4]), ("the man in red", [2]), ("the person in blue", [4]),
    ("the cup", [3]), ("the person below the cup", [2]), ("the dog right of the man in red", [1]),
    ("the dog left of the person", [0]), ("the dog next to the cup", [1]), ("the puppy", [0]),
])
def test_rules_choose_the_referred_object(text, want):
    assert pick(text).indices == want


def test_plural_returns_all_confident_candidates():
    assert sorted(pick("the dogs").indices) == [0, 1]  # not the 0.12 dog
    assert sorted(pick("all the people").indices) == [2, 4]


def test_absent_class_chooses_nothing_with_zero_presence():
    c = pick("the bicycle")
    assert c.indices == [] and c.presence == 0.0 and "no bicycle" in c.explanation(DETS)


def test_confused_neighbour_class_is_taken_with_lower_presence():
    c = pick("the cat")  # no cat detected; the detector calls cats dogs
    assert c.indices == [0] and "nearest class dog" in c.explanation(DETS)
    assert c.presence < pick("the dog").presence


def test_explanation_names_class_and_rule():
    e = pick("the white dog").explanation(DETS)
    assert "dog" in e and "colour white" in e
    assert "position right" in pick("the dog on the right").explanation(DETS)
    assert "left of the person" in pick("the dog left of the person").explanation(DETS)


def test_unknown_word_is_said_and_presence_is_low():
    c = pick("the rocket")
    assert "not one of the 80 COCO classes" in c.explanation(DETS) and c.presence < 0.5
