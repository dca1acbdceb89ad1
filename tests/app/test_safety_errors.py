"""Safety: an unreadable image leaves nothing stale to edit, and no code path ends in an uncaught
exception: the last-resort handler logs the traceback to a per-user file and shows a message."""

import sys

import numpy as np
import pytest
from PySide6.QtCore import QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QColorDialog, QPushButton

from app import crashlog, dialogs

pytestmark = pytest.mark.gui


def test_unreadable_image_clears_the_previous_annotations(qtbot, make_window, demo_folder, monkeypatch, messages):
    (demo_folder / "broken.jpg").write_bytes(b"this is not a JPEG")
    monkeypatch.setattr(dialogs, "ask_label", lambda parent, labels, default: "renamed")
    monkeypatch.setattr(QColorDialog, "getColor", staticmethod(lambda *a, **k: QColor(1, 2, 3)))
    w = make_window()
    assert w.open_paths([demo_folder])
    w.show_image("synth_scene_1.jpg")
    qtbot.waitUntil(lambda: w.image is not None and w.key == "synth_scene_1.jpg", timeout=30_000)
    ann = w.project.add(w.key, "ring", "the ring", np.ones(w.image.shape[:2], bool))
    w.annotations.select(ann.id)
    assert w.annotations.list.count() == 1

    w.show_image("broken.jpg")  # the user clicks an unreadable file
    qtbot.waitUntil(lambda: len(messages) == 1, timeout=10_000)
    assert messages[0][0] == "Cannot open image"
    assert w.annotations.list.count() == 0 and w.selected == -1 and w.image is None
    for b in w.annotations.findChildren(QPushButton):  # Rename, Colour, Delete: nothing to act on
        qtbot.mouseClick(b, pytest.importorskip("PySide6.QtCore").Qt.LeftButton)
    w.rename(ann.id)  # a stale id (what the old list sent): a status message, no KeyError
    w.recolour(ann.id)
    w.delete_selected()
    assert len(messages) == 1 and "not on the image shown" in w.statusBar().currentMessage()
    assert w.project.get("synth_scene_1.jpg", ann.id).label == "ring"  # untouched

    w.show_image("synth_scene_1.jpg")  # back on a good image: its annotation is there and editable
    qtbot.waitUntil(lambda: w.image is not None and w.key == "synth_scene_1.jpg", timeout=30_000)
    assert w.annotations.list.count() == 1
    w.rename(ann.id)
    w.recolour(ann.id)
    a = w.project.get(w.key, ann.id)
    assert a.label == "renamed" and a.color == (1, 2, 3)


def test_switching_images_never_lists_the_previous_images_annotations(qtbot, make_window, demo_folder):
    w = make_window()
    assert w.open_paths([demo_folder])
    w.show_image("synth_scene_1.jpg")
    qtbot.waitUntil(lambda: w.image is not None and w.key == "synth_scene_1.jpg", timeout=30_000)
    ann = w.project.add(w.key, "ring", "the ring", np.ones(w.image.shape[:2], bool))
    w.annotations.selected.emit(ann.id)  # the user selects it: its expressions are listed
    assert w.flow.labels.expressions.expressions() == ["the ring"]
    w.show_image("synth_scene_3.jpg")  # still loading: the lists already belong to the new image
    assert w.annotations.list.count() == 0
    # ... the expression panel too: no stale expression, nothing to add it to
    assert w.flow.labels.expressions.expressions() == []
    assert not w.flow.labels.expressions.buttons["add"].isEnabled()


@pytest.mark.qt_no_exception_capture
def test_last_resort_handler_logs_and_shows_a_message(qtbot, monkeypatch, tmp_path, messages):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    crashlog.install()
    try:
        assert str(crashlog.log_path()).startswith(str(tmp_path / "data"))

        def bug():
            {}["missing"]  # an uncaught KeyError in a slot, as Rename raised

        QTimer.singleShot(0, bug)
        qtbot.waitUntil(lambda: bool(messages), timeout=5_000)
        title, text = messages[0]
        assert title == "Unexpected error" and "KeyError" in text and str(crashlog.log_path()) in text
        log = crashlog.log_path().read_text()
        assert "Traceback" in log and "in bug" in log and "KeyError: 'missing'" in log

        from PySide6.QtCore import qCritical

        qCritical("a Qt critical message")
        assert "Qt: a Qt critical message" in crashlog.log_path().read_text()
    finally:
        from PySide6.QtCore import qInstallMessageHandler

        qInstallMessageHandler(None)
