"""Predictor: odd image modes, EXIF orientation, caching, errors (random-weight compact model)."""

import numpy as np
import pytest
from PIL import Image

from rismodel.predictor import Predictor, PredictorError


@pytest.fixture(scope="module")
def pred():
    return Predictor.load("lgformer-compact", device="cpu", allow_random=True)


def _photo(w=96, h=64):
    rng = np.random.default_rng(1)
    a = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    a[:, : w // 3] = (200, 30, 30)  # a structure that makes orientation visible
    return a


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P", "CMYK", "I;16", "1"])
def test_every_mode_gives_a_full_size_mask(pred, tmp_path, mode):
    img = Image.fromarray(_photo())
    if mode == "I;16":
        img = Image.fromarray(np.asarray(img.convert("L")).astype(np.uint16) * 257)  # 16-bit grey
    else:
        img = img.convert(mode)
    path = tmp_path / f"x_{mode.replace(';', '')}.{'jpg' if mode == 'CMYK' else 'png'}"
    img.save(path)
    pred.set_image(str(path))
    res = pred.predict("the red circle")
    assert res.prob.shape == (64, 96) and res.mask.shape == (64, 96)
    assert res.prob.dtype == np.float32 and 0.0 <= res.prob.min() and res.prob.max() <= 1.0
    assert 0.0 <= res.score <= 1.0 and res.device == "cpu" and res.latency_ms > 0


@pytest.mark.parametrize("orientation,rot", [(6, -1), (8, 1), (3, 2)])
def test_exif_rotation_gives_mask_aligned_with_upright_image(pred, tmp_path, orientation, rot):
    raw = _photo()
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "rot.jpg"
    Image.fromarray(raw).save(path, exif=exif, quality=100, subsampling=0)
    stored = np.asarray(Image.open(path).convert("RGB"))  # pixels as stored, before EXIF
    upright = np.ascontiguousarray(np.rot90(stored, k=rot))
    pred.set_image(str(path))
    a = pred.predict("the left square").prob
    pred.set_image(upright)
    b = pred.predict("the left square").prob
    assert a.shape == upright.shape[:2]
    assert np.allclose(a, b, atol=1e-5)


def test_cached_image_gives_same_result_as_fresh(pred):
    img = _photo()
    pred.set_image(img)
    first = pred.predict("blue square").prob
    second = pred.predict("the big green star").prob
    again = pred.predict("blue square", image=img).prob
    assert np.array_equal(first, again)
    assert not np.array_equal(first, second)


def test_threshold_changes_mask_not_probabilities(pred):
    pred.set_image(_photo())
    lo = pred.predict("circle", threshold=0.0)
    hi = pred.predict("circle", threshold=1.0)
    assert np.array_equal(lo.prob, hi.prob)
    assert lo.mask.all() and not hi.mask.any()
    for bad in (-0.1, 1.01, float("nan"), "x"):  # the one shared rule: a number in [0, 1]
        with pytest.raises(PredictorError, match="threshold"):
            pred.predict("circle", threshold=bad)


def test_bad_inputs_have_clear_messages(pred, tmp_path):
    fresh = Predictor.load("lgformer-compact", device="cpu", allow_random=True)
    with pytest.raises(PredictorError, match="set_image"):
        fresh.predict("circle")
    pred.set_image(_photo())
    with pytest.raises(PredictorError, match="empty"):
        pred.predict("   ")
    long = pred.predict(" ".join(["the red circle left of the blue square"] * 30))
    assert long.truncated and long.prob.shape == (64, 96)
    with pytest.raises(PredictorError, match="neither a checkpoint"):
        Predictor.load("no-such-model")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    from rismodel.imageio import ImageLoadError

    with pytest.raises(ImageLoadError):
        pred.set_image(str(bad))


@pytest.mark.parametrize("name", ["lgformer-compact", "lqmformer-compact"])
def test_shipped_defaults_load_and_say_what_they_know(name):
    p = Predictor.load(name, device="cpu")
    info = p.info()
    assert info["source"].endswith(f"resources/models/{name}.safetensors")
    assert "synthetic vocabulary" in info["trained_on"]
    assert info["training"]["steps"] > 0 and "hardware" in info["training"]


def test_a_nan_output_is_an_error_never_a_score(tmp_path):
    import torch

    nan = Predictor.load("lgformer-compact", device="cpu", allow_random=True)
    with torch.no_grad():  # what a checkpoint with a NaN tensor does (when it gets past the loader)
        next(nan.model.pixel_decoder.parameters()).fill_(float("nan"))
    nan.set_image(_photo())
    with pytest.raises(PredictorError, match="non-finite"):
        nan.predict("circle")


def test_non_utf8_text_is_segmented_not_a_tokenizer_crash(pred):
    pred.set_image(_photo())
    weird = b"the r\xe9d circle".decode("utf-8", "surrogateescape")  # a Latin-1 byte from argv
    assert pred.predict(weird).mask.shape == (64, 96)
    assert pred.predict("\ud800 lone surrogate").mask.shape == (64, 96)




def _forced(cfg, presence_logit: float):
    """A Predictor around a stand-in model (no weights) whose mask logits are +8 on the left half
    and -8 on the right, and whose presence logit is ``presence_logit``: what ``predict`` does with
    them depends on the config alone."""
    import torch

    class Tokens:
        def tokenize(self, texts):
            return torch.ones(len(texts), 4, dtype=torch.long), torch.ones(len(texts), 4, dtype=torch.long)

        def tokenizer(self, text):
            return {"input_ids": [1, 1]}

    class Stand(torch.nn.Module):
        text_encoder = Tokens()

        def image_prefix(self, images):
            return images

        def encode_text(self, ids, mask):
            return ids

        def forward(self, attention_mask=None, prefix=None, text_feats=None):
            side = cfg.input.image_size // 4
            logits = torch.full((1, 1, side, side), -8.0)
            logits[..., : side // 2] = 8.0
            return {"pred_masks": logits, "presence_logits": torch.tensor([presence_logit])}

    return Predictor(Stand(), cfg, device="cpu")


@pytest.mark.parametrize("name,presence,rejects", [
    ("lgformer-compact", "max_logit", False),  # the shipped LGFormer: the score is a hint
    ("lgformer-compact", "head", True),  # issue 9: a trained presence head decides, like LQMFormer's
    ("lgformer-compact", "mask", True),  # issue 9: a presence read from the mask decides too
    ("lqmformer-compact", None, True),  # the no-object head
    ("lqmformer-compact", "mask", True),
])
def test_a_presence_head_rejects_the_mask_but_never_the_map(name, presence, rejects):
    from rismodel.config import with_overrides
    from rismodel.registry import get_config

    cfg = get_config(name)
    if presence is not None:
        cfg = with_overrides(cfg, {"presence": presence})
    img = _photo()
    absent = _forced(cfg, presence_logit=-4.0)
    assert absent.rejects_absent is rejects and absent.info()["rejects_absent"] is rejects
    out = absent.predict("the unicorn", image=img)
    assert out.score < 0.5
    assert out.prob.shape == (64, 96) and (out.prob[:, :40] > 0.99).all() and (out.prob[:, -40:] < 0.01).all()
    assert bool(out.mask.any()) is not rejects  # emptied only where the score is a trained presence probability
    if not rejects:
        assert (out.mask == (out.prob >= 0.5)).all()
    present = _forced(cfg, presence_logit=4.0).predict("the circle", image=img)
    assert present.score > 0.5 and (present.mask == (present.prob >= 0.5)).all() and present.mask.any()


def test_photo_coco_never_rejects_a_chosen_mask():
    from rismodel.photo.engine import PhotoPredictor

    assert PhotoPredictor.rejects_absent is False  # its score is a detector confidence, not a presence head
