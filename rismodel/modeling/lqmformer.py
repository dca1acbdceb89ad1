"""LQMFormer (lqmformer.md section 3, Fig. 2).

Text encoder -> Swin with a GMMF after every stage (3.2) -> multi-scale deformable pixel decoder
(Mask2Former, no L2VA) -> Dynamic Query Module (3.3) -> masked-attention decoder with L rounds
over 1/32, 1/16, 1/8 (3.1) -> one mask and a presence logit.

Two things the paper leaves open:

- Merging the N_qb query masks into the single referring mask. Each prediction (initial queries
  and every decoder layer) gets per-query weights ``softmax_q(w^T q_q)`` from a linear layer on the
  normed queries; the mask is the weighted mean of the query mask logits,
  ``sum_q softmax_q(w^T q) * m_q``. It is differentiable, can select one query or blend several
  (multi-target expressions), and leaves the queries free to predict different masks (QM-loss).
- The no-object head (Fig. 2 "global pooling + MLP"): mean over the final normed queries, a
  2-layer MLP to (no-object, object) logits; ``presence_logits`` is their difference, which is
  the object log-odds of that 2-way softmax. ``presence="mask"`` (issue 9, a documented deviation)
  replaces it by a score read from the merged mask alone (:class:`~.heads.MaskPresence`): the
  pooled-query head learnt the phrase's prior rather than checking the phrase against the image.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import LQMFormerConfig
from .backbone import EarlyFusionSwin
from .dqm import DynamicQueryModule
from .gmmf import GMMF, NoFusion
from .heads import MLP, MaskPresence
from .lqmformer_losses import lqmformer_loss
from .masked_decoder import MaskedAttentionDecoder
from .pixel_decoder import MSDeformPixelDecoder
from .text_encoder import TextEncoder


class LQMFormer(nn.Module):
    def __init__(self, cfg: LQMFormerConfig):
        super().__init__()
        self.cfg = cfg
        self.text_encoder = TextEncoder(cfg.text)
        c_l = self.text_encoder.hidden_size
        # Table 6: GMMF and VL-Grounding ("cross_attention") fuse inside every stage; Post-CA and
        # S-Post-CA fuse each stage's output for the decoder only; Baseline ("none") does not fuse.
        gaussian = cfg.grounding in ("gmmf", "spectral_post_cross_attention")
        post = cfg.grounding in ("post_cross_attention", "spectral_post_cross_attention")
        if cfg.grounding == "none":
            fusions = [NoFusion() for _ in cfg.backbone.channels]
        else:
            fusions = [GMMF(c, c_l, c, cfg.fusion_heads, gaussian=gaussian) for c in cfg.backbone.channels]
        self.backbone = EarlyFusionSwin(cfg.backbone, cfg.input.image_size, fusions, post=post)
        self.pixel_decoder = MSDeformPixelDecoder(cfg.backbone.channels, cfg.pixel_decoder, c_l)
        d, d_pix = cfg.decoder_dim, cfg.pixel_decoder.dim
        self.dqm = DynamicQueryModule(cfg.num_queries, c_l, d, scoring_network=cfg.scoring_network)
        self.decoder = MaskedAttentionDecoder(cfg.num_queries, d, cfg.decoder_heads, cfg.decoder_ffn_dim,
                                              cfg.decoder_rounds, in_dim=d_pix, mask_dim=d_pix)
        self.merge_logit = nn.Linear(d, 1)  # per-query weight of the merged mask
        if cfg.presence == "mask":
            self.presence_head = MaskPresence()
        else:
            self.presence_head = MLP(d, d, 2, num_layers=2)  # (no-object, object)

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.text_encoder(input_ids, attention_mask)  # [B, T, C_l]

    def image_prefix(self, images: torch.Tensor) -> torch.Tensor:
        size = self.cfg.input.image_size
        if images.dim() != 4 or images.shape[1] != 3 or tuple(images.shape[-2:]) != (size, size):
            raise ValueError(f"images must be [B, 3, {size}, {size}], got {tuple(images.shape)}")
        return self.backbone.prefix(images)

    def merge(self, query_masks: torch.Tensor, queries: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, Q, h, w]`` query masks and ``[B, Q, D]`` normed queries -> ``[B, 1, h, w]`` and weights ``[B, Q]``."""
        weights = self.merge_logit(queries).squeeze(-1).softmax(dim=-1)  # [B, Q]
        return torch.einsum("bq,bqhw->bhw", weights, query_masks).unsqueeze(1), weights

    def forward(self, images=None, input_ids=None, attention_mask=None, *, prefix=None, text_feats=None) -> dict:
        if attention_mask is None:
            raise ValueError("attention_mask is required (it marks the real words)")
        if prefix is None:
            if images is None:
                raise ValueError("pass images or a cached prefix")
            prefix = self.image_prefix(images)
        if text_feats is None:
            if input_ids is None:
                raise ValueError("pass input_ids or cached text_feats")
            text_feats = self.encode_text(input_ids, attention_mask)
        b = text_feats.shape[0]
        if prefix.shape[0] != b:
            if prefix.shape[0] != 1:
                raise ValueError(f"image batch {prefix.shape[0]} does not match text batch {b}")
            prefix = prefix.expand(b, *prefix.shape[1:])  # one cached image, several expressions
        feats, l = self.backbone(prefix, text_feats, attention_mask)
        mask_features, multi_scale = self.pixel_decoder(feats, l, attention_mask)
        dq = self.dqm(l, attention_mask)
        dec = self.decoder(dq.queries, multi_scale, mask_features)
        merged = [self.merge(m, q) for m, q in zip(dec.query_masks, dec.queries)]
        if self.cfg.presence == "mask":
            presence = self.presence_head(merged[-1][0])
        else:
            no_obj, obj = self.presence_head(dec.queries[-1].mean(dim=1)).unbind(-1)  # global pooling
            presence = obj - no_obj
        return {
            "pred_masks": merged[-1][0],  # [B, 1, S/4, S/4]
            "aux_masks": [m for m, _ in merged[:-1]],
            "presence_logits": presence,  # [B]
            "query_masks": dec.query_masks[-1],  # [B, Q, S/4, S/4]
            "merge_weights": merged[-1][1],  # [B, Q]
            "mask_embeddings": dec.mask_embeddings[-1],  # [B, Q, D_pix], QM-loss
            "attn_maps": dec.attn_maps,  # 3L x [B, Q, hw], Eq. (3)
            "attn_sizes": dec.attn_sizes,
            "score_logits": dq.score_logits,  # [B, Q, 1] or None
            "scores": dq.scores,  # M_b
        }

    def loss(self, outputs: dict, masks: torch.Tensor, has_target: torch.Tensor) -> dict:
        return lqmformer_loss(self.cfg, outputs, masks, has_target)
