"""LGFormer (lgformer.md section 3, Fig. 3): linguistic query-guided mask generation.

Text encoder -> Swin with VLBA after every stage (3.2.1; PWAM for the Table 4 baseline) ->
language-guided pixel decoder (multi-scale deformable attention + L2VA, 3.2.2) -> linguistic
prototype generator (V2LA) -> mask = prototype . mask features. Trained with the pixel-text
contrastive loss of Eq. 12-13 on every decoder layer's mask.

Target presence: the paper has no presence output. We report the largest pixel logit of the
final mask (sigmoid of it = the highest foreground probability), i.e. "something is above the
threshold somewhere".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import LGFormerConfig
from .backbone import EarlyFusionSwin
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
        masks = self.prototype_generator(l, attention_mask, multi_scale, mask_features)
        final = masks[-1]  # [B, 1, S/4, S/4]
        return {
            "pred_masks": final,
            "aux_masks": masks[:-1],
            "presence_logits": final.flatten(1).amax(dim=1),
        }

    def loss(self, outputs: dict, masks: torch.Tensor, has_target: torch.Tensor) -> dict:
        """Eq. (12)-(13) on each of the N + 1 masks, summed (deep supervision)."""
        final = outputs["pred_masks"]
        target = F.interpolate(masks[:, None].to(final.dtype), size=final.shape[-2:], mode="nearest")
        parts = [contrastive_bce(m, target, self.cfg.pos_weight) for m in outputs["aux_masks"] + [final]]
        return {"loss": torch.stack(parts).sum(), "bce_final": parts[-1].detach()}
