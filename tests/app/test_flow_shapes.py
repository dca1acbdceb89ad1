"""Creating by hand: polygon and box tools make annotations (label asked, undoable), the brush
keeps working on them, vertices can be dragged; the rasterisers themselves (Qt-free)."""

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QApplication

from app import dialogs
from app.tools.shapes import box_mask, mask_polygon, polygon_mask

KEY = "synth_scene_1.jpg"


def test_polygon_and_box_rasterise_pixel_centres():
    m = polygon_mask([(2, 2), (6, 2), (6, 5), (2, 5)], 8, 10)  # pixels 2..5 x 2..4 have centres inside
    expect = np.zeros((8, 10), bool)
    expect[2:5, 2:6] = True
    assert np.array_equal(m, expect)
    tri = polygon_mask([(0, 0), (10, 0), (0, 8)], 8, 10)
    assert tri[0, 0] and not tri[7, 9] and 30 < tri.sum() < 50  # about half of 80
    assert np.array_equal(box_mask((6, 5), (2, 2), 8, 10), expect)  # corners in any order
    assert not box_mask((-5, -5), (-1, -1), 8, 10).any()  # outside the image: nothing
    with pytest.raises(ValueError):
        polygon_mask([(0, 0), (1, 1)], 4, 4)


def test_mask_polygon_round_trip():
    m = np.zeros((40, 50), bool)
    m[5:30, 10:45] = True
    pts = mask_polygon(m)
    assert len(pts) == 4
    back = polygon_mask(pts, 40, 50)
    assert (back & m).sum() / (back | m).sum() > 0.9
    assert mask_polygon(np.zeros((5, 5), bool)) == []
    m[10:15, 20:25] = False  # a hole: one polygon would fill it
    assert mask_polygon(m) == []
    two = np.zeros((40, 50), bool)
    two[2:5, 2:5] = two[20:30, 20:30] = True
    assert mask_polygon(two) == []




def _ready(qtbot, w, folder, monkeypatch, label="square"):
    monkeypatch.setattr(dialogs, "ask_label", lambda parent, labels, default: label)
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=5_000)
    assert w.open_paths([folder])
    w.show_image(KEY)
    qtbot.waitUntil(lambda: w.image is not None and w.key == KEY, timeout=20_000)
    w.canvas.setFocus()


def _view(w, x, y):
    return w.canvas.mapFromScene(QPointF(x, y))


@pytest.mark.gui
def test_polygon_tool_creates_an_undoable_annotation(qtbot, make_window, demo_folder, monkeypatch, messages):
    w = make_window()
    _ready(qtbot, w, demo_folder, monkeypatch)
    qtbot.keyClick(w.canvas, Qt.Key_P)
    assert w.canvas.tool == "polygon"
    corners = [(60, 60), (260, 80), (200, 300), (80, 250)]
    clicks = [_view(w, *c) for c in corners]
    for pos in clicks:
        qtbot.mouseClick(w.canvas.viewport(), Qt.LeftButton, pos=pos)
    assert len(w.canvas.polygon) == 4 and w.project.count(KEY) == 0
    qtbot.keyClick(w.canvas, Qt.Key_Backspace)  # drop the last vertex ...
    qtbot.mouseClick(w.canvas.viewport(), Qt.LeftButton, pos=clicks[-1])  # ... and place it again
    qtbot.keyClick(w.canvas, Qt.Key_Return)  # closes the polygon
    [ann] = w.project.annotations(KEY)
    scene = [w.canvas.mapToScene(p) for p in clicks]
    expect = polygon_mask([(p.x(), p.y()) for p in scene], *w.image.shape[:2])
    assert ann.label == "square" and ann.expressions == [] and np.array_equal(ann.mask, expect)
    assert w.selected == ann.id and w.files.count_text(KEY).endswith("(1)")
    assert w.actions["undo"].text().replace("&", "") == "Undo polygon"

    # Esc drops a polygon being drawn.
    qtbot.mouseClick(w.canvas.viewport(), Qt.LeftButton, pos=clicks[0])
    qtbot.mouseClick(w.canvas.viewport(), Qt.LeftButton, pos=clicks[1])
    qtbot.keyClick(w.canvas, Qt.Key_Escape)
    assert w.canvas.polygon == [] and w.project.count(KEY) == 1

    # The brush adds to it, the eraser removes from it.
    qtbot.keyClick(w.canvas, Qt.Key_B)
    w.prompt.radius.setValue(10)
    outside = _view(w, 320, 320)
    qtbot.mouseClick(w.canvas.viewport(), Qt.LeftButton, pos=outside)
    p = w.canvas.mapToScene(outside)
    assert w.project.get(KEY, ann.id).mask[int(p.y()), int(p.x())]
    qtbot.keyClick(w.canvas, Qt.Key_E)
    inside = _view(w, 150, 150)
    qtbot.mouseClick(w.canvas.viewport(), Qt.LeftButton, pos=inside)
    p = w.canvas.mapToScene(inside)
    assert not w.project.get(KEY, ann.id).mask[int(p.y()), int(p.x())]

    for _ in range(3):
        qtbot.keyClick(w.canvas, Qt.Key_Z, Qt.ControlModifier)
    assert w.project.count(KEY) == 0
    assert not messages


