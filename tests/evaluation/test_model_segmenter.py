"""The batched evaluation path through a real (random-weight) model gives the Predictor's masks."""

import numpy as np
import pytest
import torch
from eval_fixtures import H, W

from rismodel.data.refer import load_dataset
from rismodel.evaluation.evaluate import ModelSegmenter, Query, evaluate
from rismodel.evaluation.metrics import MetricAccumulator, word_count
from rismodel.predictor import Predictor


@pytest.fixture(scope="module")
def pred():
    torch.manual_seed(0)
    return Predictor.load("lgformer-compact", device="cpu", allow_random=True)


def test_batched_masks_equal_predictor_masks(refer_root, pred):
    samples = load_dataset(refer_root, "refcoco", "unc", "test", images_dir=refer_root / "images")
    from rismodel.data.dataset import preprocess_image
    from rismodel.imageio import load_image

    inp = pred.config.input
    queries, expected = [], []
    for s in samples:
        rgb = load_image(s.image_path)
        pred.set_image(rgb)
        for sentence in s.sentences:
            queries.append(Query(s, sentence, preprocess_image(rgb, inp.image_size, inp.mean, inp.std),
                                 (H, W)))
            expected.append(pred.predict(sentence).mask)
    got = ModelSegmenter(pred)(queries)
    assert len(got) == len(expected) == 5
    for g, e in zip(got, expected):
        assert g.shape == e.shape and g.dtype == torch.bool
        # batching may move a logit by float rounding; allow a pixel or two at the threshold
        assert np.mean(g.numpy() != e) < 0.01

    # and evaluate() over the same data agrees with metrics computed from the Predictor's masks
    acc = MetricAccumulator()
    for q, e in zip(queries, expected):
        acc.add(e, q.sample.mask(), word_count(q.sentence))
    r = evaluate(samples, ModelSegmenter(pred), generalised=False, resolution="original",
                 image_size=inp.image_size, mean=inp.mean, std=inp.std, batch_size=2, workers=1,
                 progress=False)
    assert r["count"] == 5
    assert r["oIoU"] == pytest.approx(acc.result()["oIoU"], abs=0.01)


def test_nan_output_stops_the_evaluation_instead_of_scoring_empty_masks(refer_root):
    from rismodel.evaluation.evaluate import EvalError

    nan = Predictor.load("lgformer-compact", device="cpu", allow_random=True)
    with torch.no_grad():
        next(nan.model.pixel_decoder.parameters()).fill_(float("nan"))
    samples = load_dataset(refer_root, "refcoco", "unc", "test", images_dir=refer_root / "images")
    inp = nan.config.input
    with pytest.raises(EvalError, match="non-finite"):
        evaluate(samples, ModelSegmenter(nan), generalised=False, image_size=inp.image_size,
                 mean=inp.mean, std=inp.std, progress=False)


def test_an_empty_dataset_is_an_error_not_zero_expressions():
    from rismodel.evaluation.baselines import WholeImage
    from rismodel.evaluation.evaluate import EvalError

    with pytest.raises(EvalError, match="no expressions"):
        evaluate([], WholeImage(), generalised=False, progress=False)
