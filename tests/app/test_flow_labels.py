"""Labels and expressions in the window: per-label colours, the predefined list (--labels FILE),
unused labels dropped, several expressions per annotation (add, edit, remove)."""

import json

import numpy as np
import pytest
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QColorDialog, QInputDialog

from app import dialogs

pytestmark = pytest.mark.gui
KEY = "synth_scene_1.jpg"


def _open(qtbot, w, folder):
    assert w.open_paths([folder])
    w.show_image(KEY)
    qtbot.waitUntil(lambda: w.image is not None and w.key == KEY, timeout=20_000)


def _mask(w, y0, y1):
    m = np.zeros(w.image.shape[:2], bool)
    m[y0:y1, 10:60] = True
    return m


def test_two_circles_share_a_colour_and_recolour_together(qtbot, make_window, demo_folder, monkeypatch,
                                                          tmp_path, messages):
    w = make_window()
    _open(qtbot, w, demo_folder)
    a = w.project.add(KEY, "circle", "the red circle", _mask(w, 0, 20))
    b = w.project.add(KEY, "circle", "the blue circle", _mask(w, 30, 50))
    c = w.project.add(KEY, "square", "the square", _mask(w, 60, 80))
    assert w.project.get(KEY, a.id).color == w.project.get(KEY, b.id).color != w.project.get(KEY, c.id).color
    panel = w.flow.labels.panel
    assert panel.labels() == ["circle", "square"] and panel.row_text("circle").endswith("(2)")
    # The overlay paints both circles in the label's colour.
    rgba = w.canvas._anns.pixmap().toImage()
    col = QColor(*w.project.label_color("circle"))
    step = int(w.canvas._anns.scale())
    seen = [rgba.pixelColor(30 // step, y // step) for y in (5, 40)]
    for px in seen:  # within the pixmap's premultiplied-alpha rounding
        assert max(abs(px.red() - col.red()), abs(px.green() - col.green()), abs(px.blue() - col.blue())) <= 2
    assert seen[0] == seen[1]

    monkeypatch.setattr(QColorDialog, "getColor", staticmethod(lambda *a, **k: QColor(1, 2, 3)))
    w.flow.labels.recolour("circle")
    assert w.project.get(KEY, a.id).color == w.project.get(KEY, b.id).color == (1, 2, 3)
    assert w.project.get(KEY, c.id).color != (1, 2, 3)
    w.undo()  # one step for the label
    assert w.project.get(KEY, a.id).color == w.project.get(KEY, b.id).color != (1, 2, 3)

    # A label no annotation uses leaves the panel and the COCO export.
    w.project.remove(KEY, c.id)
    assert panel.labels() == ["circle"]
    out = tmp_path / "out.json"
    assert w.tasks.export_coco(str(out))
    assert [cat["name"] for cat in json.loads(out.read_text())["categories"]] == ["circle"]
    assert not messages


def test_predefined_labels_from_the_command_line(qtbot, make_window, demo_folder, tmp_path, monkeypatch, messages):
    labels = tmp_path / "labels.txt"
    labels.write_text("person\ncar  # a comment\n\nbicycle\n", encoding="utf-8")
    from app.project import read_labels_file

    w = make_window()
    w.flow.labels.set_predefined(read_labels_file(labels))
    _open(qtbot, w, demo_folder)
    panel = w.flow.labels.panel
    assert panel.labels() == ["person", "car", "bicycle"]
    assert all(panel.row_text(x).endswith("(0)") for x in panel.labels())
    offered = []
    monkeypatch.setattr(dialogs, "ask_label", lambda parent, labels, default: offered.append(labels) or "car")
    panel.select("car")
    w.prompt.set_tool("box")
    w.flow.shapes.shape_finished("box", [(5, 5), (40, 30)])
    assert offered[0][:3] == ["person", "car", "bicycle"]  # predefined first
    assert panel.row_text("car").endswith("(1)") and panel.labels()[:3] == ["person", "car", "bicycle"]
    assert not messages


def test_console_script_rejects_a_bad_label_file(tmp_path, capsys):
    from app.main import main

    with pytest.raises(SystemExit) as e:
        main(["--labels", str(tmp_path / "missing.txt")])
    assert e.value.code == 2 and "label list" in capsys.readouterr().err


def test_several_expressions_per_annotation(qtbot, make_window, demo_folder, monkeypatch, messages):
    w = make_window()
    _open(qtbot, w, demo_folder)
    ann = w.project.add(KEY, "ring", "the ring", _mask(w, 0, 20))
    w.annotations.select(ann.id)
    panel = w.flow.labels.expressions
    assert panel.expressions() == ["the ring"] and panel.buttons["add"].isEnabled()
    answers = iter([("the yellow ring", True), ("the ring on the left", True)])
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: next(answers)))
    panel.buttons["add"].click()
    assert w.project.get(KEY, ann.id).expressions == ["the ring", "the yellow ring"]
    panel.list.setCurrentRow(0)
    panel.buttons["edit"].click()
    assert w.project.get(KEY, ann.id).expressions == ["the ring on the left", "the yellow ring"]
    assert panel.expressions() == ["the ring on the left", "the yellow ring"]
    assert "(+1)" in w.annotations.list.currentItem().text()
    panel.list.setCurrentRow(1)
    panel.buttons["remove"].click()
    assert w.project.get(KEY, ann.id).expressions == ["the ring on the left"]
    w.undo()
    assert panel.expressions() == ["the ring on the left", "the yellow ring"]
    # No annotation selected: nothing to add to.
    w.annotations.list.setCurrentRow(-1)
    assert not panel.buttons["add"].isEnabled()
    assert not messages
