"""AdamW with parameter groups and the polynomial learning-rate schedule.

LGFormer section 4.1: AdamW, weight decay 0.01, initial lr 5e-5, "polynomial scheduler" (the
authors' code: power 0.9, updated every iteration). LQMFormer section 4.1: AdamW, lr 1e-5.

Groups: the pretrained encoders (Swin blocks under ``backbone.swin`` and the text encoder) can get
a smaller lr (``backbone_lr_mult``; 1.0 = one lr as in both papers); everything else (fusions,
decoders, heads) gets ``lr``. ``presence_lr_mult`` (not 1.0) puts the presence head in a group of
its own at ``lr`` times it: the mask-read presence gate (``presence: mask``) has 81 parameters, which
AdamW at the network's lr moves by at most lr per step, too slow to calibrate within a fine-tuning
run. At 1.0 the groups are the same as before, so older runs resume. Frozen parameters are left out. Biases and normalisation weights
(1-D tensors) get no weight decay, as in LAVT's code that LGFormer builds on.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import TrainParams

BACKBONE_PREFIXES = ("backbone.swin.", "text_encoder.")
PRESENCE_PREFIX = "presence_head."


def param_groups(model: nn.Module, params: TrainParams) -> list[dict]:
    groups: dict[str, dict] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        part = "backbone" if name.startswith(BACKBONE_PREFIXES) else "heads"
        if params.presence_lr_mult != 1.0 and name.startswith(PRESENCE_PREFIX):
            part = "presence"
        decay = p.ndim > 1
        key = f"{part}{'' if decay else '_no_decay'}"
        if key not in groups:
            lr = params.lr * {"backbone": params.backbone_lr_mult, "presence": params.presence_lr_mult}.get(part, 1.0)
            groups[key] = {"name": key, "params": [], "lr": lr,
                           "weight_decay": params.weight_decay if decay else 0.0}
        groups[key]["params"].append(p)
    if not groups:
        raise ValueError("the model has no trainable parameters")
    return [groups[k] for k in sorted(groups)]  # fixed order: the optimizer state depends on it


def build_optimizer(model: nn.Module, params: TrainParams) -> torch.optim.AdamW:
    return torch.optim.AdamW(param_groups(model, params), lr=params.lr, weight_decay=params.weight_decay)


def poly_factor(step: int, total_steps: int, power: float, warmup_steps: int = 0) -> float:
    """lr multiplier at ``step``: linear warmup, then (1 - step / total) ** power."""
    if warmup_steps and step < warmup_steps:
        return (step + 1) / warmup_steps
    return max(0.0, 1.0 - step / total_steps) ** power


def build_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, params: TrainParams
                    ) -> torch.optim.lr_scheduler.LambdaLR:
    power, warmup = params.poly_power, params.warmup_steps
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: poly_factor(step, total_steps, power, warmup))
