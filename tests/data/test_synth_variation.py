"""SynthRef rendering variation (issue 9): the default is today's renderer byte for byte; each
option changes the look while the scenes' objects, masks and expressions stay true."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from rismodel.data.synth import generate_image
from rismodel.data.synth_variation import Variation

# sha256 prefixes of (png, owner map) of images 0-2 of seed 0, recorded before the options existed.
BEFORE = {0: ("08d70fc89fc50e02", "b7fc314cd448729f"), 1: ("d4997a251c50f3a4", "e9dfd85561606674"),
          2: ("f13b9499f9f547ae", "6ee4fee4e9d841f3")}


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()[:16]


@pytest.mark.parametrize("variation", [None, Variation()])
def test_default_variation_is_the_old_renderer(variation):
    for i, (png, owner) in BEFORE.items():
        g = generate_image(0, i, (160, 640), variation)
        assert (_sha(g["png"]), _sha(g["scene"].owner.tobytes())) == (png, owner), i


@pytest.mark.parametrize("kw", [{"background": "flat"}, {"background": "cluttered"}, {"background": "textured"},
                                {"noise": 10.0}, {"blur": 2.0}, {"jpeg": 30}, {"lighting": 1.0}])
def test_appearance_options_keep_objects_masks_and_expressions(kw):
    """Backgrounds and camera effects draw from their own stream: the same objects in the same
    places, the same sentences; only pixels change, and each object keeps its colour's pixels
    closest to its palette colour where it is solid (colour names stay true)."""
    base, var = generate_image(0, 1, (160, 640)), generate_image(0, 1, (160, 640), Variation(**kw))
    assert np.array_equal(base["scene"].owner, var["scene"].owner)
    assert base["singles"] == var["singles"] and base["nones"] == var["nones"]
    assert not np.array_equal(base["scene"].image, var["scene"].image)
    if "background" in kw:  # objects are drawn over it unchanged
        fg = base["scene"].owner >= 0
        assert np.array_equal(base["scene"].image[fg], var["scene"].image[fg])
        assert not np.array_equal(base["scene"].image[~fg], var["scene"].image[~fg])
    if "lighting" in kw:
        from rismodel.data.synth_scene import COLORS

        names = list(COLORS)
        palette = np.array([COLORS[n] for n in names], np.float32)
        for i, o in enumerate(var["scene"].objects):
            if o.texture != "solid":
                continue
            mean = var["scene"].image[var["scene"].owner == i].astype(np.float32).mean(0)
            assert names[int(np.argmin(((palette - mean) ** 2).sum(1)))] == o.color, (i, o.color, mean)


def test_pose_and_occlusion_options_change_the_shapes():
    base = generate_image(0, 1, (160, 640))
    for kw in ({"rotation": 1.5}, {"aspect": 1.8}, {"min_visible": 0.3}):
        g = generate_image(0, 1, (160, 640), Variation(**kw))
        assert not np.array_equal(base["scene"].owner, g["scene"].owner), kw
        for i, o in enumerate(g["scene"].objects):  # attributes still describe the visible part
            assert (g["scene"].owner == i).sum() == o.area


@pytest.mark.parametrize("kw", [{"background": "photo"}, {"noise": -1.0}, {"jpeg": 2}, {"aspect": 0.5},
                                {"min_visible": 0.0}])
def test_bad_variation_is_refused(kw):
    with pytest.raises(ValueError):
        Variation(**kw)


def test_synth_command_takes_the_options(tmp_path, capsys):
    import json

    from rismodel.cli import main

    rc = main(["synth", "--out", str(tmp_path), "--images", "3", "--background", "textured", "--noise", "5",
               "--jpeg", "40"])
    assert rc == 0
    info = json.loads((tmp_path / "synthref" / "instances.json").read_text())["info"]
    assert info["variation"]["background"] == "textured" and info["variation"]["jpeg"] == 40
    assert main(["synth", "--out", str(tmp_path / "b"), "--images", "3", "--jpeg", "2"]) != 0
    assert "jpeg" in capsys.readouterr().err
    assert main(["synth", "--out", str(tmp_path / "c"), "--images", "3", "--overspecify"]) == 0
    assert json.loads((tmp_path / "c" / "synthref" / "instances.json").read_text())["info"]["variation"]["overspecify"]


def test_overspecify_adds_true_colour_shape_phrases_and_article_free_negatives():
    """Without it, "the <colour> <shape>" of a unique shape is only ever a no-target expression
    (the presence heads learnt that phrasing); with it, each object also gets a true over-specified
    expression, the scene and its other expressions stay as they were. The article is dropped from
    targets and no-targets alike: dropped from the no-targets only, it became the next cue."""
    from rismodel.data.synth_language import match

    found_colour_shape = found_bare_negative = found_bare_target = False
    for i in range(12):
        base, g = generate_image(0, i, (160, 640)), generate_image(0, i, (160, 640), Variation(overspecify=True))
        assert np.array_equal(base["scene"].owner, g["scene"].owner) and base["multis"] == g["multis"]
        objs = g["scene"].objects
        for t, (before, after) in enumerate(zip(base["singles"], g["singles"])):
            assert after[:len(before)] == before  # the old expressions first, unchanged
            for s in after[len(before):]:  # the added one names the object truly and uniquely
                o = objs[t]
                assert s.endswith(o.shape) and o.color in s.split()
                found_bare_target |= not s.startswith("the ")
                d = {"color": o.color, "shape": o.shape}
                found_colour_shape |= (s.removeprefix("the ") == f"{o.color} {o.shape}"
                                       and match(objs, {"shape": o.shape}).sum() == 1)
                assert match(objs, d)[t] == 1.0
        assert [s.removeprefix("the ") for s in g["nones"]] == [s.removeprefix("the ") for s in base["nones"]]
        found_bare_negative |= any(not s.startswith("the ") for s in g["nones"])
    # both with and without "the", like the no-target ones: otherwise the article is the cue
    assert found_colour_shape and found_bare_negative and found_bare_target
    assert not Variation().overspecify  # off by default: the published data stay byte for byte


def test_diamond_long_axis_keeps_diamonds_from_becoming_squares():
    """Stretched across its long diagonal, a diamond turns into a square on its corner; with
    ``diamond_long_axis`` it is only ever stretched along it (upright here: rotation 0, no occlusion)."""
    def diamond_boxes(var):
        boxes = []
        for i in range(40):
            objs = generate_image(0, i, (160, 640), var)["scene"].objects
            boxes += [o.bbox for o in objs if o.shape == "diamond"]
        return boxes

    kw = {"aspect": 2.0, "rotation": 0.0, "min_visible": 1.0}
    before, after = diamond_boxes(Variation(**kw)), diamond_boxes(Variation(**kw, diamond_long_axis=True))
    assert len(after) >= 10 and any(w > h for _x, _y, w, h in before)  # the flaw exists without it
    assert all(h > w for _x, _y, w, h in after)
    assert not Variation().diamond_long_axis  # off by default: the published data stay byte for byte


def test_hard_negatives_ask_the_colour_of_a_unique_shape_and_name_nothing():
    """Each added no-target is "the <colour> <shape>" for a shape unique in its scene, with a colour
    another object has; nothing in the scene matches it, and the rest of the image is unchanged."""
    from rismodel.data.synth_language import match

    added = 0
    for i in range(12):
        base, g = generate_image(0, i, (160, 640)), generate_image(0, i, (160, 640), Variation(hard_negatives=2))
        assert np.array_equal(base["scene"].owner, g["scene"].owner) and base["singles"] == g["singles"]
        assert g["nones"][:len(base["nones"])] == base["nones"]
        objs, extra = g["scene"].objects, g["nones"][len(base["nones"]):]
        assert len(extra) <= 2
        for s in extra:
            colour, shape = s.removeprefix("the ").split()
            assert sum(o.shape == shape for o in objs) == 1  # a unique shape ...
            assert any(o.color == colour for o in objs)  # ... with a colour that is in the scene ...
            assert not match(objs, {"color": colour, "shape": shape}).any()  # ... but not on it
        added += len(extra)
    assert added >= 12
    with pytest.raises(ValueError):
        Variation(hard_negatives=9)


def test_overspecify_own_ref_moves_the_added_expressions_into_refs_of_their_own(tmp_path):
    """Appended to its object's ref, an over-specified expression is drawn far less often than a
    no-target one (a ref of one sentence); as a ref of its own it is drawn as often. The draws are
    the same: the object's ref loses exactly the expression its own ref gains."""
    from rismodel.cli import main

    moved = 0
    for i in range(8):
        kw = {"overspecify": True, "hard_negatives": 1}
        appended = generate_image(0, i, (160, 640), Variation(**kw))
        own = generate_image(0, i, (160, 640), Variation(**kw, overspecify_own_ref=True))
        assert appended["nones"] == own["nones"] and appended["multis"] == own["multis"]
        regrouped = [list(s) for s in own["singles"]]
        for t, s in own["own"]:
            regrouped[t].append(s)
        assert regrouped == appended["singles"]
        moved += len(own["own"])
    assert moved >= 8 and not appended["own"]
    with pytest.raises(ValueError, match="needs overspecify"):
        Variation(overspecify_own_ref=True)
    assert main(["synth", "--out", str(tmp_path), "--images", "4", "--overspecify", "--overspecify-own-ref"]) == 0
    grefs = json.loads((tmp_path / "synthref" / "grefs(unc).json").read_text())
    one_sentence_targets = [r for r in grefs if not r["no_target"] and len(r["sentences"]) == 1]
    assert len({r["ann_id"][0] for r in one_sentence_targets}) >= 4
