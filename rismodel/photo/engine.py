"""photo-coco behind the Predictor interface: ``set_image`` runs the detector once per image (the
detections do not depend on the text); ``predict(text)`` parses, chooses and returns the chosen
objects' mask, each object's mask computed once and cached, with a presence score and an
explanation (the chosen class and the rule that decided)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np

from . import NAME
from .chooser import Choice, choose
from .colour import colour_shares
from .detector import Detection, Detector, model_dir
from .labels import COCO_CLASSES
from .masks import DEFAULT, make_maker
from .parser import parse
from .vocab import ClassMatcher

NOTE = ("photo-coco knows the 80 COCO object classes (person, dog, car, chair, cup, ...) plus the "
        "words the synonym list and the MiniLM text encoder map to them (puppy -> dog, bike -> "
        "bicycle); other nouns (jacket, tree, building, rocket) are not objects it can find. It "
        "understands colour words, left/right/top/bottom/middle, biggest/smallest, 'second from "
        "the left' and 'X left of / right of / above / below / next to Y'; the rest of a sentence is "
        "ignored. Its detector is small (CenterNet-MobileNetV3, confidences 0.3-0.7 on true objects; "
        "it calls some cats dogs and misses occluded or small objects) and its masks come from "
        "U2-Net-p, a salient-object segmenter, run inside the detected box: edges are rough and "
        "occluded objects come out poorly. No training: nothing here learned from your "
        "photos.")


@dataclass
class PhotoConfig:
    """The few config fields callers of a Predictor read (architecture, input size)."""

    architecture: str = NAME
    mask_maker: str = DEFAULT
    input: object = field(default=None)

    def __post_init__(self):
        if self.input is None:
            from ..config import InputConfig

            self.input = InputConfig(image_size=512)


class PhotoPredictor:
    def __init__(self, threads: int = 2, mask_maker: str | None = None, detector: Detector | None = None,
                 matcher: ClassMatcher | None = None, preload_text: bool = True):
        import torch

        from ..predictor import pick_device

        self.device = pick_device("cpu")  # onnxruntime CPU; the text encoder is tiny
        mask_maker = mask_maker or os.environ.get("RIS_PHOTO_MASK", DEFAULT)
        self.config = PhotoConfig(mask_maker=mask_maker)
        self.name = NAME
        self.source = str(model_dir())
        self.meta = {"trained_on": "nothing (training-free: COCO detector + rules)"}
        self.threads = threads
        self.detector = detector or Detector(threads=threads)
        self.matcher = matcher or ClassMatcher()
        self.mask_of = make_maker(mask_maker, threads=threads)
        self._image: np.ndarray | None = None
        self.detections: list[Detection] = []
        self._colours: dict[int, dict] = {}
        self._masks: dict[int, np.ndarray] = {}
        self._text_cache: dict = {}  # the Predictor's benchmark clears this; parsing is cheap
        torch.set_num_threads(max(1, min(threads, torch.get_num_threads())))
        if preload_text:  # load the text encoder now, not on the first unknown word typed
            self.matcher.load()

    # ----- the Predictor interface ---------------------------------------------------------
    # The score comes from the chosen detections' confidence (0 when nothing is chosen, the mask then
    # empty anyway): it never empties a chosen mask.
    rejects_absent = False

    def set_image(self, image) -> None:
        from ..predictor import upright_rgb

        image = upright_rgb(image)
        self.detections = self.detector(image)
        self._image = image
        self._colours, self._masks = {}, {}

    @property
    def image_size(self) -> tuple[int, int] | None:
        return None if self._image is None else (self._image.shape[1], self._image.shape[0])

    def colour_of(self, i: int) -> dict:
        if i not in self._colours:
            self._colours[i] = colour_shares(self._image, self.detections[i].box, self._masks.get(i))
        return self._colours[i]

    def object_mask(self, i: int) -> np.ndarray:
        if i not in self._masks:
            self._masks[i] = self.mask_of(self._image, self.detections[i].box)
        return self._masks[i]

    def choose(self, text: str) -> Choice:
        return choose(parse(text), self.detections, self.image_size, self.matcher, self.colour_of)

    def predict(self, text: str, threshold: float = 0.5, image=None):
        from ..predictor import Prediction, PredictorError, expression

        if image is not None:
            self.set_image(image)
        if self._image is None:
            raise PredictorError("no image set: call set_image() before predict()")
        text, truncated = expression(text, threshold)
        t0 = time.perf_counter()
        choice = self.choose(text)
        h, w = self._image.shape[:2]
        mask = np.zeros((h, w), bool)
        for i in choice.indices:
            mask |= self.object_mask(i)
        # prob: the chosen masks at full confidence; the threshold cannot refine a rule's choice
        prob = mask.astype(np.float32)
        return Prediction(prob=prob, mask=mask, score=choice.presence,
                          latency_ms=(time.perf_counter() - t0) * 1000.0, device="cpu",
                          truncated=truncated, explanation=choice.explanation(self.detections))

    def propose(self, with_scores: bool = False) -> list:
        """The teacher (rismodel annotate without --text): the current image's confident objects,
        each with its mask and self-checked generated expressions (:mod:`.teacher`); with
        ``with_scores``, ``(object, detector score)`` pairs (the app's review shows the score)."""
        from .teacher import propose

        entries, _, scores = propose(self)
        return list(zip(entries, scores)) if with_scores else entries

    # ----- description ---------------------------------------------------------------------
    def info(self) -> dict:
        files = sorted(p.name for p in model_dir().glob("*.onnx"))
        return {
            "name": NAME,
            "architecture": "training-free: COCO detector (CenterNet-MobileNetV3, ONNX) + rules + "
                            f"{self.config.mask_maker} masks",
            "rejects_absent": self.rejects_absent,
            "source": f"{model_dir()} ({', '.join(files)})",
            "device": "cpu",
            "image_size": 512,
            "text_encoder": "all-MiniLM-L6-v2 (head noun -> class only)",
            "max_tokens": MAX_WORDS_INFO,
            "parameters": {"total": 0},
            "vocabulary": list(COCO_CLASSES),
            "trained_on": self.meta["trained_on"],
            "training": {},
            "note": NOTE,
        }


MAX_WORDS_INFO = "60 words (rules, no token budget)"
