"""The shipped checkpoints embed their configs: every new model option must default (key absent)
to the behaviour they were trained with. This pins their outputs on a demo image to a reference
stored before the issue-9 options were added (tests/modeling/data/shipped_reference.json)."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = json.loads((Path(__file__).parent / "data" / "shipped_reference.json").read_text())


@pytest.mark.parametrize("name", ["lgformer-compact", "lqmformer-compact"])
def test_shipped_checkpoint_outputs_are_unchanged(name):
    from rismodel.predictor import Predictor

    path = ROOT / "resources" / "models" / f"{name}.safetensors"
    p = Predictor.load(str(path), device="cpu")
    img = np.asarray(Image.open(ROOT / "resources" / "demo" / "chelsea.jpg").convert("RGB"))
    p.set_image(img)
    for key, ref in REFERENCE.items():
        model, text = key.split("|")
        if model != name:
            continue
        pr = p.predict(text)
        ys = np.linspace(0, pr.prob.shape[0] - 1, 24).astype(int)
        xs = np.linspace(0, pr.prob.shape[1] - 1, 24).astype(int)
        np.testing.assert_allclose(pr.prob[np.ix_(ys, xs)], np.array(ref["prob"]), atol=2e-5, err_msg=key)
        assert pr.score == pytest.approx(ref["score"], abs=2e-5), key
