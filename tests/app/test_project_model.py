"""The data model (issue 11): several expressions per annotation, per-label colours, a predefined
label list, review state of batch results, absent targets, masks held compressed."""

import json

import numpy as np
import pytest

from app.export import build_project_coco
from app.project import PROJECT_FILE, TO_REVIEW, BatchResult, Project, ProjectError, read_labels_file
from app.project import rle as rlemod


def _mask(h=40, w=60, y0=5, y1=20, x0=5, x1=30):
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


def test_several_expressions_add_edit_remove_with_undo(image_folder):
    p = Project.open([image_folder])
    a = p.add("a.png", "circle", "the red circle", _mask())
    p.add_expression("a.png", a.id, "the round thing  on the left")
    assert p.get("a.png", a.id).expressions == ["the red circle", "the round thing on the left"]
    p.edit_expression("a.png", a.id, 0, "the big red circle")
    p.remove_expression("a.png", a.id, 1)
    assert p.get("a.png", a.id).expressions == ["the big red circle"]
    p.undo()
    p.undo()
    assert p.get("a.png", a.id).expressions == ["the red circle", "the round thing on the left"]
    assert Project.open([image_folder]).get("a.png", a.id).expressions == ["the red circle",
                                                                            "the round thing on the left"]
    with pytest.raises(ProjectError, match="no expression 5"):
        p.edit_expression("a.png", a.id, 5, "x")
    with pytest.raises(ProjectError, match="list of texts"):
        p.set_field("a.png", a.id, "expressions", "a string")
    coco, _ = build_project_coco(p)
    assert coco["annotations"][0]["expressions"] == ["the red circle", "the round thing on the left"]


def test_label_colours_are_shared_stored_and_undoable(image_folder):
    p = Project.open([image_folder])
    a = p.add("a.png", "circle", "c1", _mask())
    c = p.add("c.png", "circle", "c2", _mask())
    s = p.add("a.png", "square", "s", _mask())
    assert a.color == c.color != s.color
    p.set_field("c.png", c.id, "color", (1, 2, 3))  # the GUI's "Colour..." recolours the label
    assert p.get("a.png", a.id).color == (1, 2, 3) and p.last_keys == ["a.png", "c.png"]
    assert json.loads((image_folder / PROJECT_FILE).read_text())["label_colors"]["circle"] == [1, 2, 3]
    assert Project.open([image_folder]).get("c.png", c.id).color == (1, 2, 3)
    p.set_field("a.png", s.id, "label", "circle")  # a renamed annotation takes its new label's colour
    assert p.get("a.png", s.id).color == (1, 2, 3)
    p.undo()
    assert p.get("a.png", s.id).color == p.label_color("square")
    assert p.undo() == ["a.png", "c.png"] and p.get("a.png", a.id).color == p.get("c.png", c.id).color != (1, 2, 3)


def test_predefined_labels(image_folder, tmp_path):
    f = tmp_path / "labels.txt"
    f.write_text("cat\n dog  # pets\n\ncat\ntraffic   light\n")
    assert read_labels_file(f) == ["cat", "dog", "traffic light"]
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(ProjectError, match="holds no label"):
        read_labels_file(tmp_path / "empty.txt")
    with pytest.raises(ProjectError, match="cannot read the label list"):
        read_labels_file(tmp_path / "none.txt")
    p = Project.open([image_folder], labels=read_labels_file(f))
    p.add("a.png", "zebra", "z", _mask())
    assert p.labels() == ["cat", "dog", "traffic light", "zebra"]
    assert Project.open([image_folder]).predefined_labels == ["cat", "dog", "traffic light"]
    p.set_predefined_labels(["cat", "dog"], restrict=True)
    with pytest.raises(ProjectError, match="not in the label list"):
        p.add("a.png", "horse", "h", _mask())


def test_unused_labels_are_dropped_from_exports(image_folder):
    p = Project.open([image_folder], labels=["cat", "dog"])
    a = p.add("a.png", "circle", "c", _mask())
    p.add("a.png", "gone", "g", _mask())
    p.remove("a.png", p.annotations("a.png")[1].id)
    coco, _ = build_project_coco(p)
    assert [c["name"] for c in coco["categories"]] == ["circle"]
    assert coco["annotations"][0]["category_id"] == p.category_id("circle") and coco["annotations"][0]["id"] == a.id


