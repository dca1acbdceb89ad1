"""RISDataset: item shapes and values, LAVT preprocessing, train/eval indexing, collate."""

from __future__ import annotations

import importlib
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from rismodel.data.dataset import RISDataset, collate, preprocess_image, resize_mask
from rismodel.data.masks import mask_to_rle
from rismodel.data.sample import RefSample

T = 6


def fake_tokenize(sentences):
    ids = torch.zeros(len(sentences), T, dtype=torch.long)
    mask = torch.zeros(len(sentences), T, dtype=torch.long)
    for i, s in enumerate(sentences):
        words = s.split()[:T]
        ids[i, : len(words)] = torch.tensor([len(w) for w in words])
        mask[i, : len(words)] = 1
    return ids, mask


@pytest.fixture
def samples(tmp_path):
    img = np.zeros((30, 60, 3), np.uint8)
    img[:, :30] = (255, 0, 0)
    Image.fromarray(img).save(tmp_path / "a.png")
    m = np.zeros((30, 60), np.uint8)
    m[:, 30:] = 1  # right half
    target = RefSample(str(tmp_path / "a.png"), 1, 60, 30, ["the right half", "blue side"], [5],
                       [mask_to_rle(m)], 1, "val", ["half"])
    empty = RefSample(str(tmp_path / "a.png"), 1, 60, 30, ["the zebra"], [], [], 2, "val")
    return [target, empty]


def test_preprocess_resizes_ignoring_aspect_and_normalises():
    img = np.zeros((30, 60, 3), np.uint8)
    img[:, :30] = (255, 0, 0)
    x = preprocess_image(img, 16, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32
    assert torch.allclose(x[0, :, :7], torch.ones(16, 7)) and torch.allclose(x[0, :, 9:], -torch.ones(16, 7))
    assert torch.allclose(x[1], -torch.ones(16, 16))
    with pytest.raises(ValueError, match="uint8"):
        preprocess_image(img.astype(np.float32), 16)


def test_eval_items_one_per_sentence(samples):
    ds = RISDataset(samples, fake_tokenize, image_size=32, train=False)
    assert len(ds) == 3
    item = ds[0]
    assert item["image"].shape == (3, 32, 32) and item["mask"].shape == (32, 32)
    assert item["input_ids"].shape == (T,) and item["attention_mask"].tolist() == [1, 1, 1, 0, 0, 0]
    assert item["input_ids"][:3].tolist() == [3, 5, 4]
    assert item["has_target"].item() is True and item["sentence"] == "the right half"
    assert set(item["mask"].unique().tolist()) == {0.0, 1.0}
    assert item["mask"][:, :16].sum() == 0 and item["mask"][:, 16:].min() == 1
    assert ds[1]["sentence"] == "blue side" and ds[1]["sentence_index"] == 1
    none = ds[2]
    assert none["has_target"].item() is False and none["mask"].sum() == 0
    # ImageNet normalisation by default: red channel of a red pixel = (1 - 0.485) / 0.229
    assert abs(item["image"][0, 5, 2].item() - (1 - 0.485) / 0.229) < 1e-5


def test_train_items_one_per_target_random_sentence(samples):
    ds = RISDataset(samples, fake_tokenize, image_size=32, train=True)
    assert len(ds) == 2
    torch.manual_seed(0)
    seen = {ds[0]["sentence"] for _ in range(20)}
    assert seen == {"the right half", "blue side"}


def test_shortest_sentence_curriculum(samples):
    torch.manual_seed(0)
    always = RISDataset(samples, fake_tokenize, image_size=32, train=True, shortest_prob=1.0)
    assert {always[0]["sentence"] for _ in range(20)} == {"blue side"}
    half = RISDataset(samples, fake_tokenize, image_size=32, train=True, shortest_prob=0.5)
    picks = [half[0]["sentence"] for _ in range(400)]
    # shortest with p = 0.5 + 0.5 * 1/2 = 0.75
    assert 0.68 < picks.count("blue side") / len(picks) < 0.82
    with pytest.raises(ValueError, match="shortest_prob"):
        RISDataset(samples, fake_tokenize, image_size=32, train=True, shortest_prob=1.5)


def test_augment_flip_swaps_left_and_right(samples):
    ds = RISDataset(samples[:1], fake_tokenize, image_size=32, train=False, augment=True)
    torch.manual_seed(0)
    flipped = [it for it in (ds[0] for _ in range(20)) if it["sentence"] != "the right half"]
    assert flipped and flipped[0]["sentence"] == "the left half"
    assert flipped[0]["mask"][:, :16].min() == 1 and flipped[0]["mask"][:, 16:].sum() == 0


def test_collate_and_pickling(samples):
    ds = RISDataset(samples, fake_tokenize, image_size=32, train=False)
    batch = collate([ds[0], ds[2]])
    assert batch["image"].shape == (2, 3, 32, 32) and batch["mask"].shape == (2, 32, 32)
    assert batch["has_target"].tolist() == [True, False] and batch["sentence"][1] == "the zebra"
    # DataLoader workers pickle collate by reference: it must be a module-level name.
    assert b"collate" in pickle.dumps(collate)
    assert getattr(importlib.import_module(collate.__module__), collate.__qualname__) is collate
    loader = torch.utils.data.DataLoader(ds, batch_size=3, collate_fn=collate)
    assert next(iter(loader))["input_ids"].shape == (3, T)


def test_size_mismatch_is_reported(samples, tmp_path):
    samples[0].width = 61
    ds = RISDataset(samples, fake_tokenize, image_size=32, train=False)
    with pytest.raises(ValueError, match="image is 60x30 but its annotation says 61x30"):
        ds[0]


def test_resize_mask_nearest():
    m = np.zeros((4, 4), np.uint8)
    m[0, 0] = 1
    out = resize_mask(m, 8)
    assert out[:2, :2].min() == 1 and out.sum() == 4
