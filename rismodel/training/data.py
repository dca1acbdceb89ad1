"""Training data: load the split, check it, and feed it in a resumable, reproducible order.

Reproducibility (so that ``--resume`` continues exactly as an uninterrupted run):
- the order of an epoch is a function of (seed, epoch) only (:class:`ResumableSampler`, a
  DistributedSampler that can start in the middle of an epoch);
- any randomness the dataset uses for an item (LAVT's protocol: one random sentence of the ref per
  training sample) is drawn from RNGs seeded by (seed, epoch, index) inside
  :class:`SeededItems`, isolated from the global RNG streams, so it does not depend on the number
  of workers, on which worker loads the item, or on where a run was resumed.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler

from .config import DataConfig


class DataError(ValueError):
    """The training data cannot be used (missing files, empty split); the message says which."""


ITEM_ERROR = "__error__"  # key of the stand-in item SeededItems returns for an item that failed


def collate_or_error(collate_fn):
    """``collate_fn`` for good batches; a batch holding a failed item becomes ``{ITEM_ERROR: msg}``."""
    from torch.utils.data import default_collate

    collate_fn = collate_fn or default_collate

    def collate(items):
        for item in items:
            if isinstance(item, dict) and ITEM_ERROR in item:
                return {ITEM_ERROR: item[ITEM_ERROR]}
        return collate_fn(items)

    return collate


def load_samples(data: DataConfig) -> list:
    """The split's :class:`~rismodel.data.sample.RefSample` list, with every image checked to exist."""
    from ..data.refer import DatasetError

    try:
        if data.format == "coco":
            from ..data.coco_refs import load_coco_refs

            if not data.coco_file:
                raise DataError("data.format is 'coco' but data.coco_file is not set")
            samples = load_coco_refs(data.coco_file, data.images_dir, split=data.split,
                                     allow_outside=data.allow_outside_images)
            where = f"{data.coco_file} (split '{data.split}')"
        else:
            from ..data.refer import load_dataset

            if not data.data_root:
                raise DataError(f"data.format is '{data.format}' but data.data_root is not set")
            samples = load_dataset(data.data_root, data.dataset, data.split_by, data.split,
                                   images_dir=data.images_dir,
                                   fmt="grefs" if data.format == "grefcoco" else "auto",
                                   allow_outside=data.allow_outside_images)
            where = f"{data.data_root}/{data.dataset} ({data.split_by}, split '{data.split}')"
    except DatasetError as e:
        raise DataError(f"cannot load the training data: {e}") from e
    if not samples:
        raise DataError(f"{where} has no training samples (no expressions in that split)")
    images = sorted({s.image_path for s in samples})
    missing = [p for p in images if not Path(p).is_file()]
    if missing:
        raise DataError(f"{len(missing)} of {len(images)} images of {where} are missing, e.g. "
                        f"{missing[0]} (set data.images_dir to the folder that holds them)")
    return samples


def describe(data: DataConfig) -> str:
    """A short dataset name for checkpoint provenance."""
    if data.format == "coco":
        return f"coco:{Path(data.coco_file or '').name}:{data.split}"
    return f"{data.dataset}({data.split_by}):{data.split}"


def trained_on(data: DataConfig, num_samples: int) -> str:
    """Human-readable provenance shown by ``rismodel info`` and the app's model dialog."""
    text = f"{describe(data)}, {num_samples} training items"
    if data.dataset == "synthref" and data.format != "coco":
        text += (" (SynthRef, the project's procedural dataset of coloured shapes: the model knows only "
                 "the synthetic vocabulary in docs/vocabulary.md, not real photos)")
    return text


def _item_seed(seed: int, epoch: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1)[0])


class SeededItems(Dataset):
    """Wraps a dataset; item ``(epoch, index)`` is loaded with python/numpy/torch RNGs seeded
    from (seed, epoch, index), and the caller's RNG states are restored afterwards."""

    def __init__(self, dataset: Dataset, seed: int):
        self.dataset = dataset
        self.seed = seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        epoch, index = key
        s = _item_seed(self.seed, epoch, index)
        py, npst = random.getstate(), np.random.get_state()
        random.seed(s)
        np.random.seed(s % 2**32)
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(s)
                return self.dataset[index]
        except (ValueError, OSError) as e:
            # A bad item (unreadable image, image/annotation size mismatch, bad mask) travels back
            # as its message: a DataLoader worker would wrap the error in its own traceback text.
            return {ITEM_ERROR: f"training item {index}: {e}"}
        finally:
            random.setstate(py)
            np.random.set_state(npst)


class ResumableSampler(DistributedSampler):
    """DistributedSampler yielding ``(epoch, index)`` keys, starting ``start`` keys into the epoch."""

    def __init__(self, dataset: Dataset, num_replicas: int, rank: int, seed: int):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed,
                         drop_last=False)
        self.start = 0

    def set_position(self, epoch: int, start: int) -> None:
        self.set_epoch(epoch)
        self.start = start

    def __iter__(self):
        epoch = self.epoch
        return ((epoch, i) for i in itertools.islice(super().__iter__(), self.start, None))

    def __len__(self) -> int:
        return max(0, self.num_samples - self.start)


def build_ris_dataset(samples: list, model_cfg, tokenize, augment: bool = False,
                      shortest_prob: float = 0.0):
    """The data team's RISDataset for ``samples`` at the model's input size, and its collate."""
    from ..data import dataset as ds

    inp = model_cfg.input
    dataset = ds.RISDataset(samples, tokenize, image_size=inp.image_size, mean=inp.mean, std=inp.std,
                            train=True, augment=augment, shortest_prob=shortest_prob,
                            letterbox=inp.resize == "letterbox")
    return dataset, ds.collate