@pytest.mark.gui
def test_double_click_closes_the_polygon(qtbot, make_window, demo_folder, monkeypatch, messages):
    w = make_window()
    _ready(qtbot, w, demo_folder, monkeypatch)
    qtbot.keyClick(w.canvas, Qt.Key_P)
    pts = [_view(w, *c) for c in ((50, 50), (150, 50), (150, 150))]
    qtbot.mouseClick(w.canvas.viewport(), Qt.LeftButton, pos=pts[0])
    qtbot.mouseClick(w.canvas.viewport(), Qt.LeftButton, pos=pts[1])
    qtbot.mouseClick(w.canvas.viewport(), Qt.LeftButton, pos=pts[2])
    qtbot.mouseDClick(w.canvas.viewport(), Qt.LeftButton, pos=pts[2])
    [ann] = w.project.annotations(KEY)
    assert 3000 < ann.area < 7000  # half of a 100 x 100 square
    assert not messages


@pytest.mark.gui
def test_box_tool_and_vertex_editing(qtbot, make_window, demo_folder, monkeypatch, messages):
    w = make_window()
    _ready(qtbot, w, demo_folder, monkeypatch, label="box thing")
    qtbot.keyClick(w.canvas, Qt.Key_R)
    a, b = _view(w, 100, 100), _view(w, 300, 200)
    qtbot.mousePress(w.canvas.viewport(), Qt.LeftButton, pos=a)
    qtbot.mouseMove(w.canvas.viewport(), pos=b)
    qtbot.mouseRelease(w.canvas.viewport(), Qt.LeftButton, pos=b)
    [ann] = w.project.annotations(KEY)
    sa, sb = w.canvas.mapToScene(a), w.canvas.mapToScene(b)
    expect = box_mask((sa.x(), sa.y()), (sb.x(), sb.y()), *w.image.shape[:2])
    assert ann.label == "box thing" and np.array_equal(ann.mask, expect)
    assert w.actions["undo"].text().replace("&", "") == "Undo box"
    # A click (no drag) is not a box.
    qtbot.mouseClick(w.canvas.viewport(), Qt.LeftButton, pos=a)
    assert w.project.count(KEY) == 1

    # Vertex editing: drag the bottom-right corner outwards.
    qtbot.keyClick(w.canvas, Qt.Key_J)
    assert len(w.canvas.vertices) == 4
    corner = max(w.canvas.vertices, key=lambda v: v[0] + v[1])
    start, end = _view(w, *corner), _view(w, corner[0] + 60, corner[1] + 60)
    qtbot.mousePress(w.canvas.viewport(), Qt.LeftButton, pos=start)
    qtbot.mouseMove(w.canvas.viewport(), pos=end)
    qtbot.mouseRelease(w.canvas.viewport(), Qt.LeftButton, pos=end)
    edited = w.project.get(KEY, ann.id)
    assert edited.area > expect.sum()
    e = w.canvas.mapToScene(end)
    assert edited.mask[int(e.y()) - 3, int(e.x()) - 3]
    w.undo()
    assert np.array_equal(w.project.get(KEY, ann.id).mask, expect)
    assert not messages
