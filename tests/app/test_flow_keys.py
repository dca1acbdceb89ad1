"""Focus and shortcuts as a keyboard user meets them (issue 11, "Focus and shortcuts"): keys go
through Qt's real ShortcutOverride path (qtbot.keyClick), with the focus where the user left it."""

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from app import dialogs

pytestmark = pytest.mark.gui


def _ready(qtbot, w, folder, key="synth_scene_1.jpg"):
    w.activateWindow()  # window shortcuts need the active window
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=5_000)
    assert w.open_paths([folder])
    w.show_image(key)
    qtbot.waitUntil(lambda: w.image is not None and w.key == key, timeout=20_000)


def _type(qtbot, w, text):
    w.prompt.expression.setFocus()
    w.prompt.expression.clear()
    qtbot.keyClicks(w.prompt.expression, text)
    qtbot.waitUntil(lambda: w.live.result is not None and w.live.result["text"] == text, timeout=30_000)
    w.prompt.threshold.setValue(max(1, min(99, int(np.median(w.live.result["prob"]) * 100))))


def _keep(qtbot, w, monkeypatch, text="the ring", label="ring"):
    monkeypatch.setattr(dialogs, "ask_label", lambda parent, labels, default: label)
    _type(qtbot, w, text)
    n = w.project.count(w.key)
    qtbot.keyClick(w.prompt.expression, Qt.Key_Return)
    qtbot.waitUntil(lambda: w.project.count(w.key) == n + 1, timeout=20_000)  # kept once snapped to edges


def test_keep_returns_focus_to_canvas_where_letters_and_undo_act(qtbot, make_window, demo_folder, monkeypatch,
                                                                  messages):
    w = make_window()
    _ready(qtbot, w, demo_folder)
    _keep(qtbot, w, monkeypatch)
    assert w.project.count(w.key) == 1
    qtbot.waitUntil(lambda: w.canvas.hasFocus(), timeout=2_000)
    for key, tool in ((Qt.Key_B, "brush"), (Qt.Key_E, "erase"), (Qt.Key_P, "polygon"), (Qt.Key_R, "box"),
                      (Qt.Key_V, "pan")):
        qtbot.keyClick(w.canvas, key)
        assert w.canvas.tool == tool and w.prompt.tool() == tool
    r = w.prompt.radius.value()
    qtbot.keyClick(w.canvas, Qt.Key_BracketRight)
    bigger = w.prompt.radius.value()
    assert bigger > r and w.canvas.radius == bigger
    qtbot.keyClick(w.canvas, Qt.Key_BracketLeft)
    assert 1 <= w.prompt.radius.value() < bigger

    # Ctrl+Z undoes the keep (the project), not the text; Ctrl+Y and Ctrl+Shift+Z redo.
    text = w.prompt.text()
    qtbot.keyClick(w.canvas, Qt.Key_Z, Qt.ControlModifier)
    assert w.project.count(w.key) == 0 and w.prompt.text() == text
    qtbot.keyClick(w.canvas, Qt.Key_Y, Qt.ControlModifier)
    assert w.project.count(w.key) == 1
    qtbot.keyClick(w.canvas, Qt.Key_Z, Qt.ControlModifier)
    qtbot.keyClick(w.canvas, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)
    assert w.project.count(w.key) == 1
    assert not messages


def test_letters_type_in_the_expression_box_and_esc_leaves_it(qtbot, make_window, demo_folder, monkeypatch,
                                                               messages):
    w = make_window()
    _ready(qtbot, w, demo_folder)
    _keep(qtbot, w, monkeypatch)
    key, fitted = w.key, w.canvas.zoom()
    w.prompt.expression.setFocus()
    w.prompt.expression.clear()
    qtbot.keyClicks(w.prompt.expression, "bad verdict")  # B, A, D, E, V, R ... are all shortcuts elsewhere
    assert w.prompt.text() == "bad verdict"
    assert w.canvas.tool == "pan" and w.key == key and w.canvas.zoom() == pytest.approx(fitted)
    # Ctrl+Z in the box undoes typing, not the project.
    qtbot.keyClick(w.prompt.expression, Qt.Key_Z, Qt.ControlModifier)
    assert w.prompt.text() != "bad verdict" and w.project.count(key) == 1

    qtbot.waitUntil(lambda: w.live.result is not None, timeout=30_000)
    qtbot.keyClick(w.prompt.expression, Qt.Key_Escape)
    assert not w.prompt.expression.hasFocus() and w.canvas.hasFocus()
    assert w.prompt.text() == "" and w.live.mask() is None
    assert w.canvas._live.pixmap().isNull()  # the live overlay is gone
    qtbot.keyClick(w.canvas, Qt.Key_Z, Qt.ControlModifier)  # now the project's undo
    assert w.project.count(key) == 0
    assert not messages


