"""LGFormer (lgformer.md section 3, Fig. 3): linguistic query-guided mask generation.

Text encoder -> Swin with VLBA after every stage (3.2.1; PWAM for the Table 4 baseline) ->
language-guided pixel decoder (multi-scale deformable attention + L2VA, 3.2.2) -> linguistic
prototype generator (V2LA) -> mask = prototype . mask features. Trained with the pixel-text
contrastive loss of Eq. 12-13 on every decoder layer's mask.

Target presence: the paper has no presence output. ``presence="max_logit"`` (the shipped model)
reports the largest pixel logit of the final mask (sigmoid of it = the highest foreground
probability), i.e. "something is above the threshold somewhere". ``presence="head"`` (an extension,
issue 9) adds a 2-layer MLP on the final prototype and the mask features pooled under the final
mask, trained with BCE against ``has_target`` on no-target expressions. ``presence="mask"`` (issue 9,
sixth round) reads the presence from the final mask alone (:class:`~.heads.MaskPresence`).

Loss target (issue 9): ``loss_target="nearest"`` (the shipped model) shrinks the ground truth to
1/4 by nearest neighbour, i.e. the top-left pixel of each 4x4 block, a target shifted by 1.5
pixels; "area" uses the area-averaged soft target; "upsample" computes the loss on the logits
bilinearly upsampled to the ground truth's size (the authors' code does it at 480).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import LGFormerConfig
from .backbone import EarlyFusionSwin
from .heads import MLP, MaskPresence
from .lqmformer_losses import dice_loss
from .pixel_decoder import MSDeformPixelDecoder
from .prototype_generator import LinguisticPrototypeGenerator
from .pwam import PWAM
from .text_encoder import TextEncoder
from .vlba import VLBA


def contrastive_bce(logits: torch.Tensor, target: torch.Tensor, pos_weight: float) -> torch.Tensor:
    """Eq. (12)-(13): -log sigma(L_o . V_o^i) on target pixels, -log(1 - sigma) elsewhere, averaged
    over the N_o pixels; positives weighted by ``pos_weight`` (authors' code)."""
    pw = torch.tensor(pos_weight, dtype=logits.dtype, device=logits.device)
    return F.binary_cross_entropy_with_logits(logits, target, pos_weight=pw)


class LGFormer(nn.Module):
    def __init__(self, cfg: LGFormerConfig):
        super().__init__()
        self.cfg = cfg
        self.text_encoder = TextEncoder(cfg.text)
        c_l = cfg.text.hidden_size
        fusion_cls = {"vlba": VLBA, "pwam": PWAM}[cfg.fusion]
        fusions = [fusion_cls(c, c_l) for c in cfg.backbone.channels]
        self.backbone = EarlyFusionSwin(cfg.backbone, cfg.input.image_size, fusions)
        self.pixel_decoder = MSDeformPixelDecoder(cfg.backbone.channels, cfg.pixel_decoder, c_l)
        self.prototype_generator = LinguisticPrototypeGenerator(cfg, c_l, cfg.pixel_decoder.dim)
        if cfg.presence == "head":
            self.presence_head = MLP(cfg.decoder_dim + cfg.pixel_decoder.dim, cfg.decoder_dim, 1, num_layers=2)
        elif cfg.presence == "mask":
            self.presence_head = MaskPresence()

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.text_encoder(input_ids, attention_mask)

    def image_prefix(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone.prefix(images)

    def forward(self, images=None, input_ids=None, attention_mask=None, *, prefix=None, text_feats=None):
        if attention_mask is None:
            raise ValueError("attention_mask is required")
        if prefix is None:
            prefix = self.image_prefix(images)
        if text_feats is None:
            text_feats = self.encode_text(input_ids, attention_mask)
        feats, l = self.backbone(prefix, text_feats, attention_mask)
        mask_features, multi_scale = self.pixel_decoder(feats, l, attention_mask)
        masks, q = self.prototype_generator(l, attention_mask, multi_scale, mask_features, return_query=True)
        final = masks[-1]  # [B, 1, S/4, S/4]
        if self.cfg.presence == "head":
            w = final.sigmoid().flatten(2)  # [B, 1, hw]: where the model sees the target
            pooled = (mask_features.flatten(2) * w).sum(-1) / w.sum(-1).clamp_min(1e-6)  # [B, D_pix]
            presence = self.presence_head(torch.cat([q.mean(1), pooled], -1)).squeeze(-1)
        elif self.cfg.presence == "mask":
            presence = self.presence_head(final)
        else:
            presence = final.flatten(1).amax(dim=1)
        return {"pred_masks": final, "aux_masks": masks[:-1], "presence_logits": presence}

    def loss(self, outputs: dict, masks: torch.Tensor, has_target: torch.Tensor) -> dict:
        return lgformer_loss(self.cfg, outputs, masks, has_target)


def loss_target(cfg: LGFormerConfig, masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The ground truth ``[B, S, S]`` as the loss sees it at the logits' ``size`` (see the docstring)."""
    gt = masks[:, None].float()
    if cfg.loss_target == "upsample":
        return gt
    return F.interpolate(gt, size=size, mode="nearest" if cfg.loss_target == "nearest" else "area")


def lgformer_loss(cfg: LGFormerConfig, outputs: dict, masks: torch.Tensor, has_target: torch.Tensor) -> dict:
    """Eq. (12)-(13) on each of the N + 1 masks, summed (deep supervision); optional Dice and presence terms."""
    final = outputs["pred_masks"]
    target = loss_target(cfg, masks, final.shape[-2:])
    parts, dice = [], 0.0
    for m in outputs["aux_masks"] + [final]:
        m = m.float()
        if cfg.loss_target == "upsample":
            m = F.interpolate(m, size=target.shape[-2:], mode="bilinear", align_corners=False)
        parts.append(contrastive_bce(m, target, cfg.pos_weight))
        if cfg.dice_weight > 0:
            dice = dice + dice_loss(m, target, has_target)
    total = torch.stack(parts).sum()
    out = {"bce_final": parts[-1].detach()}
    if cfg.dice_weight > 0:
        total = total + cfg.dice_weight * dice
        out["loss_dice"] = dice.detach()
    if cfg.presence in ("head", "mask"):
        p = F.binary_cross_entropy_with_logits(outputs["presence_logits"].float(), has_target.float())
        total = total + cfg.presence_weight * p
        out["loss_presence"] = p.detach()
    out["loss"] = total
    return out
