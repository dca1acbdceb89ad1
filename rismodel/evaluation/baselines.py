"""Trivial baselines for the README's results table, run through the same evaluator as models.

- ``whole-image``: every pixel is foreground, whatever the expression says. Its IoU is the
  target's share of the image: the floor any model must beat.
- ``largest-object``: the mask of the largest annotated object in the image (from the dataset's
  ``instances.json`` or the COCO file), ignoring the expression. It shows how much a dataset
  rewards "pick the salient thing". Crowd regions (``iscrowd = 1``) are not objects and are left
  out; ties go to the lowest annotation id. The size is the decoded pixel count.

Neither looks at the image's pixels (``needs_image = False``), so a baseline runs in seconds even
without the image files. Neither ever predicts "no target", so N-acc is 0 on gRefCOCO.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import torch

from rismodel.data.masks import segmentation_to_mask
from rismodel.evaluation.evaluate import Query, resize_nearest

BASELINES = ("whole-image", "largest-object")


class WholeImage:
    needs_image = False

    def __call__(self, queries: list[Query]) -> list[torch.Tensor]:
        return [torch.ones(q.out_size, dtype=torch.bool) for q in queries]


class LargestObject:
    needs_image = False

    def __init__(self, images: dict[int, dict], annotations: dict[int, dict]):
        """``images``/``annotations`` by id, as :func:`rismodel.data.refer.load_instances` returns."""
        self.images = images
        self.by_image: dict[int, list[dict]] = {}
        for ann_id in sorted(annotations):
            a = annotations[ann_id]
            if not a.get("iscrowd", 0):
                self.by_image.setdefault(a["image_id"], []).append(a)

    @classmethod
    def from_instances(cls, path: str | os.PathLike) -> LargestObject:
        from rismodel.data.refer import load_instances

        images, anns, _ = load_instances(Path(path))
        return cls(images, anns)

    @functools.lru_cache(maxsize=32)  # noqa: B019 (one instance per run; refs of an image come together)
    def mask(self, image_id: int) -> np.ndarray:
        """``uint8 [H, W]``: the largest object of the image (all zero if it has none)."""
        im = self.images.get(image_id)
        if im is None:
            raise ValueError(f"image {image_id} is not in the instances file")
        h, w = im["height"], im["width"]
        best, best_area = np.zeros((h, w), np.uint8), 0
        for a in self.by_image.get(image_id, []):
            m = segmentation_to_mask(a["segmentation"], h, w, where=f"annotation {a['id']}")
            area = int(m.sum())
            if area > best_area:  # strict: ties keep the lower id
                best, best_area = m, area
        return best

    def __call__(self, queries: list[Query]) -> list[torch.Tensor]:
        return [torch.from_numpy(resize_nearest(self.mask(q.sample.image_id), q.out_size) > 0)
                for q in queries]
