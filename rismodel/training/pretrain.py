"""Backbone pretraining on SynthRef: dense attribute segmentation, a stand-in for ImageNet.

Both papers start from an ImageNet-pretrained Swin (LGFormer 4.1, LQMFormer 4.1). Those weights
cannot be downloaded here, and a compact Swin trained from random weights on referring
expressions alone learns colour and position but not shape: a mask loss on one object per
expression is a weak signal for it. So LGFormer-compact starts from a Swin pretrained on the
training images of SynthRef with a dense, text-free task that sees every object of every image:
per pixel, predict the object's shape (its COCO category), colour, texture and size class
(background = class 0 of each); and per object, the same classes from the pixel logits averaged
over the object's mask. The object-level term is there for shape: a pixel inside a large object
cannot see its outline, but the average lets evidence from the outline (corners, curvature)
decide, as a global-pooling classifier does (not ablated: docs/architecture.md has what was
measured). No expression and no val/test image is used.

The head is a light FPN (1x1 projection of each stage, upsampled to stride 4, summed) with one
1x1 classifier per attribute; only the Swin weights are kept. The file is a timm-layout
``.safetensors`` that :class:`rismodel.modeling.backbone.EarlyFusionSwin` loads through
``backbone.pretrained`` like any other Swin checkpoint. Not needed at inference: the trained
referring checkpoint stores the backbone weights it ended with.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from ..config import BackboneConfig, to_dict
from ..data.dataset import preprocess_image
from ..data.masks import segmentation_to_mask
from ..data.refer import DatasetError, default_images_dir, load_dataset, load_instances
from ..data.synth_scene import COLORS, SHAPES, SIZES, TEXTURES
from ..fileio import atomic_write_bytes
from ..imageio import ImageLoadError, load_image
from ..modeling.backbone import EarlyFusionSwin

FORMAT = "rismodel-swin-pretrain/1"
# name -> classes after background (index 0); shape comes from the annotation's category.
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "shape": SHAPES, "color": tuple(COLORS), "texture": TEXTURES, "size": tuple(SIZES),
}


class _NoFusion(nn.Module):
    """Pretraining sees no text: the fusion slots of the backbone pass vision through."""

    def forward(self, v, l, l_mask):
        return v, l


class AttributeSegmenter(nn.Module):
    """The referring models' Swin (same config, same per-stage norms) + a light FPN head."""

    def __init__(self, cfg: BackboneConfig, image_size: int, dim: int = 64):
        super().__init__()
        self.backbone = EarlyFusionSwin(cfg, image_size, [_NoFusion() for _ in cfg.depths])
        self.lateral = nn.ModuleList(nn.Conv2d(c, dim, 1) for c in cfg.channels)
        self.heads = nn.ModuleDict({k: nn.Conv2d(dim, len(v) + 1, 1) for k, v in ATTRIBUTES.items()})

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """``[B, 3, S, S]`` -> per attribute, logits ``[B, classes, S/4, S/4]``."""
        feats, _ = self.backbone(self.backbone.prefix(images), None, None)
        size = feats[0].shape[-2:]
        x = sum(F.interpolate(lat(f), size=size, mode="bilinear", align_corners=False) if i else lat(f)
                for i, (lat, f) in enumerate(zip(self.lateral, feats)))
        x = F.gelu(x)
        return {k: head(x) for k, head in self.heads.items()}


@dataclass
class AttributeData:
    images: torch.Tensor  # float16 [N, 3, S, S], normalised
    labels: torch.Tensor  # uint8 [N, len(ATTRIBUTES), S/4, S/4], 0 = background
    instances: torch.Tensor  # uint8 [N, S/4, S/4]: 1 + the object's index in its image, 0 = background


def _label_maps(anns: list[dict], cats: dict[int, str], h: int, w: int, where: str) -> np.ndarray:
    """``[len(ATTRIBUTES) + 1, h, w]``: one class map per attribute, then the instance map."""
    maps = np.zeros((len(ATTRIBUTES) + 1, h, w), dtype=np.uint8)
    for n, a in enumerate(anns):
        values = {"shape": cats.get(a["category_id"]), **(a.get("attributes") or {})}
        m = segmentation_to_mask(a["segmentation"], h, w, where=f"{where} ann {a['id']}") > 0
        for k, (name, classes) in enumerate(ATTRIBUTES.items()):
            if values.get(name) not in classes:
                raise DatasetError(f"{where}: annotation {a['id']} has no known {name} "
                                   f"(got {values.get(name)!r}); pretraining needs SynthRef attributes")
            maps[k][m] = classes.index(values[name]) + 1
        maps[-1][m] = n + 1
    return maps


