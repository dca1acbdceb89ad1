"""Fixture data for the evaluation tests: masks, a fake predictor, dataset writers.

Images are 16x16; the fake model's input size is 8, so ground truth is halved with nearest
neighbour (PIL samples source pixel 2x+1). Objects are drawn on 8x8 cells scaled by 2, so both
protocols are easy to compute by hand; the one-pixel "dot" at (1, 1) shows where they differ.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch
from PIL import Image

from rismodel.data.masks import mask_to_rle

S = 8  # fake model input size
H = W = 16  # image size


def cells(rows, cols):
    """A mask on the 8x8 grid."""
    m = np.zeros((S, S), bool)
    m[rows[0]:rows[1], cols[0]:cols[1]] = True
    return m


def up(m8):
    """8x8 cell mask -> 16x16 image mask."""
    return np.kron(m8, np.ones((2, 2), bool))


GT1 = cells((0, 4), (0, 4))  # 16 cells
GT2 = cells((4, 8), (2, 8))  # 24 cells, the largest object of image 1
GT3 = cells((0, 2), (0, 8))  # 16 cells
DOT = np.zeros((H, W), bool)
DOT[1, 1] = True  # at 8x8 it becomes cell (0, 0)
CROWD = np.zeros((H, W), bool)
CROWD[8:, :] = True  # bigger than everything, but a crowd region: no baseline picks it

EMPTY = np.zeros((S, S), bool)
# sentence -> (predicted mask on the 8x8 grid, presence logit)
PREDICTIONS = {
    "left square": (GT1, 5.0),
    "the big thing on the left side of it": (cells((0, 4), (0, 8)), 5.0),
    "lower right": (cells((4, 8), (3, 8)), 5.0),
    "top bar": (EMPTY, 5.0),
    "the tiny dot": (cells((0, 1), (0, 1)), 5.0),
    "in val only": (GT1, 5.0),
    # generalised set
    "both squares": (GT1 | GT2, 5.0),
    "a cat": (cells((0, 1), (0, 8)), -5.0),  # pixels, but the presence head says "nothing"
    "a dog": (cells((0, 1), (0, 8)), 5.0),
    "the top bar": (GT3, -5.0),  # right pixels, wrong presence: emptied
}


def write_images(img_dir):
    img_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png"):
        Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)).save(img_dir / name)


def instances():
    return {
        "images": [{"id": 1, "file_name": "a.png", "width": W, "height": H},
                   {"id": 2, "file_name": "b.png", "width": W, "height": H}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": mask_to_rle(up(GT1)), "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 1, "segmentation": mask_to_rle(up(GT2)), "iscrowd": 0},
            {"id": 3, "image_id": 2, "category_id": 2, "segmentation": mask_to_rle(up(GT3)), "iscrowd": 0},
            {"id": 4, "image_id": 2, "category_id": 2, "segmentation": mask_to_rle(DOT), "iscrowd": 0},
            {"id": 6, "image_id": 2, "category_id": 2, "segmentation": mask_to_rle(CROWD), "iscrowd": 1},
        ],
        "categories": [{"id": 1, "name": "square"}, {"id": 2, "name": "bar"}],
    }


def ref(ref_id, ann_id, image_id, split, *sentences):
    return {"ref_id": ref_id, "ann_id": ann_id, "image_id": image_id, "category_id": 1, "split": split,
            "sentences": [{"raw": s, "sent": s.lower()} for s in sentences]}


class FakeModel(torch.nn.Module):
    """Returns the logits the table says for each sentence, at the input size (S x S)."""

    def __init__(self, table):
        super().__init__()
        self.table = table

    def forward(self, images=None, input_ids=None, attention_mask=None):
        assert images.shape[1:] == (3, S, S) and images.dtype == torch.float32
        logits, presence = [], []
        for i in input_ids[:, 0].tolist():
            m, p = self.table[i]
            logits.append(torch.where(torch.from_numpy(m), 10.0, -10.0))
            presence.append(p)
        return {"pred_masks": torch.stack(logits)[:, None],  # [B, 1, S, S]
                "presence_logits": torch.tensor(presence)}


class FakePredictor:
    """The attributes of rismodel.predictor.Predictor that batched evaluation uses."""

    def __init__(self, predictions=None):
        predictions = predictions or PREDICTIONS
        self.vocab = {s: i for i, s in enumerate(predictions)}
        self.model = FakeModel({i: predictions[s] for s, i in self.vocab.items()})
        self.device = torch.device("cpu")
        self.source = "fake"
        self.config = SimpleNamespace(architecture="lqmformer", input=SimpleNamespace(
            image_size=S, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)))
        self.batches = []

    def tokenize(self, texts):
        self.batches.append(list(texts))
        ids = torch.tensor([[self.vocab[t], 0] for t in texts])
        return ids, torch.ones_like(ids)
