"""Torch dataset for training and evaluation with the papers' preprocessing (LAVT protocol).

LGFormer (Sec. 4.1) and LQMFormer (Sec. 4.1) follow LAVT: the image is resized to S x S
ignoring its aspect ratio and normalised with ImageNet mean/std; the ground-truth mask is
resized with nearest neighbour; no augmentation. Training yields one item per referred target
with one of its sentences drawn at random; evaluation yields one item per (target, sentence).
:func:`preprocess_image` is the single image preprocessing of the project (the predictor uses it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from rismodel.data.sample import RefSample

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Tokenize = Callable[[list[str]], tuple[torch.Tensor, torch.Tensor]]


def letterbox_box(height: int, width: int, image_size: int) -> tuple[int, int, int, int]:
    """Where an ``height x width`` image lands in the ``S x S`` letterbox: ``(top, left, h, w)``
    (aspect ratio kept, longer side = S, centred)."""
    scale = image_size / max(height, width)
    h, w = max(1, round(height * scale)), max(1, round(width * scale))
    return (image_size - h) // 2, (image_size - w) // 2, h, w


def preprocess_image(rgb: np.ndarray, image_size: int, mean: Sequence[float] = IMAGENET_MEAN,
                     std: Sequence[float] = IMAGENET_STD, letterbox: bool = False) -> torch.Tensor:
    """uint8 [H, W, 3] RGB -> float32 [3, S, S]: bilinear resize ignoring aspect (or, with
    ``letterbox``, keeping it and padding with the mean colour, i.e. 0 after normalising)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected a uint8 [H, W, 3] RGB array, got {rgb.dtype} {list(rgb.shape)}")
    top, left, h, w = (letterbox_box(rgb.shape[0], rgb.shape[1], image_size) if letterbox
                       else (0, 0, image_size, image_size))
    resized = Image.fromarray(rgb).resize((w, h), Image.BILINEAR)
    x = torch.from_numpy(np.asarray(resized, dtype=np.float32) / 255.0)  # [h, w, 3]
    x = x.permute(2, 0, 1)  # [3, h, w]
    m = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
    x = (x - m) / s
    if not letterbox:
        return x
    out = torch.zeros(3, image_size, image_size)
    out[:, top:top + h, left:left + w] = x
    return out


def resize_mask(mask: np.ndarray, image_size: int, letterbox: bool = False) -> torch.Tensor:
    """[H, W] {0,1} -> float32 [S, S] {0,1}, nearest neighbour (as LAVT resizes targets); with
    ``letterbox`` into the same box as :func:`preprocess_image` (padding is background)."""
    mask = np.asarray(mask)
    top, left, h, w = (letterbox_box(mask.shape[0], mask.shape[1], image_size) if letterbox
                       else (0, 0, image_size, image_size))
    m = Image.fromarray((mask > 0).astype(np.uint8) * 255)
    m = torch.from_numpy((np.asarray(m.resize((w, h), Image.NEAREST)) > 127).astype(np.float32))
    if not letterbox:
        return m
    out = torch.zeros(image_size, image_size)
    out[top:top + h, left:left + w] = m
    return out


def unletterbox(logits: torch.Tensor, height: int, width: int, image_size: int) -> torch.Tensor:
    """Logits ``[B, C, s, s]`` predicted on a letterboxed ``image_size`` input -> the part that
    covers the ``height x width`` image, at the input's resolution (``[B, C, h, w]``; upsample it
    to the original frame). Cropped at the input size so the box is exactly the one the image
    was pasted into (at 1/4 its border would be rounded)."""
    top, left, h, w = letterbox_box(height, width, image_size)
    if logits.shape[-1] != image_size:
        logits = F.interpolate(logits, size=(image_size, image_size), mode="bilinear", align_corners=False)
    return logits[..., top:top + h, left:left + w]


