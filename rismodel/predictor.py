"""Predictor: load a model once, then ``set_image`` and ``predict(text)`` (segment-anything style).

Preprocessing (EXIF orientation, any image mode, resize to the model's input, ImageNet
normalisation, tokenisation) and postprocessing (upsampling back to the upright original size,
thresholding) happen here, so callers deal in numpy images and masks only.

Caching: ``set_image`` runs everything that does not depend on the text, which for these
early-fusion models is the patch embedding and the first Swin stage's blocks (the first fusion
comes after them). Text features are cached per expression (a small LRU), so a phrase typed again
on another image skips the text encoder.

A Predictor is used from one thread at a time (the app's worker thread owns it).
"""

from __future__ import annotations

import collections
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .config import ModelConfig
from .registry import MODELS, PHOTO_MODEL, build_model

MAX_WORDS = 60


class PredictorError(RuntimeError):
    """Base class of everything the predictor raises on bad input or bad state."""


class CudaOutOfMemory(PredictorError):
    pass


@dataclass
class Prediction:
    prob: np.ndarray  # [H, W] float32 foreground probability at the upright original size
    mask: np.ndarray  # [H, W] bool, prob >= threshold; empty when the predictor ``rejects_absent``
    # and score < 0.5 (prob is still the full map: the app can show a rejected mask on request)
    score: float  # probability that the expression refers to something in the image
    latency_ms: float
    device: str
    truncated: bool = False  # the expression was longer than the model's token budget
    explanation: str = ""  # why this mask (photo-coco: the chosen class and the rule that decided)


def check_threshold(threshold) -> float:
    """The one rule for a foreground threshold: a number in [0, 1] (NaN and infinities refused)."""
    try:
        t = float(threshold)
    except (TypeError, ValueError):
        raise PredictorError(f"the threshold must be a number between 0 and 1, got {threshold!r}") from None
    if not 0.0 <= t <= 1.0:  # also false for NaN
        raise PredictorError(f"the threshold must be between 0 and 1, got {threshold!r}")
    return t


def clean_text(text) -> str:
    """An expression the tokenizer accepts: non-UTF-8 bytes smuggled in as surrogate escapes
    (command-line arguments, file names) are decoded as UTF-8 with U+FFFD for what is invalid."""
    text = str(text)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape" if _only_escapes(text) else "replace"
                           ).decode("utf-8", "replace")


def _only_escapes(text: str) -> bool:
    return all(not 0xD800 <= ord(c) <= 0xDFFF or 0xDC80 <= ord(c) <= 0xDCFF for c in text)


