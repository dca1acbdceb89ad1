"""The one sample type every dataset loader returns (refer, gRefCOCO, COCO + expressions).

A :class:`RefSample` is one referred target (zero, one or several annotated objects) in one
image with all the sentences that refer to it. Its ground-truth mask is the union of the
objects' segmentations (overlapping parts merged), as the refer toolkit decodes it; a sample
without annotations is a no-target expression (gRefCOCO) and its mask is all zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rismodel.data.errors import DatasetError
from rismodel.data.masks import Segmentation, merge_masks, segmentation_to_mask


@dataclass
class RefSample:
    image_path: str
    image_id: int
    width: int  # upright image size, the size of every segmentation
    height: int
    sentences: list[str]
    ann_ids: list[int]  # empty = no target
    segmentations: list[Segmentation]  # one per ann_id: COCO polygons or RLE
    ref_id: int
    split: str
    categories: list[str] = field(default_factory=list)  # one per ann_id

    @property
    def has_target(self) -> bool:
        return bool(self.ann_ids)

    @property
    def category(self) -> str | None:
        """The target's category; several distinct ones are joined with '+'; None = no target."""
        names = list(dict.fromkeys(self.categories))
        return "+".join(names) if names else None

    def load_image(self) -> np.ndarray:
        """The upright RGB image, checked against the size its annotation gives (every reader —
        training, evaluation — goes through this one check); a mismatch is a DatasetError."""
        from rismodel.imageio import load_image

        image = load_image(self.image_path)
        if image.shape[:2] != (self.height, self.width):
            raise DatasetError(f"{self.image_path}: image is {image.shape[1]}x{image.shape[0]} but its "
                               f"annotation says {self.width}x{self.height}")
        return image

    def mask(self) -> np.ndarray:
        """``uint8 [height, width]`` in {0, 1}: union of the target objects (zeros if none)."""
        parts = [segmentation_to_mask(seg, self.height, self.width,
                                      where=f"{self.image_path} ann {aid}")
                 for aid, seg in zip(self.ann_ids, self.segmentations)]
        return merge_masks(parts, self.height, self.width)
