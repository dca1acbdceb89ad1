"""Safety: what Enter keeps is always the mask computed for the text and image shown (issue 11)."""

import threading

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app import dialogs
from rismodel.predictor import Prediction

pytestmark = pytest.mark.gui


@pytest.fixture
def fake_model(monkeypatch, make_window):
    """A window whose model answers 'ring' with the left half and 'diamond' with the right half;
    texts containing 'diamond' wait for ``gate`` (a slow request still running)."""
    w = make_window()
    w.prompt.snap.setChecked(False)  # compare with the model's own mask (snapping to edges is tested elsewhere)
    gate = threading.Event()
    gate.set()

    def predict(text, threshold=None):
        h, wd = w.worker._predictor_image_shape
        prob = np.zeros((h, wd), np.float32)
        if "diamond" in text:
            gate.wait(20)
            prob[:, wd // 2:] = 0.9
        else:
            prob[:, :wd // 2] = 0.9
        return Prediction(prob=prob, mask=prob >= (threshold or 0.5), score=0.9, latency_ms=1.0, device="cpu")

    pred = w.worker._predictor
    real_set_image = pred.set_image

    def set_image(image):
        w.worker._predictor_image_shape = image.shape[:2]
        real_set_image(image)

    monkeypatch.setattr(pred, "predict", predict)
    monkeypatch.setattr(pred, "set_image", set_image)
    w.worker._image_key = None  # make the worker call set_image (records the shape) on the next request
    monkeypatch.setattr(dialogs, "ask_label", lambda parent, labels, default: default)
    yield w, gate
    gate.set()


def _open(qtbot, w, folder, key):
    assert w.open_paths([folder])
    w.show_image(key)
    qtbot.waitUntil(lambda: w.image is not None and w.key == key and w.live.key == key, timeout=30_000)


def _type(qtbot, w, text):
    w.prompt.expression.clear()
    qtbot.keyClicks(w.prompt.expression, text)


def test_enter_while_a_newer_request_runs_keeps_the_new_mask(qtbot, fake_model, demo_folder, messages):
    w, gate = fake_model
    _open(qtbot, w, demo_folder, "synth_scene_1.jpg")
    key = w.key
    _type(qtbot, w, "the ring")
    qtbot.waitUntil(lambda: w.live.result is not None and w.live.result["text"] == "the ring", timeout=30_000)
    half = w.image.shape[1] // 2
    assert w.live.mask()[:, :half].all() and not w.live.mask()[:, half:].any()

    gate.clear()  # the next expression is slow to compute
    _type(qtbot, w, "the black diamond")
    qtbot.keyClick(w.prompt.expression, Qt.Key_Return)  # Enter at once, before its mask exists
    qtbot.wait(100)
    # Nothing kept yet; the ring's mask is not presented as the diamond's.
    assert w.project.count(key) == 0
    assert w.live.mask() is None
    text, _level = w.live.verdict()
    assert "Computing" in text and "the black diamond" in text and "Target found" not in text
    assert "kept as soon as" in w.statusBar().currentMessage()

    gate.set()
    qtbot.waitUntil(lambda: w.project.count(key) == 1, timeout=30_000)
    [ann] = w.project.annotations(key)
    assert ann.expressions == ["the black diamond"] and ann.label == "diamond"
    assert ann.mask[:, half:].all() and not ann.mask[:, :half].any()  # the diamond's mask, not the ring's
    assert not messages


def test_a_pending_keep_is_dropped_when_the_text_changes(qtbot, fake_model, demo_folder, messages):
    w, gate = fake_model
    _open(qtbot, w, demo_folder, "synth_scene_1.jpg")
    key = w.key
    gate.clear()
    _type(qtbot, w, "the diamond")
    qtbot.keyClick(w.prompt.expression, Qt.Key_Return)
    assert w.live.pending_keep
    w.live.set_text("the ring")  # the user goes on typing: the keep was for the old text
    assert not w.live.pending_keep and "Not kept" in w.statusBar().currentMessage()
    gate.set()
    qtbot.waitUntil(lambda: w.live.result is not None and w.live.result["text"] == "the ring", timeout=30_000)
    qtbot.wait(100)
    assert w.project.count(key) == 0


def test_the_overlay_and_verdict_never_present_the_old_result(qtbot, fake_model, demo_folder):
    w, gate = fake_model
    _open(qtbot, w, demo_folder, "synth_scene_1.jpg")
    _type(qtbot, w, "the ring")
    qtbot.waitUntil(lambda: w.live.result is not None, timeout=30_000)
    w.prompt.flush()
    assert w.prompt.verdict.text().startswith("Target found")
    gate.clear()
    w.live.set_text("the diamond")
    assert w.live.result is None and w.live.stale is not None  # kept only to draw faded
    assert w.prompt.verdict.text().startswith("Computing") and "the ring" in w.prompt.verdict.text()
    gate.set()
    qtbot.waitUntil(lambda: w.live.result is not None and w.live.result["text"] == "the diamond", timeout=30_000)
    assert w.live.stale is None and w.prompt.verdict.text().startswith("Target found")


def test_a_rejected_mask_is_kept_only_when_the_user_chose_to_show_it(qtbot, fake_model, demo_folder,
                                                                    messages, monkeypatch):
    """Issue 9: a model whose presence score rejects the expression (LQMFormer, or an LGFormer with
    a presence head) shows no mask and keeps none; "Show rejected mask" (the box under the verdict,
    or View > Show rejected mask) draws it, and Enter then keeps it."""
    from rismodel.predictor import Predictor

    w, _gate = fake_model
    box, action = w.prompt.show_rejected, w.actions["show_rejected"]
    monkeypatch.setattr(Predictor, "rejects_absent", property(lambda self: False))  # as the max-logit LGFormer
    w.load_model(w.model_spec)
    qtbot.waitUntil(lambda: w.model_info is not None and w.model_info.get("rejects_absent") is False, timeout=30_000)
    qtbot.waitUntil(lambda: not box.isEnabled() and not action.isEnabled(), timeout=30_000)  # no rejection
    assert not box.isChecked() and not w.live.show_rejected  # off at start

    def rejected(text, threshold=None):
        h, wd = w.worker._predictor_image_shape
        prob = np.zeros((h, wd), np.float32)
        prob[:, :wd // 2] = 0.9
        return Prediction(prob=prob, mask=np.zeros((h, wd), bool), score=0.1, latency_ms=1.0, device="cpu")

    monkeypatch.setattr(Predictor, "rejects_absent", property(lambda self: True))  # as with a presence head
    monkeypatch.setattr(w.worker._predictor, "predict", rejected)
    w.load_model(w.model_spec)  # the loaded model's info now says it rejects
    qtbot.waitUntil(lambda: box.isEnabled() and action.isEnabled(), timeout=30_000)
    _open(qtbot, w, demo_folder, "synth_scene_1.jpg")
    key, half = w.key, w.image.shape[1] // 2
    _type(qtbot, w, "the unicorn")
    qtbot.waitUntil(lambda: w.live.result is not None and w.live.result["text"] == "the unicorn", timeout=30_000)
    assert w.live.no_target() and w.live.mask() is None
    assert w.canvas._live.pixmap().isNull()  # nothing drawn
    assert w.prompt.verdict.text().startswith("No target") and "shown on request" not in w.prompt.verdict.text()
    qtbot.keyClick(w.prompt.expression, Qt.Key_Return)
    assert w.project.count(key) == 0 and "no target" in w.statusBar().currentMessage()

    action.trigger()  # View > Show rejected mask: the box follows
    assert box.isChecked() and w.live.show_rejected
    assert not w.canvas._live.pixmap().isNull()  # the rejected mask is drawn
    assert "shown on request" in w.prompt.verdict.text()
    w.prompt.expression.setFocus()
    qtbot.keyClick(w.prompt.expression, Qt.Key_Return)
    qtbot.waitUntil(lambda: w.project.count(key) == 1, timeout=30_000)
    [ann] = w.project.annotations(key)
    assert ann.expressions == ["the unicorn"] and ann.mask[:, :half].all() and not ann.mask[:, half:].any()

    _type(qtbot, w, "the dragon")  # the choice outlives the expression
    qtbot.waitUntil(lambda: w.live.result is not None and w.live.result["text"] == "the dragon", timeout=30_000)
    assert not w.canvas._live.pixmap().isNull() and box.isChecked()
    box.setChecked(False)  # the box: the menu action follows, the mask goes
    assert not action.isChecked() and not w.live.show_rejected and w.canvas._live.pixmap().isNull()
    assert not messages
