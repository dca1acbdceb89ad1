"""A tiny model and dataset with the real models' training interface, for fast engine tests.

``TinyRIS`` has a ``backbone.swin`` part (so the backbone/head parameter groups are exercised), a
dropout (so resume must restore the RNG) and a frozen ``text_encoder`` embedding (frozen params
must stay out of the optimizer). ``TinyData`` draws a random horizontal flip with python's
``random`` per item (so per-item randomness must be reproducible).
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F
from torch import nn

from rismodel.config import with_overrides
from rismodel.registry import get_config

# Any real config works for the checkpoint header; the tiny model's own keys are what is stored.
TINY_CFG = with_overrides(get_config("lgformer-compact"), {"input.image_size": 32})


class TinyRIS(nn.Module):
    def __init__(self, dim: int = 8, vocab: int = 32, nan_at_step: int | None = None):
        super().__init__()
        self.text_encoder = nn.Embedding(vocab, dim)
        self.text_encoder.requires_grad_(False)
        self.backbone = nn.Module()
        self.backbone.swin = nn.Conv2d(3, dim, 3, padding=1)
        self.norm = nn.GroupNorm(1, dim)
        self.drop = nn.Dropout(0.2)
        self.head = nn.Conv2d(dim, 1, 1)
        self.nan_at_step = nan_at_step
        self.calls = 0

    def forward(self, images, input_ids, attention_mask):
        self.calls += 1
        w = attention_mask[..., None].float()
        t = (self.text_encoder(input_ids) * w).sum(1) / w.sum(1).clamp(min=1)  # [B, D]
        v = self.norm(self.backbone.swin(images))  # [B, D, S, S]
        f = self.drop(F.relu(v + t[:, :, None, None]))
        logits = F.avg_pool2d(self.head(f), 4)  # [B, 1, S/4, S/4]
        if self.nan_at_step is not None and self.calls >= self.nan_at_step:
            logits = logits * float("nan")
        return {"pred_masks": logits, "aux_masks": [], "presence_logits": logits.flatten(1).amax(1)}

    def loss(self, outputs, masks, has_target):
        logits = outputs["pred_masks"]
        target = F.interpolate(masks[:, None].float(), size=logits.shape[-2:], mode="nearest")
        bce = F.binary_cross_entropy_with_logits(logits, target)
        return {"loss": bce * 2, "bce": bce.detach()}


class TinyData(torch.utils.data.Dataset):
    """``n`` images of size 16 with a bright square (the target) and a 3-token 'expression'."""

    def __init__(self, n: int = 10, size: int = 16, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.items = []
        for _ in range(n):
            img = torch.rand(3, size, size, generator=g) * 0.3
            mask = torch.zeros(size, size)
            y, x = torch.randint(0, size - 8, (2,), generator=g).tolist()
            mask[y:y + 8, x:x + 8] = 1
            img = img + mask * 0.7
            ids = torch.randint(1, 32, (3,), generator=g)
            self.items.append((img, mask, ids))

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        img, mask, ids = self.items[i]
        if random.random() < 0.5:
            img, mask = img.flip(-1), mask.flip(-1)
        return {"image": img, "input_ids": ids, "attention_mask": torch.ones(3, dtype=torch.long),
                "mask": mask, "has_target": torch.tensor(True)}


def tiny_train_config(out, **train):
    from rismodel.training.config import load_train_config

    items = [f"train.out={out}", "train.progress=false", "train.device=cpu"]
    items += [f"train.{k}={v}" for k, v in train.items()]
    return load_train_config(None, items)


def params_of(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class FullDisk:
    """Make the atomic writes of files whose name contains ``match`` fail with ENOSPC part-way,
    as a disk that fills up during the write does (Linux: the name is read from /proc)."""

    def __init__(self, monkeypatch, match: str):
        import errno
        import os

        from rismodel import fileio

        self.hits = 0
        real_fdopen = os.fdopen

        class Filling:
            def __init__(self, f):
                self.f = f

            def write(self, data):
                self.f.write(data[: len(data) // 2])
                raise OSError(errno.ENOSPC, "No space left on device")

            def __getattr__(self, name):
                return getattr(self.f, name)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.f.close()

        def fdopen(fd, *a, **k):
            f = real_fdopen(fd, *a, **k)
            if match in os.readlink(f"/proc/self/fd/{fd}"):
                self.hits += 1
                return Filling(f)
            return f

        monkeypatch.setattr(fileio.os, "fdopen", fdopen)
