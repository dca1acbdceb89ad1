"""The project model alone: annotations, undo/redo, autosave and restore, stable ids (no Qt)."""

import json
import os
import sys

import numpy as np
import pytest

from app.project import PROJECT_FILE, Project, ProjectError


def _mask(h, w, y0, y1, x0, x1):
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


def test_project_model_does_not_import_qt_or_torch():
    code = ("import sys, app.project, app.undo, app.export, app.project.interop, app.project.bench, "
            "app.project.soak; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'PySide6')]; print(bad)")
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert out.stdout.strip() == "[]"


def test_open_folder_lists_images_with_upright_sizes(image_folder):
    p = Project.open([image_folder])
    assert [e.key for e in p.images] == ["a.png", "b.jpg", "c.png"]
    assert p.entry("b.jpg").upright_size() == (40, 60)  # EXIF 6: stored 60x40, shown 40x60
    assert p.entry("a.png").upright_size() == (60, 40)


def test_edits_undo_redo_and_autosave_restore(image_folder):
    p = Project.open([image_folder])
    a = p.add("a.png", "circle", "the red circle", _mask(40, 60, 5, 15, 5, 25))
    assert p.count("a.png") == 1 and (image_folder / PROJECT_FILE).exists()
    p.set_field("a.png", a.id, "label", "disc")
    p.set_field("a.png", a.id, "color", (1, 2, 3))
    edited = a.mask.copy()
    edited[20:30, 30:40] = True
    assert p.edit_mask("a.png", a.id, edited)
    assert p.get("a.png", a.id).mask[25, 35]
    assert p.undo() == ["a.png"] and not p.get("a.png", a.id).mask[25, 35]
    assert p.redo() == ["a.png"] and p.get("a.png", a.id).mask[25, 35]
    b = p.add("b.jpg", "square", "the blue square", _mask(60, 40, 0, 10, 0, 10))

    # A new process (the window was destroyed without an explicit save): everything comes back.
    q = Project.open([image_folder])
    assert q.count("a.png") == 1 and q.count("b.jpg") == 1
    qa = q.get("a.png", a.id)
    assert qa.label == "disc" and qa.color == (1, 2, 3) and qa.expressions == ["the red circle"]
    assert np.array_equal(qa.mask, p.get("a.png", a.id).mask)
    assert np.array_equal(q.get("b.jpg", b.id).mask, b.mask)
    # Undo the delete restores the same annotation at the same place.
    q.remove("a.png", a.id)
    assert q.count("a.png") == 0
    q.undo()
    assert q.annotations("a.png")[0].id == a.id


def test_ids_are_stable_and_never_reused(image_folder):
    p = Project.open([image_folder])
    a = p.add("a.png", "x", "e1", _mask(40, 60, 0, 5, 0, 5))
    p.remove("a.png", a.id)
    b = p.add("a.png", "y", "e2", _mask(40, 60, 0, 5, 0, 5))
    assert b.id != a.id
    cat_x, cat_y = p.category_id("x"), p.category_id("y")
    q = Project.open([image_folder])
    assert q.category_id("x") == cat_x and q.category_id("y") == cat_y
    assert [e.id for e in q.images] == [e.id for e in p.images]
    c = q.add("c.png", "z", "e3", _mask(40, 60, 0, 5, 0, 5))
    assert c.id > b.id


def test_brush_history_stores_only_the_changed_box(image_folder):
    p = Project.open([image_folder], autosave=False)
    a = p.add("a.png", "x", "e", np.zeros((40, 60), bool))
    m = a.mask.copy()
    m[10:12, 20:23] = True
    p.edit_mask("a.png", a.id, m)
    cmd = p.history._done[-1]
    assert cmd.box == (10, 12, 20, 23) and cmd.old.shape == (2, 3)
    assert not p.edit_mask("a.png", a.id, m)  # no change, no history entry


def test_bad_input_gives_clear_errors(image_folder, tmp_path):
    with pytest.raises(ProjectError, match="not found"):
        Project.open([tmp_path / "nope"])
    p = Project.open([image_folder])
    with pytest.raises(ProjectError, match="mask is 5x5"):
        p.add("a.png", "x", "e", np.zeros((5, 5), bool))
    with pytest.raises(ProjectError, match="label cannot be empty"):
        p.add("a.png", "  ", "e", np.zeros((40, 60), bool))
    (image_folder / PROJECT_FILE).write_text("{broken")
    with pytest.raises(ProjectError, match="cannot read the project file"):
        Project.open([image_folder])


def test_unwritable_folder_reports_and_keeps_edits(image_folder, monkeypatch):
    p = Project.open([image_folder])
    errors = []
    p.error_listeners.append(errors.append)

    def fail(*a, **k):
        from rismodel.fileio import WriteError

        raise WriteError("cannot write x: Permission denied")

    monkeypatch.setattr("app.project.atomic_write_bytes", fail)
    p.add("a.png", "x", "e", np.zeros((40, 60), bool))
    assert p.count("a.png") == 1 and errors and "Autosave failed" in errors[0]


def test_project_file_is_plain_json_with_rle(image_folder):
    p = Project.open([image_folder])
    p.add("a.png", "x", "e", _mask(40, 60, 1, 3, 1, 3))
    data = json.loads((image_folder / PROJECT_FILE).read_text())
    ann = data["images"][0]["annotations"][0]
    assert ann["rle"]["size"] == [40, 60] and isinstance(ann["rle"]["counts"], str)


def test_brush_stroke_is_continuous_and_eraser_clears():
    from app.brush import apply_stroke

    m = np.zeros((20, 40), bool)
    painted = apply_stroke(m, [(5.0, 10.0), (30.0, 10.0)], radius=2)
    assert painted[10, 5:31].all() and painted[8:13, 17].all() and not painted[10, 34] and not painted[3, 17]
    assert not m.any()  # the input is not modified
    erased = apply_stroke(painted, [(17.0, 10.0)], radius=3, erase=True)
    assert not erased[10, 17] and erased[10, 5] and erased.sum() < painted.sum()
