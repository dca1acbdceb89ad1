"""Batch results arrive "to review" with their score; Y / N accept or reject (and move on); reject
below a score or size; absent targets are never kept."""

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

pytestmark = pytest.mark.gui
K1, K3 = "synth_scene_1.jpg", "synth_scene_3.jpg"


def _mask(w, key, n):
    wd, h = w.project.entry(key).upright_size()
    m = np.zeros((h, wd), bool)
    m[:n, :n] = True
    return m


def _batch(qtbot, w, folder, lqm=False):
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=5_000)
    assert w.open_paths([folder])
    w.show_image(K1)
    qtbot.waitUntil(lambda: w.image is not None and w.key == K1, timeout=20_000)
    # LQMFormer's no-object head rejects scores below 0.5; a model without one (the first LGFormer) keeps them
    w.model_info = {**w.model_info, "architecture": "lqmformer" if lqm else "lgformer", "rejects_absent": lqm}
    items = [(K1, "the red circle", _mask(w, K1, 30), 0.91), (K1, "the small square", _mask(w, K1, 4), 0.72),
             (K3, "the ring", _mask(w, K3, 20), 0.35), (K3, "the star", np.zeros_like(_mask(w, K3, 1)), 0.2)]
    w.tasks._batch_done(items, False, "")
    return w


def test_batch_results_to_review_with_keys(qtbot, make_window, demo_folder, messages):
    w = _batch(qtbot, make_window(), demo_folder, lqm=True)
    todo = w.project.to_review()
    # LQMFormer's no-object head (score < 0.5) and the empty mask: not kept.
    assert sorted((k, a.expressions[0], a.score) for k, a in todo) == [
        (K1, "the red circle", pytest.approx(0.91)), (K1, "the small square", pytest.approx(0.72))]
    assert "2 mask(s) added for review" in w.statusBar().currentMessage()
    assert w.annotations.list.item(0).text().startswith("to review 0.91 \u00b7 circle")
    assert w.actions["undo"].text().replace("&", "") == "Undo batch"

    w.canvas.setFocus()
    qtbot.keyClick(w.canvas, Qt.Key_D, Qt.ControlModifier)  # next to review
    first = w.selected
    assert first == todo[0][1].id
    qtbot.keyClick(w.canvas, Qt.Key_Y)  # accept, move on
    assert w.project.get(K1, first).review == "accepted"
    assert w.selected == todo[1][1].id
    qtbot.keyClick(w.canvas, Qt.Key_N)  # reject = delete
    assert [a.id for a in w.project.annotations(K1)] == [first]
    assert "Nothing left to review" in w.statusBar().currentMessage()
    w.undo()
    w.undo()
    assert w.project.get(K1, first).review == "to_review" and w.project.count(K1) == 2
    assert not messages


def test_reject_below_a_score_or_a_size(qtbot, make_window, demo_folder, messages):
    w = _batch(qtbot, make_window(), demo_folder)  # no presence rejection: the 0.35 ring stays
    assert w.project.count(K3) == 1 and w.project.count(K1) == 2
    assert w.flow.review.reject_below(score=0.5) == 1
    assert w.project.count(K3) == 0
    assert w.flow.review.reject_below(min_area=100) == 1  # the 4 x 4 square
    assert [a.expressions for a in w.project.annotations(K1)] == [["the red circle"]]
    w.flow.review.accept_image()
    assert w.project.to_review() == []
    assert w.flow.review.reject_below(score=0.99) == 0  # accepted ones are never rejected in bulk
    assert not messages
