"""The project file reader (issue 13): every malformed file is one clear ProjectFileError naming the
file and the problem, and the file is never overwritten; a property-based fuzz over the reader."""

import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from json_mutation import replace_random_node

from app.project import PROJECT_FILE, Project, ProjectError, ProjectFileError, schema

FUZZ_EXAMPLES = int(os.environ.get("RIS_FUZZ_EXAMPLES", "150"))


def _mask(h=40, w=60):
    m = np.zeros((h, w), bool)
    m[5:20, 5:30] = True
    return m


@pytest.fixture
def saved(image_folder):
    """A folder with a valid project file of two annotations; returns (folder, parsed file)."""
    p = Project.open([image_folder])
    p.add("a.png", "circle", "the red circle", _mask())
    p.add("c.png", "square", ["the square", "left one"], _mask())
    return image_folder, json.loads((image_folder / PROJECT_FILE).read_text())


def _variants(good):
    """(name, file content) pairs that must all be refused."""
    ann0 = next(im for im in good["images"] if im["annotations"])["annotations"][0]

    def edit(fn):
        d = json.loads(json.dumps(good))
        fn(d)
        return json.dumps(d)

    def first_ann(d):
        return next(im for im in d["images"] if im["annotations"])["annotations"][0]

    return [
        ("top-level list", "[1, 2]"),
        ("top-level string", '"ris-studio-project"'),
        ("not json", "{broken"),
        ("not utf-8", b"\xff\xfe{}"),
        ("deep nesting", "[" * 100_000 + "]" * 100_000),
        ("deep nesting in a field", edit(lambda d: None)[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}"),
        ("categories as a list", edit(lambda d: d.update(categories=["circle", "square"]))),
        ("next id 1e400", json.dumps(good).replace(f'"next_annotation_id": {good["next_annotation_id"]}',
                                                   '"next_annotation_id": 1e400')),
        ("next id Infinity", json.dumps(good).replace(f'"next_image_id": {good["next_image_id"]}',
                                                      '"next_image_id": Infinity')),
        ("next id NaN", json.dumps(good).replace(f'"next_image_id": {good["next_image_id"]}', '"next_image_id": NaN')),
        ("next id a string", edit(lambda d: d.update(next_annotation_id="7"))),
        ("next id a bool", edit(lambda d: d.update(next_annotation_id=True))),
        ("next annotation id below existing ids", edit(lambda d: d.update(next_annotation_id=1))),
        ("next image id below existing ids", edit(lambda d: d.update(next_image_id=1))),
        ("duplicate annotation ids", edit(lambda d: [im["annotations"].append(dict(first_ann(d)))
                                                      for im in d["images"][:1]])),
        ("duplicate image ids", edit(lambda d: d["images"][1].update(id=d["images"][0]["id"]))),
        ("same file twice", edit(lambda d: d["images"][1].update(file=d["images"][0]["file"]))),
        ("expressions as a string", edit(lambda d: first_ann(d).update(expressions="the red circle"))),
        ("expression not a string", edit(lambda d: first_ann(d).update(expressions=[3]))),
        ("absolute image path", edit(lambda d: d["images"][0].update(file="/etc/passwd"))),
        ("../ image path", edit(lambda d: d["images"][0].update(file="../outside.png"))),
        ("nested ../ image path", edit(lambda d: d["images"][0].update(file="sub/../../x.png"))),
        ("windows absolute path", edit(lambda d: d["images"][0].update(file="C:\\x.png"))),
        ("empty label", edit(lambda d: first_ann(d).update(label="  "))),
        ("label a list", edit(lambda d: first_ann(d).update(label=["x"]))),
        ("rle size mismatch", edit(lambda d: first_ann(d)["rle"].update(size=[10, 10]))),
        ("rle counts too long", edit(lambda d: first_ann(d)["rle"].update(counts=ann0["rle"]["counts"] + "1"))),
        ("rle counts garbage", edit(lambda d: first_ann(d)["rle"].update(counts="\x7f\x7f"))),
        ("rle counts a list", edit(lambda d: first_ann(d)["rle"].update(counts=[2400]))),
        ("rle missing", edit(lambda d: first_ann(d).pop("rle"))),
        ("size missing with annotations", edit(lambda d: next(im for im in d["images"] if im["annotations"])
                                               .update(size=None))),
        ("size negative", edit(lambda d: d["images"][0].update(size=[-1, 40]))),
        ("colour out of range", edit(lambda d: d.update(label_colors={"circle": [300, 0, 0]}))),
        ("score infinite", json.dumps(good).replace('"score": null', '"score": 1e999', 1)),
        ("unknown review state", edit(lambda d: first_ann(d).update(review="maybe"))),
        ("visible a string", edit(lambda d: first_ann(d).update(visible="yes"))),
        ("images an object", edit(lambda d: d.update(images={}))),
        ("wrong format", edit(lambda d: d.update(format="labelme"))),
        ("newer version", edit(lambda d: d.update(version=99))),
        ("lone surrogate label", json.dumps(good).replace('"label": "circle"', '"label": "\\udcff"', 1)),
        ("huge integer literal", json.dumps(good).replace(f'"next_image_id": {good["next_image_id"]}',
                                                          '"next_image_id": ' + "9" * 5000)),
    ]


def test_every_malformed_variant_is_one_clear_error_and_the_file_is_kept(saved):
    folder, good = saved
    variants = _variants(good)
    assert len(variants) >= 40
    for name, content in variants:
        raw = content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass")
        (folder / PROJECT_FILE).write_bytes(raw)
        with pytest.raises(ProjectFileError) as info:
            Project.open([folder])
        msg = str(info.value)
        assert str(folder / PROJECT_FILE) in msg and "cannot read the project file" in msg, name
        assert "\n" not in msg and len(msg) < 400, (name, msg)
        assert (folder / PROJECT_FILE).read_bytes() == raw, f"{name}: the file was changed"


def test_problems_are_named(saved):
    folder, good = saved
    expected = {"top-level list": "top level must be an object", "categories as a list": "categories must be an object",
                "deep nesting": "nested too deeply", "next id 1e400": "must be an integer",
                "next id Infinity": "must be an integer", "duplicate annotation ids": "used by two annotations",
                "next annotation id below existing ids": "ids would be reused",
                "expressions as a string": "expressions must be a list",
                "absolute image path": "must stay inside the project folder",
                "../ image path": "must stay inside the project folder", "rle counts too long": "counts cover"}
    for name, content in _variants(good):
        if name in expected:
            (folder / PROJECT_FILE).write_text(content)
            with pytest.raises(ProjectFileError, match=expected[name]):
                Project.open([folder])


def test_unreadable_file_is_backed_up_before_it_is_replaced(saved):
    folder, _ = saved
    (folder / PROJECT_FILE).write_text("[1, 2]")
    p = Project.open([folder], recover=True)
    assert p.backup is not None and p.backup.read_text() == "[1, 2]"
    assert p.backup.name.startswith(PROJECT_FILE + ".unreadable-")
    assert str(p.backup) in p.notices[0] and "top level" in p.notices[0]
    assert (folder / PROJECT_FILE).read_text() == "[1, 2]"  # untouched until the first save
    p.add("a.png", "x", "e", _mask())
    assert Project.open([folder]).count("a.png") == 1
    assert p.backup.read_text() == "[1, 2]"


def test_old_files_with_one_expression_and_per_annotation_colours_are_read(saved):
    folder, good = saved
    d = json.loads(json.dumps(good))
    d["version"] = 1
    d.pop("label_colors")
    for im in d["images"]:
        for a in im["annotations"]:
            a["expression"] = a.pop("expressions")[0]
            a["color"] = [9, 8, 7]
    (folder / PROJECT_FILE).write_text(json.dumps(d))
    p = Project.open([folder])
    assert p.get("a.png", 1).expressions == ["the red circle"]
    assert p.get("a.png", 1).color == (9, 8, 7) and p.label_color("circle") == (9, 8, 7)
    p.set_field("a.png", 1, "visible", False)  # the first save of an old file keeps a copy of it
    assert len(p.backups) == 1 and json.loads(p.backups[0].read_text())["version"] == 1
    assert p.backups[0].name.startswith(PROJECT_FILE + ".v1-backup-")
    p.set_field("a.png", 1, "visible", True)
    assert len(p.backups) == 1 and json.loads((folder / PROJECT_FILE).read_text())["version"] == 2


def test_special_or_huge_project_files_are_refused(image_folder, monkeypatch):
    path = image_folder / PROJECT_FILE
    os.mkfifo(path)  # reading a FIFO would block forever
    with pytest.raises(ProjectFileError, match="not a regular file"):
        Project.open([image_folder])
    path.unlink()
    path.write_text("{}")
    monkeypatch.setattr("app.project.model.MAX_FILE_BYTES", 1)
    with pytest.raises(ProjectFileError, match="more than a project file can be"):
        Project.open([image_folder])


def test_rle_count_check_matches_pycocotools():
    from pycocotools import mask as mask_utils

    from app.project.rle import check_counts, encode

    rng = np.random.default_rng(1)
    for _ in range(200):
        h, w = (int(v) for v in rng.integers(1, 50, 2))
        m = rng.random((h, w)) < rng.random()
        rle = encode(m)
        assert check_counts(rle["counts"], h, w) is None
        assert np.array_equal(mask_utils.decode(rle).astype(bool), m)
        assert check_counts(rle["counts"], h + 1, w) is not None
    assert check_counts(b"", 2, 2) and check_counts(b"0`", 1, 1) and check_counts(b"\x00", 1, 1)


# ----- fuzzing (issue 13): any exception other than ProjectError is a failure ----------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=20)


def _reader(tmp_path, raw: bytes):
    """Open a folder holding ``raw`` as its project file: a ProjectError naming the file, or a
    project that saves and reopens to the same content."""
    folder = tmp_path / "fuzz"
    folder.mkdir(exist_ok=True)
    if not (folder / "a.png").exists():
        from PIL import Image

        Image.new("RGB", (3, 2)).save(folder / "a.png")
    path = folder / PROJECT_FILE
    path.write_bytes(raw)
    try:
        p = Project.open([folder])
    except ProjectError as e:
        assert str(path) in str(e)
        return
    p.save(force=True)
    assert Project.open([folder]).to_json() == p.to_json()


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_mutated_valid_files(tmp_path, data):
    good = {"format": "ris-studio-project", "version": 2, "next_annotation_id": 3, "next_image_id": 2,
            "categories": {"circle": 1}, "label_colors": {"circle": [1, 2, 3]}, "predefined_labels": [],
            "images": [{"id": 1, "file": "a.png", "size": [3, 2], "annotations": [
                {"id": 1, "label": "circle", "expressions": ["x"], "visible": True, "source": "manual",
                 "review": "accepted", "score": None, "rle": {"size": [2, 3], "counts": "06"}}]}]}
    doc = json.loads(json.dumps(good))
    # Replace one node anywhere in the document by an arbitrary JSON value.
    doc = replace_random_node(doc, data, json_values, 6)
    _reader(tmp_path, json.dumps(doc).encode())


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200) | st.text(alphabet='{}[]",:0123456789.eE-+ntrufalsIiyN\\u', max_size=200)
       .map(lambda s: s.encode("utf-8", "surrogatepass")))
def test_fuzz_raw_bytes(tmp_path, raw):
    _reader(tmp_path, raw)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(counts=st.text(alphabet=[chr(c) for c in range(40, 120)], min_size=1, max_size=30),
       h=st.integers(1, 8), w=st.integers(1, 8))
def test_fuzz_rle_counts_never_reach_pycocotools_unchecked(tmp_path, counts, h, w):
    doc = {"format": "ris-studio-project", "version": 2, "next_annotation_id": 2, "next_image_id": 2,
           "categories": {"c": 1}, "images": [{"id": 1, "file": "a.png", "size": [w, h], "annotations": [
               {"id": 1, "label": "c", "expressions": [], "rle": {"size": [h, w], "counts": counts}}]}]}
    path = tmp_path / PROJECT_FILE
    try:
        data = schema.read(path, json.dumps(doc).encode())  # the validator alone
    except ProjectError:
        return
    from app.project.rle import decode

    m = decode(data.images[0].annotations[0].rle)  # accepted counts decode to exactly h x w
    assert m.shape == (h, w)
