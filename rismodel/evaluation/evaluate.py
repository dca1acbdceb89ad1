"""Evaluate a model (or a trivial baseline) on a referring dataset: every sentence of every ref.

Protocol (LGFormer 4.1, LQMFormer 4.1; reference-facts.md "Metrics as the field's code computes
them"):

- ``resolution="input"`` (default, what LAVT and ReLA do and the papers report): the prediction is
  made at the model's input size S x S (the 1/4-resolution logits upsampled bilinearly), and the
  ground truth is resized to S x S with nearest neighbour. For the ``*-swinb`` models S = 480.
- ``resolution="original"``: the logits are upsampled to the upright original image size and
  compared with the ground truth as decoded.
- Every sentence of a ref is one sample, as the refer toolkit's test loop does.
- Generalised data (gRefCOCO, multi/no-target): the prediction is emptied when the model's
  presence probability (sigmoid of ``presence_logits``; LQMFormer's no-object head, LGFormer's
  presence head or, for the older LGFormers, its largest pixel logit) is below 0.5, so the model
  can answer "nothing"; then the generalised metrics of :mod:`rismodel.evaluation.metrics` apply. On classic (single-target) data the mask
  is scored alone, even for LQMFormer, whose Predictor empties it on a low presence score: every
  classic expression has a target, and the classic numbers of the field use no no-object head.

Speed: refs are loaded (image decoded once per ref, however many sentences) in DataLoader
workers; the model runs on batches of ``batch_size`` expressions; intersections and unions are
counted on the model's device with one host sync per batch.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from rismodel.data.dataset import IMAGENET_MEAN, IMAGENET_STD, preprocess_image, resize_mask
from rismodel.data.sample import RefSample
from rismodel.evaluation.metrics import MetricAccumulator, word_count
from rismodel.imageio import ImageLoadError

PRESENCE_THRESHOLD = 0.5


class EvalError(RuntimeError):
    """A sample could not be evaluated (missing image, bad mask); the message names it."""


@dataclass
class Query:
    """One expression to segment: the ref it belongs to and the size the mask must have."""

    sample: RefSample
    sentence: str
    image: torch.Tensor | None  # [3, S, S] normalised, None for segmenters that need no pixels
    out_size: tuple[int, int]  # (h, w)


class Segmenter(Protocol):
    needs_image: bool

    def __call__(self, queries: list[Query]) -> list[torch.Tensor]:
        """One bool mask ``[h, w]`` per query, ``(h, w) = query.out_size``, on any device."""


def resize_nearest(mask: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize a binary mask with nearest neighbour (PIL, as LAVT resizes its annotations)."""
    h, w = (size, size) if isinstance(size, int) else size
    if mask.shape == (h, w):
        return mask
    img = Image.fromarray((np.asarray(mask) > 0).astype(np.uint8))
    return np.asarray(img.resize((w, h), Image.NEAREST))


class _Refs(torch.utils.data.Dataset):
    """One item per ref: its preprocessed image (decoded once) and its ground truth."""

    def __init__(self, samples: Sequence[RefSample], resolution: str, image_size: int,
                 mean: Sequence[float], std: Sequence[float], need_image: bool, letterbox: bool = False):
        self.samples, self.resolution, self.size = samples, resolution, image_size
        self.mean, self.std, self.need_image = mean, std, need_image
        self.letterbox = letterbox  # the model's input.resize (issue 9); the ground truth follows it

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict:
        s = self.samples[i]
        try:  # errors travel back as text: a worker cannot re-raise every exception type
            image = None
            if self.need_image:
                rgb = s.load_image()  # the one size check, shared with training
                image = preprocess_image(rgb, self.size, self.mean, self.std, self.letterbox)  # [3, S, S]
            gt = torch.from_numpy(s.mask())  # [H, W] uint8
            if self.resolution == "input":
                gt = resize_mask(gt.numpy(), self.size, self.letterbox)  # [S, S], nearest, as in training
        except (ImageLoadError, EvalError, ValueError, OSError) as e:
            return {"index": i, "error": f"ref {s.ref_id}: {e}"}
        return {"index": i, "image": image, "gt": gt > 0, "error": None}


def _as_is(item):
    return item