def _random_flip(image: np.ndarray, mask: np.ndarray, sentence: str):
    """Horizontal flip that keeps the sentence true: left and right are swapped in it."""
    if torch.rand(()).item() >= 0.5:
        return image, mask, sentence
    swap = {"left": "right", "right": "left", "leftmost": "rightmost", "rightmost": "leftmost"}
    words = [swap.get(w, w) for w in sentence.split(" ")]
    return image[:, ::-1].copy(), mask[:, ::-1].copy(), " ".join(words)


def shortest_sentence(sentences: Sequence[str]) -> int:
    """Index of the sentence with the fewest words (the first on a tie): the curriculum's pick
    (``shortest_prob``); scripts/presence_probe.py counts training draws with it."""
    return min(range(len(sentences)), key=lambda n: len(sentences[n].split()))


class RISDataset(torch.utils.data.Dataset):
    """Items: ``image [3,S,S]``, ``input_ids [T]``, ``attention_mask [T]``, ``mask [S,S]``,
    ``has_target`` (bool tensor), ``sentence`` (str), ``sample_index`` and ``sentence_index``.

    ``augment`` (off by default, as in the papers) adds a horizontal flip that also swaps
    "left"/"right" in the sentence. ``shortest_prob`` (0 by default: LAVT's uniform choice) is a
    curriculum knob: with that probability a training item uses its ref's shortest sentence,
    which in SynthRef names the target's shape and little else.
    """

    def __init__(self, samples: list[RefSample], tokenize: Tokenize, image_size: int = 480,
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                 train: bool = True, augment: bool = False, shortest_prob: float = 0.0,
                 letterbox: bool = False):
        if not samples:
            raise ValueError("RISDataset needs at least one sample")
        if not 0.0 <= shortest_prob <= 1.0:
            raise ValueError(f"shortest_prob must be in [0, 1], got {shortest_prob}")
        self.shortest_prob = shortest_prob
        self.samples, self.tokenize = samples, tokenize
        self.image_size, self.mean, self.std = image_size, tuple(mean), tuple(std)
        self.train, self.augment = train, augment
        self.letterbox = letterbox  # keep the aspect ratio (InputConfig.resize = "letterbox")
        # eval: one item per (sample, sentence); train: one per sample
        self.index = ([(i, -1) for i in range(len(samples))] if train else
                      [(i, j) for i, s in enumerate(samples) for j in range(len(s.sentences))])

    def __len__(self) -> int:
        return len(self.index)

    def load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Upright RGB image and its ground-truth mask at the original resolution."""
        s = self.samples[i]
        return s.load_image(), s.mask()

    def __getitem__(self, k: int) -> dict:
        i, j = self.index[k]
        s = self.samples[i]
        if j < 0:
            # LAVT: a random sentence each time. torch's RNG: DataLoader seeds it per worker.
            # (No draw for the curriculum when it is off, so default runs keep their streams.)
            if self.shortest_prob > 0 and torch.rand(()).item() < self.shortest_prob:
                j = shortest_sentence(s.sentences)
            else:
                j = int(torch.randint(len(s.sentences), ()).item())
        sentence = s.sentences[j]
        image, mask = self.load(i)
        if self.augment:
            image, mask, sentence = _random_flip(image, mask, sentence)
        ids, attn = self.tokenize([sentence])  # [1, T] each
        return {
            "image": preprocess_image(image, self.image_size, self.mean, self.std, self.letterbox),
            "input_ids": ids[0].long(), "attention_mask": attn[0].long(),
            "mask": resize_mask(mask, self.image_size, self.letterbox),
            "has_target": torch.tensor(s.has_target),
            "sentence": sentence, "sample_index": i, "sentence_index": j,
        }


def collate(items: list[dict]) -> dict:
    """Stack tensors, keep strings and ints as lists (a module-level function: picklable)."""
    out = {}
    for key in items[0]:
        values = [it[key] for it in items]
        out[key] = torch.stack(values) if isinstance(values[0], torch.Tensor) else values
    return out