def load_attribute_data(data_root: str | os.PathLike, dataset: str, split_by: str, split: str,
                        image_size: int, limit: int | None = None,
                        progress: Callable[[int, int], None] | None = None) -> AttributeData:
    """Every image of ``split`` (as the refs file assigns them) with its attribute label maps."""
    image_ids = sorted({s.image_id for s in load_dataset(data_root, dataset, split_by, split)})
    if limit is not None:
        image_ids = image_ids[:limit]
    if not image_ids:
        raise DatasetError(f"{data_root}/{dataset}: split '{split}' has no images")
    images, anns, cats = load_instances(Path(data_root) / dataset / "instances.json")
    by_image: dict[int, list[dict]] = {}
    for a in anns.values():
        by_image.setdefault(a["image_id"], []).append(a)
    folder = default_images_dir(data_root, dataset)
    stride = EarlyFusionSwin.strides[0]
    xs = torch.empty(len(image_ids), 3, image_size, image_size, dtype=torch.float16)
    ys = torch.empty(len(image_ids), len(ATTRIBUTES) + 1, image_size // stride, image_size // stride,
                     dtype=torch.uint8)
    for n, iid in enumerate(image_ids):
        info = images[iid]
        path = folder / info["file_name"]
        try:
            rgb = load_image(path)
        except ImageLoadError as e:
            raise DatasetError(str(e)) from None
        xs[n] = preprocess_image(rgb, image_size).half()
        maps = _label_maps(by_image.get(iid, []), cats, info["height"], info["width"], str(path))
        for k in range(len(ATTRIBUTES) + 1):  # nearest neighbour, as the referring masks are resized
            small = Image.fromarray(maps[k]).resize((image_size // stride,) * 2, Image.NEAREST)
            ys[n, k] = torch.from_numpy(np.array(small))
        if progress:
            progress(n + 1, len(image_ids))
    return AttributeData(xs, ys[:, :-1].contiguous(), ys[:, -1].contiguous())


def object_logits(logits: torch.Tensor, instances: torch.Tensor, max_objects: int
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel logits ``[B, C, h, w]`` averaged over each object's pixels: ``[B, K, C]`` and a
    ``[B, K]`` mask of the objects present (K = ``max_objects``)."""
    onehot = F.one_hot(instances.long(), max_objects + 1)[..., 1:].flatten(1, 2).float()  # [B, hw, K]
    area = onehot.sum(1)  # [B, K]
    pooled = torch.einsum("bch,bhk->bkc", logits.flatten(2), onehot) / area.clamp(min=1)[..., None]
    return pooled, area > 0


@dataclass(frozen=True)
class PretrainParams:
    steps: int = 2400
    batch_size: int = 24
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_steps: int = 100
    seed: int = 0
    log_every: int = 50


def pretrain(model: AttributeSegmenter, data: AttributeData, params: PretrainParams,
             log: Callable[[str], None] = print, device: torch.device | str = "cpu") -> dict:
    """Train with AdamW + warmup + cosine decay and random horizontal flips; returns the last
    logged figures (loss, per-attribute object accuracy over the last logging window)."""
    gen = torch.Generator().manual_seed(params.seed)
    torch.manual_seed(params.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=params.lr, weight_decay=params.weight_decay)

    def lr_at(step: int) -> float:
        if step < params.warmup_steps:
            return (step + 1) / params.warmup_steps
        t = (step - params.warmup_steps) / max(1, params.steps - params.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    model.train()
    n = data.images.shape[0]
    window = {"loss": [], **{k: [0, 0] for k in ATTRIBUTES}}
    figures: dict = {}
    start = time.perf_counter()
    for step in range(params.steps):
        idx = torch.randint(n, (params.batch_size,), generator=gen)
        x, y = data.images[idx].to(device).float(), data.labels[idx].to(device).long()
        inst = data.instances[idx].to(device).long()
        flip = (torch.rand(params.batch_size, generator=gen) < 0.5).to(device)
        x[flip], y[flip], inst[flip] = x[flip].flip(-1), y[flip].flip(-1), inst[flip].flip(-1)
        out = model(x)
        k_max = int(inst.max())
        # One pooling for all attributes: logits side by side, then split per attribute.
        obj_all, present = object_logits(torch.cat(list(out.values()), 1), inst, k_max)
        obj_logits = obj_all[present].split([len(v) + 1 for v in ATTRIBUTES.values()], dim=-1)
        # an object's class: its pixels all carry it, so the mean label is the label
        obj_y = object_logits(y.float(), inst, k_max)[0][present].round().long()  # [objects, A]
        loss = x.new_zeros(())
        pooled = {}
        for i, k in enumerate(ATTRIBUTES):
            loss = loss + F.cross_entropy(out[k], y[:, i])  # per pixel, background included
            pooled[k] = (obj_logits[i], obj_y[:, i])
            loss = loss + F.cross_entropy(pooled[k][0], pooled[k][1])  # per object
        if not torch.isfinite(loss):
            raise FloatingPointError(f"pretraining loss is {loss.item()} at step {step}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        window["loss"].append(loss.item())
        with torch.no_grad():
            for k, (logit, label) in pooled.items():
                window[k][0] += int((logit[:, 1:].argmax(1) + 1 == label).sum())
                window[k][1] += len(label)
        if (step + 1) % params.log_every == 0 or step + 1 == params.steps:
            elapsed = time.perf_counter() - start
            figures = {"step": step + 1, "loss": float(np.mean(window["loss"])),
                       **{f"acc_{k}": window[k][0] / max(1, window[k][1]) for k in ATTRIBUTES},
                       "seconds": round(elapsed, 1)}
            eta = elapsed / (step + 1) * (params.steps - step - 1)
            log(f"step {step + 1}/{params.steps} loss {figures['loss']:.3f} "
                + " ".join(f"{k} {100 * figures['acc_' + k]:.1f}%" for k in ATTRIBUTES)
                + f" lr {sched.get_last_lr()[0]:.2e} {(step + 1) * params.batch_size / elapsed:.1f} img/s"
                f" eta {eta / 60:.1f} min")
            window = {"loss": [], **{k: [0, 0] for k in ATTRIBUTES}}
    return figures


def save_swin(path: str | os.PathLike, model: AttributeSegmenter, meta: dict) -> None:
    """The Swin weights alone, timm layout, atomically; provenance in the header."""
    from safetensors.torch import save

    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.backbone.swin.state_dict().items()
             if "relative_position_index" not in k and "attn_mask" not in k}
    metadata = {"format": FORMAT, "backbone": json.dumps(to_dict(model.backbone.cfg)), "meta": json.dumps(meta)}
    atomic_write_bytes(path, save(state, metadata=metadata))