def test_d_a_next_previous_and_next_without_annotations(qtbot, make_window, demo_folder, monkeypatch, messages):
    w = make_window()
    _ready(qtbot, w, demo_folder, "coffee_exif_rotated.jpg")
    w.canvas.setFocus()
    qtbot.keyClick(w.canvas, Qt.Key_D)
    qtbot.waitUntil(lambda: w.key == "synth_scene_1.jpg" and w.image is not None, timeout=20_000)
    qtbot.keyClick(w.canvas, Qt.Key_A)
    qtbot.waitUntil(lambda: w.key == "coffee_exif_rotated.jpg" and w.image is not None, timeout=20_000)
    # Annotate the first two images; Shift+D jumps over them to the third.
    for key in ("coffee_exif_rotated.jpg", "synth_scene_1.jpg"):
        mask = np.zeros(w.project.entry(key).upright_size()[::-1], bool)
        mask[:5, :5] = True
        w.project.add(key, "thing", "", mask)
    w.canvas.setFocus()
    qtbot.keyClick(w.canvas, Qt.Key_D, Qt.ShiftModifier)
    qtbot.waitUntil(lambda: w.key == "synth_scene_3.jpg", timeout=20_000)
    w.project.add("synth_scene_3.jpg", "thing", "", np.ones(w.project.entry("synth_scene_3.jpg")
                                                              .upright_size()[::-1], bool))
    assert w.flow.keys.next_unannotated() is None
    assert "Every image" in w.statusBar().currentMessage()
    assert not messages


def test_sliders_keep_page_keys_and_spin_boxes_let_letters_through(qtbot, make_window, demo_folder, messages):
    w = make_window()
    _ready(qtbot, w, demo_folder)
    key = w.key
    w.prompt.threshold.setFocus()
    v = w.prompt.threshold.value()
    qtbot.keyClick(w.prompt.threshold, Qt.Key_PageDown)
    qtbot.keyClick(w.prompt.threshold, Qt.Key_PageUp)
    qtbot.keyClick(w.prompt.threshold, Qt.Key_PageUp)
    qtbot.wait(200)
    assert w.key == key  # PgUp/PgDown moved the slider, not the image
    assert w.prompt.threshold.value() != v
    assert w.prompt.threshold_label.text() == f"{w.prompt.threshold.value() / 100:.2f}"
    # After typing a brush size, B still picks the brush; digits still edit the size.
    w.prompt.radius.setFocus()
    w.prompt.radius.lineEdit().selectAll()
    qtbot.keyClicks(w.prompt.radius, "24")
    assert w.prompt.radius.value() == 24
    qtbot.keyClick(w.prompt.radius, Qt.Key_B)
    assert w.canvas.tool == "brush"
    assert not messages


def test_edit_menu_names_the_undo_and_is_disabled_without_one(qtbot, make_window, demo_folder, monkeypatch,
                                                              messages):
    w = make_window()
    undo, redo = w.actions["undo"], w.actions["redo"]
    assert not undo.isEnabled() and not redo.isEnabled()  # no project yet
    _ready(qtbot, w, demo_folder)
    assert not undo.isEnabled() and not redo.isEnabled()
    _keep(qtbot, w, monkeypatch)
    assert undo.isEnabled() and undo.text().replace("&", "") == "Undo keep mask" and not redo.isEnabled()
    w.undo()
    assert not undo.isEnabled() and redo.isEnabled() and redo.text().replace("&", "") == "Redo keep mask"
    w.redo()
    ann = w.project.annotations(w.key)[0]
    w.project.remove(w.key, ann.id)
    assert undo.text().replace("&", "") == "Undo delete"
    assert not messages


def test_ctrl_equals_zooms_and_the_status_bar_shows_the_zoom(qtbot, make_window, demo_folder, messages):
    w = make_window()
    _ready(qtbot, w, demo_folder)
    w.canvas.setFocus()
    fitted = w.canvas.zoom()
    assert w.flow.opening.zoom_label.text() == f"{round(100 * fitted)} %"
    qtbot.keyClick(w.canvas, Qt.Key_Equal, Qt.ControlModifier)
    assert w.canvas.zoom() == pytest.approx(fitted * 1.25)
    assert w.flow.opening.zoom_label.text() == f"{round(125 * fitted)} %"
    qtbot.keyClick(w.canvas, Qt.Key_F)
    assert w.canvas.zoom() == pytest.approx(fitted)
    assert not messages
