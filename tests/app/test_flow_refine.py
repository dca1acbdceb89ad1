"""Snap to edges: rismodel.refine (GrabCut, guided filter) on a scene with known edges, the boundary
F-score, and the GUI's live snapping and "Snap selected annotation to edges"."""

import subprocess
import sys
import threading

import cv2
import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

from app import dialogs
from rismodel import refine
from rismodel.evaluation.metrics import boundary_f_score


def _scene(seed=0):
    """A noisy background with a red triangle; a model-like probability map of it: computed at
    48 x 48, blurred, upsampled bilinearly (as the models' masks are) and 3 pixels off."""
    rng = np.random.default_rng(seed)
    h, w = 240, 320
    img = (rng.normal(110, 12, (h, w, 3))).clip(0, 255).astype(np.uint8)
    gt = np.zeros((h, w), np.uint8)
    cv2.fillPoly(gt, [np.array([[150, 40], [230, 190], [70, 170]])], 1)
    img[gt > 0] = (200, 40, 40)
    small = cv2.resize(gt.astype(np.float32), (48, 48), interpolation=cv2.INTER_AREA)
    prob = cv2.resize(cv2.GaussianBlur(small, (5, 5), 1.2), (w, h), interpolation=cv2.INTER_LINEAR)
    return img, gt > 0, np.roll(prob, 3, axis=1)


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_refinements_bring_a_blocky_mask_to_the_edges():
    img, gt, prob = _scene()
    raw = prob >= 0.5
    grab = refine.refine(img, "grabcut", prob=prob)
    guided = refine.refine(img, "guided", prob=prob)
    assert _iou(raw, gt) < 0.93  # the blocky, shifted start
    assert _iou(grab, gt) > 0.98 and _iou(guided, gt) > 0.97
    assert boundary_f_score(grab, gt) > boundary_f_score(raw, gt) + 0.03
    # Empty in, empty out; the shapes must agree.
    assert not refine.grabcut_mask(img, np.zeros(gt.shape, bool)).any()
    with pytest.raises(ValueError):
        refine.refine(img, "grabcut", mask=np.zeros((5, 5), bool))
    with pytest.raises(ValueError):
        refine.refine(img, "magic", prob=prob)


def test_grabcut_on_a_big_crop_works_scaled_down():
    img, gt, prob = _scene(1)
    big_img = cv2.resize(img, (1920, 1440), interpolation=cv2.INTER_NEAREST)
    big_gt = cv2.resize(gt.astype(np.uint8), (1920, 1440), interpolation=cv2.INTER_NEAREST) > 0
    big_prob = cv2.resize(prob, (1920, 1440), interpolation=cv2.INTER_LINEAR)
    out = refine.grabcut_mask(big_img, big_prob >= 0.5, max_pixels=200_000)
    assert out.shape == big_gt.shape and _iou(out, big_gt) > _iou(big_prob >= 0.5, big_gt)


def test_boundary_f_score():
    a = np.zeros((100, 100), bool)
    a[20:80, 20:80] = True
    assert boundary_f_score(a, a) == 1.0
    assert boundary_f_score(np.zeros_like(a), np.zeros_like(a)) == 1.0
    assert boundary_f_score(a, np.zeros_like(a)) == 0.0
    shifted = np.roll(a, 1, axis=1)
    assert boundary_f_score(shifted, a, tolerance=1) == 1.0  # within the tolerance
    far = np.roll(a, 10, axis=1)
    assert 0.0 < boundary_f_score(far, a, tolerance=1) < 0.7
    with pytest.raises(ValueError):
        boundary_f_score(a, a[:50])


def test_refine_module_imports_no_torch():
    code = "import sys, rismodel.refine, app.flow; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, env={"QT_QPA_PLATFORM": "offscreen",
                                                                    "PATH": "/usr/bin:/bin"})


@pytest.mark.gui
def test_live_snap_is_what_is_kept_and_kept_masks_snap(qtbot, make_window, demo_folder, monkeypatch, messages):
    monkeypatch.setattr(dialogs, "ask_label", lambda parent, labels, default: "ring")
    w = make_window()
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=5_000)
    assert w.open_paths([demo_folder])
    w.show_image("synth_scene_1.jpg")
    qtbot.waitUntil(lambda: w.image is not None and w.key == "synth_scene_1.jpg", timeout=20_000)
    assert w.prompt.snap.isChecked()  # on by default: it measurably helps (docs/app.md)
    w.live.set_text("the ring")
    qtbot.waitUntil(lambda: w.live.result is not None, timeout=30_000)
    w.prompt.threshold.setValue(max(1, min(99, int(np.median(w.live.result["prob"]) * 100))))
    raw = w.live.mask().copy()
    expect = refine.grabcut_mask(w.image, raw, logits_side=w.model_info["image_size"] // 4)
    assert not np.array_equal(expect, raw)  # the test means something
    # Enter while snapping (the snap thread is held up): nothing kept yet, kept once snapped.
    gate = threading.Event()
    w.flow.snap._pool.submit(gate.wait, 30)
    w.flow.snap._key = None  # as if the result were new: snapped again, behind the gate
    w.keep_mask()
    assert w.project.count(w.key) == 0 and "kept as soon as" in w.statusBar().currentMessage()
    assert np.array_equal(w.flow.snap.mask(), raw)  # shown unsnapped meanwhile
    gate.set()
    qtbot.waitUntil(lambda: w.project.count(w.key) == 1, timeout=20_000)
    [ann] = w.project.annotations(w.key)
    assert np.array_equal(ann.mask, expect) and np.array_equal(w.flow.snap.mask(), expect)

    # Off: the model's own mask again.
    w.prompt.snap.setChecked(False)
    assert np.array_equal(w.flow.snap.mask(), raw)

    # A kept mask: Edit > Snap selected annotation to edges, one undo step.
    blocky = raw.copy()
    w.project.edit_mask(w.key, ann.id, blocky)
    assert w.flow.shapes.snap_selected()
    assert np.array_equal(w.project.get(w.key, ann.id).mask, refine.grabcut_mask(
        w.image, blocky, logits_side=w.model_info["image_size"] // 4))
    assert w.actions["undo"].text().replace("&", "") == "Undo snap to edges"
    w.undo()
    assert np.array_equal(w.project.get(w.key, ann.id).mask, blocky)
    assert not messages
