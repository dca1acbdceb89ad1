"""photo-coco under ``rismodel eval``: the evaluator's batched path feeds tensors to a torch
model; photo-coco instead needs the upright photo, so this segmenter loads each photo itself
(``needs_image = False``), keeps its detections while the photo's expressions come in order, and
resizes its mask to the size the evaluator asks for (nearest neighbour, like the ground truth)."""

from __future__ import annotations

import torch

from ..evaluation.evaluate import EvalError, Query, resize_nearest
from ..imageio import ImageLoadError, load_image


class PhotoSegmenter:
    needs_image = False

    def __init__(self, predictor, use_presence: bool = False):
        self.predictor, self.use_presence = predictor, use_presence
        self._path = None

    def __call__(self, queries: list[Query]) -> list[torch.Tensor]:
        out = []
        for q in queries:
            path = q.sample.image_path
            if path != self._path:
                try:
                    self.predictor.set_image(load_image(path))
                except ImageLoadError as e:
                    raise EvalError(f"{path}: {e.reason}") from e
                self._path = path
            p = self.predictor.predict(q.sentence)
            mask = p.mask if not self.use_presence or p.score >= 0.5 else p.mask & False
            out.append(torch.from_numpy(resize_nearest(mask, q.out_size) > 0))
        return out