def test_batch_results_review_accept_reject_and_absent_targets(image_folder):
    p = Project.open([image_folder])
    kept, dropped = p.add_batch_results([
        BatchResult("a.png", "the red circle", _mask(), score=0.9),
        BatchResult("a.png", "the tiny dot", _mask(y0=1, y1=3, x0=1, x1=3), score=0.8),
        BatchResult("c.png", "the blue square", _mask(), score=0.3),
        BatchResult("c.png", "the unicorn", _mask(), score=0.1, no_target=True),  # the no-object head fired
        BatchResult("b.jpg", "anything", np.zeros((60, 40), bool), score=0.7),  # empty mask
    ])
    assert (kept, dropped) == (3, 2)
    review = p.to_review()
    assert [(k, a.expressions[0], a.score) for k, a in review] == [
        ("a.png", "the red circle", 0.9), ("a.png", "the tiny dot", 0.8), ("c.png", "the blue square", 0.3)]
    assert all(a.review == TO_REVIEW and a.source == "batch" and a.label == a.expressions[0].split()[-1]
               for _, a in review)
    assert p.reject_below(score=0.5) == 1 and p.count("c.png") == 0
    assert p.reject_below(min_area=10) == 1 and [a.expressions[0] for _, a in p.to_review()] == ["the red circle"]
    assert p.undo() == ["a.png"] and len(p.to_review()) == 2
    first = p.annotations("a.png")[0]
    p.accept([("a.png", first.id)])
    assert p.get("a.png", first.id).review == "accepted" and len(p.to_review()) == 1
    q = Project.open([image_folder])
    assert q.get("a.png", first.id).review == "accepted" and q.to_review()[0][1].score == 0.8
    assert p.reject([(k, a.id) for k, a in p.to_review()]) == 1 and p.to_review() == []
    coco, _ = build_project_coco(p, reviewed_only=True)
    assert [a["id"] for a in coco["annotations"]] == [first.id]


def test_masks_are_held_compressed_and_decoded_on_demand(image_folder, monkeypatch):
    p = Project.open([image_folder])
    for i in range(6):
        p.add("a.png", f"x{i}", "e", _mask(y0=i, y1=i + 10))
    cache = rlemod.MaskCache(budget=3 * 40 * 60)  # room for three decoded masks
    monkeypatch.setattr(rlemod, "CACHE", cache)
    q = Project.open([image_folder])
    assert cache.decodes == 0  # opening decodes nothing
    anns = q.annotations("a.png")
    assert [a.area for a in anns] == [250] * 6 and cache.decodes == 0  # nor does the area
    for i, a in enumerate(anns):
        assert np.array_equal(a.mask, _mask(y0=i, y1=i + 10))
    assert cache.decodes == 6 and cache.nbytes <= 3 * 40 * 60
    anns[-1].mask  # noqa: B018 (a cached one: no decode)
    assert cache.decodes == 6
    with pytest.raises(ValueError):
        anns[0].mask[0, 0] = True  # decoded masks are read-only: edits go through the project
    q.save()
    assert cache.decodes <= 7  # saving writes the stored RLE, it does not decode


def test_saved_bytes_follow_every_kind_of_edit(image_folder):
    """Saves reuse each image's JSON until it changes: no edit may leave a stale image behind."""
    p = Project.open([image_folder])
    a = p.add("a.png", "x", "e", _mask())
    steps = [lambda: p.set_field("a.png", a.id, "visible", False), lambda: p.add_expression("a.png", a.id, "more"),
             lambda: p.set_field("a.png", a.id, "label", "y"), lambda: p.set_label_color("y", (4, 5, 6)),
             lambda: p.edit_mask("a.png", a.id, _mask(y0=0)), lambda: p.accept([("a.png", a.id)]),
             lambda: p.remove("a.png", a.id), p.undo, p.undo, p.redo]
    for step in steps:
        step()
        assert json.loads((image_folder / PROJECT_FILE).read_text()) == p.to_json()
    p.entry("c.png").size = (60, 40)
    p.save()
    assert json.loads((image_folder / PROJECT_FILE).read_text()) == p.to_json()


def test_brush_history_is_held_compressed(tmp_path):
    from PIL import Image

    folder = tmp_path / "big"
    folder.mkdir()
    Image.new("RGB", (2000, 1500)).save(folder / "big.png")
    p = Project.open([folder], autosave=False)
    a = p.add("big.png", "x", "e", np.zeros((1500, 2000), bool))
    painted = np.zeros((1500, 2000), bool)
    painted[100:1400, 50:1950] = True  # one stroke over most of a 3-megapixel image
    p.edit_mask("big.png", a.id, painted)
    cmd = p.history._done[-1]
    assert cmd.box == (100, 1400, 50, 1950) and cmd.new.all() and not cmd.old.any()
    assert len(cmd._old["counts"]) + len(cmd._new["counts"]) < 100  # bytes, not 2 x 2.5 MB of pixels
    p.undo()
    assert not p.get("big.png", a.id).mask.any()
