"""Periodic validation during training: oIoU/mIoU (classic) or cIoU/gIoU (generalised) on the
first ``val_limit`` expressions of the validation split, through :mod:`rismodel.evaluation`
(input-resolution protocol of LAVT/ReLA, as the papers report)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from types import SimpleNamespace

import torch

from .config import TrainConfig
from .data import load_samples

CLASSIC = ("oIoU", "mIoU")
GENERALISED = ("cIoU", "gIoU", "N-acc", "T-acc")


def make_validator(cfg: TrainConfig, model_cfg, device: torch.device) -> Callable[[torch.nn.Module], dict]:
    """Loads the split now (so a bad path fails before training starts); returns ``run(model)``."""
    from ..evaluation.evaluate import ModelSegmenter, evaluate

    p = cfg.train
    samples = load_samples(dataclasses.replace(cfg.data, split=p.val_split))
    generalised = cfg.data.format == "grefcoco"
    inp = model_cfg.input

    def run(model: torch.nn.Module) -> dict:
        predictor = SimpleNamespace(model=model, tokenize=model.text_encoder.tokenize, device=device,
                                    config=model_cfg)  # ModelSegmenter reads config.input (resize)
        segmenter = ModelSegmenter(predictor, use_presence=generalised)
        res = evaluate(samples, segmenter, generalised=generalised, image_size=inp.image_size,
                       mean=inp.mean, std=inp.std, batch_size=max(1, p.batch_size), limit=p.val_limit,
                       progress=False)
        return {f"val_{k}": res[k] for k in (GENERALISED if generalised else CLASSIC) if k in res}

    return run
