from rismodel.photo.parser import parse


def test_head_noun_before_attribute_phrase():
    p = parse("the man in the blue jacket")
    assert p.head == "man" and p.colours == ["blue"] and "jacket" in p.ignored


def test_position_without_of_is_not_a_relation():
    p = parse("the dog on the left")
    assert p.head == "dog" and p.positions == ["left"] and p.relation is None


def test_relation_splits_target_and_anchor():
    p = parse("the red car to the left of the bus")
    assert (p.head, p.colours, p.relation, p.anchor.head) == ("car", ["red"], "left of", "bus")
    assert parse("the bottle above the dining table").anchor.head == "dining table"
    assert parse("cup next to the laptop").relation == "next to"
    assert parse("the chair below the clock").relation == "below"


def test_order_size_plural_and_two_word_classes():
    p = parse("the second person from the right")
    assert (p.head, p.ordinal, p.positions) == ("person", 2, ["right"])
    assert parse("the biggest horse").size == "biggest"
    assert parse("the smallest cup").size == "smallest"
    assert parse("all the people").plural and parse("the horses").plural
    assert not parse("the horse").plural
    assert parse("teddy bear on the bed").head == "teddy bear"
    assert parse("the top left person").positions == ["top", "left"]


def test_known_class_word_wins_over_later_verb():
    assert parse("the cat sleeping on the bed").head == "cat"
    assert parse("coffee cup").head == "cup"