class ModelSegmenter:
    """Batched inference straight through ``predictor.model`` (the Predictor's per-image API would
    run one expression at a time)."""

    needs_image = True

    def __init__(self, predictor, threshold: float = 0.5, use_presence: bool = False):
        self.predictor, self.threshold, self.use_presence = predictor, threshold, use_presence
        self.device = torch.device(predictor.device)
        inp = predictor.config.input  # stand-ins of a predictor may carry only image_size / mean / std
        self.letterbox = getattr(inp, "resize", "squash") == "letterbox"
        self.input_size = getattr(inp, "image_size", None)

    def _autocast(self):
        if self.device.type == "cuda":
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            return torch.autocast("cuda", dtype=dtype)
        return contextlib.nullcontext()

    def __call__(self, queries: list[Query]) -> list[torch.Tensor]:
        # Same text normalisation as Predictor.predict: collapse whitespace.
        texts = [" ".join(q.sentence.split()) for q in queries]
        ids, attn = self.predictor.tokenize(texts)  # [B, T] each
        images = torch.stack([q.image for q in queries]).to(self.device, non_blocking=True)
        with torch.inference_mode(), self._autocast():
            out = self.predictor.model(images=images, input_ids=ids.to(self.device),
                                       attention_mask=attn.to(self.device))
        logits = out["pred_masks"][:, :1].float()  # [B, 1, S/4, S/4]
        presence = out["presence_logits"].float()
        if not bool(torch.isfinite(logits).all() & torch.isfinite(presence).all()):
            # NaN compares false everywhere: it would score as an empty mask, not as an error.
            raise EvalError("the model gave non-finite (NaN/inf) output: its weights or config are broken")
        present = torch.sigmoid(presence) >= PRESENCE_THRESHOLD  # [B]
        sizes = {q.out_size for q in queries}
        if self.letterbox and sizes != {(self.input_size, self.input_size)}:
            # original resolution: cut each letterbox's padding first (the input frame is square)
            from rismodel.data.dataset import unletterbox

            probs = [torch.sigmoid(F.interpolate(unletterbox(lg[None], *q.out_size, self.input_size),
                                                 size=q.out_size, mode="bilinear", align_corners=False))[0, 0]
                     for lg, q in zip(logits, queries)]
        elif len(sizes) == 1:
            up = F.interpolate(logits, size=sizes.pop(), mode="bilinear", align_corners=False)
            probs = list(torch.sigmoid(up)[:, 0])  # B x [h, w]
        else:
            probs = [torch.sigmoid(F.interpolate(lg[None], size=q.out_size, mode="bilinear",
                                                 align_corners=False))[0, 0]
                     for lg, q in zip(logits, queries)]
        masks = [p >= self.threshold for p in probs]
        if self.use_presence:
            masks = [m & present[i] for i, m in enumerate(masks)]
        return masks


def count_expressions(samples: Sequence[RefSample], limit: int | None) -> int:
    n = sum(len(s.sentences) for s in samples)
    return n if limit is None else min(n, limit)


def evaluate(samples: Sequence[RefSample], segmenter: Segmenter, *, generalised: bool,
             resolution: str = "input", image_size: int = 480,
             mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
             batch_size: int = 16, limit: int | None = None, workers: int = 0,
             progress: bool = True, on_batch: Callable[[int], None] | None = None,
             records: list[dict] | None = None) -> dict:
    """Run ``segmenter`` on every sentence of ``samples`` (the first ``limit`` ones) -> metrics dict.

    ``image_size`` is the model's input size S (the mask size under ``resolution="input"``).
    ``records``, when given, receives one dict per expression (image and ref ids, sentence, word
    count, pixel counts I, U, |P|, |G|): what a paired comparison of two models needs.
    """
    if resolution not in ("input", "original"):
        raise ValueError(f"resolution must be 'input' or 'original', got {resolution!r}")
    if batch_size < 1:
        raise ValueError("batch size must be at least 1")
    if limit is not None and limit < 1:
        raise ValueError("limit must be at least 1")
    total = count_expressions(samples, limit)
    if total == 0:  # metrics of nothing would read as a (meaningless) result
        raise EvalError("no expressions to evaluate (the dataset or split is empty)")
    # Only the refs that hold the first `limit` sentences are loaded.
    used, seen = [], 0
    for s in samples:
        if seen >= total:
            break
        used.append(s)
        seen += len(s.sentences)
    data = _Refs(used, resolution, image_size, mean, std, segmenter.needs_image,
                 letterbox=getattr(segmenter, "letterbox", False))
    loader = torch.utils.data.DataLoader(data, batch_size=None, shuffle=False, num_workers=workers,
                                         collate_fn=_as_is)
    acc = MetricAccumulator(generalised=generalised)
    pending: list[tuple[Query, torch.Tensor]] = []

    def flush(batch: list[tuple[Query, torch.Tensor]]) -> None:
        preds = segmenter([q for q, _ in batch])
        stats = []
        for pred, (q, gt) in zip(preds, batch):
            g = gt.to(pred.device) > 0
            if pred.shape != g.shape:
                raise EvalError(f"segmenter returned {tuple(pred.shape)}, expected {tuple(g.shape)}")
            p = pred.bool()
            stats.append(torch.stack([(p & g).sum(), (p | g).sum(), p.sum(), g.sum()]))
        for (q, _), (i, u, pa, ga) in zip(batch, torch.stack(stats).tolist()):  # one sync
            words = word_count(q.sentence)
            acc.add_counts(i, u, pa, ga, n_words=words)
            if records is not None:
                records.append({"image_id": q.sample.image_id, "ref_id": q.sample.ref_id,
                                "sentence": q.sentence, "words": words,
                                "inter": i, "union": u, "pred_area": pa, "gt_area": ga})
        bar.update(len(batch))
        if on_batch is not None:
            on_batch(len(acc))

    with tqdm(total=total, file=sys.stderr, disable=not progress, unit="expr",
              desc="evaluating", dynamic_ncols=True) as bar:
        queued = 0
        for item in loader:
            if item["error"]:
                raise EvalError(item["error"])
            s = used[item["index"]]
            out_size = (image_size, image_size) if resolution == "input" else (s.height, s.width)
            for sentence in s.sentences:
                if queued >= total:
                    break
                pending.append((Query(s, sentence, item["image"], out_size), item["gt"]))
                queued += 1
            while len(pending) >= batch_size:
                flush(pending[:batch_size])
                pending = pending[batch_size:]
        if pending:
            flush(pending)
    return acc.result()