def upright_rgb(image) -> np.ndarray:
    """``set_image``'s input (a path, a PIL image or an ``[H, W, 3]`` uint8 RGB array) as the array."""
    from .imageio import load_image

    if isinstance(image, (str, os.PathLike)) or not isinstance(image, np.ndarray):
        image = load_image(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise PredictorError(f"expected an [H, W, 3] uint8 RGB array, got {image.dtype} {image.shape}")
    return image


def expression(text, threshold) -> tuple[str, bool]:
    """``predict``'s text, whitespace collapsed and cut to MAX_WORDS -> (text, cut); the
    threshold checked. Empty text is an error."""
    check_threshold(threshold)
    text = " ".join(clean_text(text).split())
    if not text:
        raise PredictorError("the expression is empty")
    words = text.split()
    return " ".join(words[:MAX_WORDS]), len(words) > MAX_WORDS


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise PredictorError("CUDA was requested but no CUDA device is available; use device 'cpu'")
    if device not in ("cpu", "cuda"):
        raise PredictorError(f"unknown device {device!r}: use auto, cuda or cpu")
    return torch.device(device)


class Predictor:
    def __init__(self, model: torch.nn.Module, cfg: ModelConfig, meta: dict | None = None,
                 device: str = "auto", name: str | None = None, source: str | None = None):
        self.device = pick_device(device)
        self.model = model.to(self.device).eval()
        self.config = cfg
        self.meta = meta or {}
        self.name = name or cfg.architecture
        self.source = source
        self._image: np.ndarray | None = None
        self._prefix: torch.Tensor | None = None
        self._text_cache: collections.OrderedDict[str, tuple] = collections.OrderedDict()

    # ----- loading -------------------------------------------------------------------------
    @classmethod
    def load(cls, spec: str, device: str = "auto", allow_random: bool = False) -> Predictor:
        """``spec``: a checkpoint path, or a named model whose shipped checkpoint is used.

        ``allow_random`` builds a named model with random weights when no checkpoint ships (tests,
        benchmarks): its masks are meaningless.
        """
        from .checkpoint import load_checkpoint
        from .resources import default_checkpoint

        path = Path(spec)
        if spec == PHOTO_MODEL:  # training-free real-photo engine (rismodel/photo), same interface
            from .photo.detector import PhotoModelError
            from .photo.engine import PhotoPredictor

            if device == "cuda":
                raise PredictorError(f"{PHOTO_MODEL} runs on the CPU only (onnxruntime); use device cpu")
            try:
                return PhotoPredictor()
            except PhotoModelError as e:
                raise PredictorError(str(e)) from e
        if spec in MODELS:
            ckpt = default_checkpoint(spec)
            if ckpt.is_file():
                model, cfg, meta = load_checkpoint(ckpt)
                return cls(model, cfg, meta, device, name=spec, source=str(ckpt))
            if not allow_random:
                raise PredictorError(f"no trained checkpoint ships for '{spec}' (looked for {ckpt})")
            cfg = MODELS[spec]
            import dataclasses

            cfg = dataclasses.replace(cfg, backbone=dataclasses.replace(cfg.backbone, pretrained=None))
            if not cfg.text.name.startswith("package:"):
                cfg = dataclasses.replace(cfg, text=dataclasses.replace(cfg.text, random_init=True))
            return cls(build_model(cfg), cfg, {"trained_on": "nothing (random weights)"}, device,
                       name=spec, source="random")
        if path.suffix == ".safetensors" or path.exists():
            model, cfg, meta = load_checkpoint(path)
            return cls(model, cfg, meta, device, name=path.stem, source=str(path))
        raise PredictorError(f"'{spec}' is neither a checkpoint file nor a model name "
                             f"({', '.join([*MODELS, PHOTO_MODEL])})")

    @property
    def rejects_absent(self) -> bool:
        """True when ``score`` is a trained presence probability that decides the mask (below 0.5
        ``predict`` empties it): LQMFormer's, or an LGFormer retrained with a presence head
        (``presence: head`` or ``mask``, issue 9). The first LGFormer's score is its largest pixel
        logit (``presence: max_logit``), a hint that never empties the mask."""
        return getattr(self.config, "presence", "head") != "max_logit"  # LQMFormer: "head" or "mask"

    # ----- inference -----------------------------------------------------------------------
    def _autocast(self):
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16 if torch.cuda.is_bf16_supported()
                                  else torch.float16)
        return torch.autocast("cpu", enabled=False)

    def _run(self, fn):
        try:
            with torch.inference_mode(), self._autocast():
                return fn()
        except torch.cuda.OutOfMemoryError as e:
            torch.cuda.empty_cache()
            raise CudaOutOfMemory("the GPU ran out of memory; switch the device to CPU "
                                  "(slower, but it has more memory)") from e

    def set_image(self, image) -> None:
        """``image``: a path, a PIL image or an ``[H, W, 3]`` uint8 RGB array (already upright)."""
        from .data.dataset import preprocess_image

        image = upright_rgb(image)
        inp = self.config.input
        x = preprocess_image(image, inp.image_size, inp.mean, inp.std,
                             letterbox=inp.resize == "letterbox").unsqueeze(0).to(self.device)
        self._prefix = self._run(lambda: self.model.image_prefix(x))
        self._image = image

    @property
    def image_size(self) -> tuple[int, int] | None:
        return None if self._image is None else (self._image.shape[1], self._image.shape[0])

    def tokenize(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.text_encoder.tokenize([clean_text(t) for t in texts])

    def _text(self, text: str):
        if text in self._text_cache:
            self._text_cache.move_to_end(text)
            return self._text_cache[text]
        ids, mask = self.tokenize([text])
        truncated = len(self.model.text_encoder.tokenizer(text)["input_ids"]) > ids.shape[1]
        ids, mask = ids.to(self.device), mask.to(self.device)
        feats = self._run(lambda: self.model.encode_text(ids, mask))
        self._text_cache[text] = (feats, mask, truncated)
        if len(self._text_cache) > 64:
            self._text_cache.popitem(last=False)
        return self._text_cache[text]

    def predict(self, text: str, threshold: float = 0.5, image=None) -> Prediction:
        if image is not None:
            self.set_image(image)
        if self._prefix is None:
            raise PredictorError("no image set: call set_image() before predict()")
        text, _ = expression(text, threshold)
        t0 = time.perf_counter()
        feats, mask, truncated = self._text(text)
        out = self._run(lambda: self.model(attention_mask=mask, prefix=self._prefix, text_feats=feats))
        h, w = self._image.shape[:2]
        logits = out["pred_masks"][:1, :1].float()
        presence = out["presence_logits"][:1].float()
        if not (bool(torch.isfinite(logits).all()) and bool(torch.isfinite(presence).all())):
            # A NaN score with an empty mask would pass for "nothing found": never a result.
            raise PredictorError(f"the model {self.name} gave non-finite (NaN/inf) output for this "
                                 "image and expression: its weights or config are broken")
        if self.config.input.resize == "letterbox":  # cut the padding off before upsampling
            from .data.dataset import unletterbox

            logits = unletterbox(logits, h, w, self.config.input.image_size)
        prob = torch.sigmoid(F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False))
        prob = prob[0, 0].cpu().numpy()
        score = float(torch.sigmoid(presence[0]))
        mask_np = prob >= threshold
        if self.rejects_absent and score < 0.5:
            mask_np = np.zeros_like(mask_np)  # the presence head says nothing is referred to
        latency = (time.perf_counter() - t0) * 1000.0
        return Prediction(prob=prob, mask=mask_np, score=score, latency_ms=latency,
                          device=self.device.type, truncated=truncated)

    # ----- description ---------------------------------------------------------------------
    def parameter_counts(self) -> dict[str, int]:
        return parameter_counts(self.model)

    def info(self) -> dict:
        return {
            "name": self.name,
            "architecture": self.config.architecture,
            "rejects_absent": self.rejects_absent,
            "source": self.source,
            "device": self.device.type,
            "image_size": self.config.input.image_size,
            "text_encoder": self.config.text.name,
            "max_tokens": self.config.text.max_tokens,
            "parameters": self.parameter_counts(),
            "trained_on": self.meta.get("trained_on", self.meta.get("dataset", "unknown")),
            "training": self.meta,
        }


def parameter_counts(model: torch.nn.Module) -> dict[str, int]:
    """Parameters per top-level component, plus the total."""
    counts = {name: sum(p.numel() for p in child.parameters()) for name, child in model.named_children()}
    if hasattr(model, "backbone"):
        counts["backbone.fusions"] = sum(p.numel() for p in model.backbone.fusions.parameters())
    counts["total"] = sum(p.numel() for p in model.parameters())
    return counts
