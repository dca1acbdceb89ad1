"""End to end through the window: open, type, live mask, keep, brush, undo/redo, export, reopen."""

import numpy as np
import pytest
from pycocotools.coco import COCO
from PySide6.QtCore import Qt

from app import dialogs

pytestmark = pytest.mark.gui


def _open(qtbot, w, folder, key=None):
    assert w.open_paths([folder])
    if key:
        w.show_image(key)
    qtbot.waitUntil(lambda: w.image is not None and (key is None or w.key == key), timeout=20_000)


def _type_and_wait(qtbot, w, text):
    w.prompt.expression.clear()
    qtbot.keyClicks(w.prompt.expression, text)
    qtbot.waitUntil(lambda: w.live.result is not None and w.live.result["text"] == text, timeout=30_000)
    # Random weights: put the threshold at the median so the mask is surely non-empty.
    w.prompt.threshold.setValue(max(1, min(99, int(np.median(w.live.result["prob"]) * 100))))
    assert w.live.mask() is not None and w.live.mask().any()


def test_open_type_keep_brush_undo_export(qtbot, make_window, demo_folder, tmp_path, monkeypatch, messages):
    monkeypatch.setattr(dialogs, "ask_label", lambda parent, labels, default: "ring")
    w = make_window()
    _open(qtbot, w, demo_folder, "synth_scene_1.jpg")
    assert w.status_model.text().startswith("lgformer-compact")
    _type_and_wait(qtbot, w, "the ring")
    assert w.status_latency.text().endswith("on CPU") and "ms" in w.status_latency.text()
    assert not w.canvas._live.pixmap().isNull()  # the live overlay is on screen
    live_mask = w.flow.snap.mask(wait=True).copy()  # what the canvas shows: snapped to edges by default

    qtbot.keyClick(w.prompt.expression, Qt.Key_Return)  # Enter keeps the mask
    [ann] = w.project.annotations("synth_scene_1.jpg")
    assert ann.label == "ring" and ann.expressions == ["the ring"]
    assert np.array_equal(ann.mask, live_mask)
    assert w.annotations.current_id() == ann.id and w.selected == ann.id
    assert w.files.count_text("synth_scene_1.jpg").endswith("(1)")

    # Erase a dot in the middle of the view with a real mouse click on the canvas.
    w.prompt.set_tool("erase")
    w.prompt.radius.setValue(12)
    centre = w.canvas.viewport().rect().center()
    scene = w.canvas.mapToScene(centre)
    x, y = int(scene.x()), int(scene.y())
    before = ann.mask.copy()
    w.project.edit_mask(w.key, ann.id, np.ones_like(before))  # make sure the dot changes something
    filled = w.project.get(w.key, ann.id).mask.copy()
    qtbot.mousePress(w.canvas.viewport(), Qt.LeftButton, pos=centre)
    qtbot.mouseRelease(w.canvas.viewport(), Qt.LeftButton, pos=centre)
    erased = w.project.get(w.key, ann.id).mask.copy()
    assert not erased[y, x] and erased.sum() < filled.sum() and erased[0, 0]

    w.undo()
    assert np.array_equal(w.project.get(w.key, ann.id).mask, filled)
    w.undo()
    assert np.array_equal(w.project.get(w.key, ann.id).mask, before)
    w.redo()
    w.redo()
    assert np.array_equal(w.project.get(w.key, ann.id).mask, erased)

    out = tmp_path / "export.json"
    assert w.tasks.export_coco(str(out))
    coco = COCO(str(out))
    [a] = coco.loadAnns(coco.getAnnIds())
    img = coco.loadImgs(a["image_id"])[0]
    assert (img["width"], img["height"]) == (w.image.shape[1], w.image.shape[0])
    assert np.array_equal(coco.annToMask(a).astype(bool), w.project.get(w.key, ann.id).mask)
    assert a["id"] == ann.id and a["expressions"] == ["the ring"]
    assert not messages


def test_autosave_restores_after_window_is_destroyed(qtbot, make_window, demo_folder, monkeypatch, messages):
    monkeypatch.setattr(dialogs, "ask_label", lambda parent, labels, default: "thing")
    w = make_window(register=False)
    _open(qtbot, w, demo_folder, "coffee_exif_rotated.jpg")
    assert w.image.shape[:2] == (400, 600)  # stored sideways, shown upright
    _type_and_wait(qtbot, w, "the cup")
    w.keep_mask()
    qtbot.waitUntil(lambda: w.project.count("coffee_exif_rotated.jpg") == 1, timeout=20_000)  # once snapped
    kept = w.project.annotations("coffee_exif_rotated.jpg")[0].mask.copy()
    w.deleteLater()  # no save, no close event
    w.project.close()  # its lock: the Python object outlives the window here (a crashed process's stale lock is taken over)
    qtbot.wait(50)

    w2 = make_window()
    _open(qtbot, w2, demo_folder, "coffee_exif_rotated.jpg")
    [ann] = w2.project.annotations("coffee_exif_rotated.jpg")
    assert ann.label == "thing" and np.array_equal(ann.mask, kept)
    assert w2.files.count_text("coffee_exif_rotated.jpg").endswith("(1)")
    assert w2.annotations.list.count() == 1
