"""Masked-attention transformer decoder of LQMFormer (3.1, after Mask2Former).

``L`` rounds over the pixel decoder's 1/32, 1/16 and 1/8 maps (``3L`` layers). Each layer is
masked cross-attention -> self-attention -> FFN (post-norm residuals, as in Mask2Former). The
cross-attention of a layer only sees the pixels that the previous prediction of its query marks
as foreground (sigmoid >= 0.5 after resizing to the level); a query whose mask would block every
pixel sees all of them. Prediction heads run on the initial queries and after every layer
(``3L + 1`` predictions): decoder norm -> 3-layer mask-embedding MLP -> einsum with the 1/4 mask
features ``F_1/4``.

Every layer also returns its cross-attention weights averaged over heads, ``[B, Q, h*w]``: the
``A_{l,r}`` of Eq. (3) that train the scoring network.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .attention import PositionEmbeddingSine
from .heads import MLP


class DecoderOutput(NamedTuple):
    query_masks: list[torch.Tensor]  # 3L+1 x [B, Q, H/4, W/4] logits
    queries: list[torch.Tensor]  # 3L+1 x [B, Q, D], after the decoder norm
    mask_embeddings: list[torch.Tensor]  # 3L+1 x [B, Q, D_mask]
    attn_maps: list[torch.Tensor]  # 3L x [B, Q, h*w], cross-attention averaged over heads
    attn_sizes: list[tuple[int, int]]  # 3L x (h, w) of the level each layer attended to


class MaskedDecoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int, ffn_dim: int):
        super().__init__()
        self.cross_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.cross_norm = nn.LayerNorm(dim)
        self.self_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.self_norm = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim), nn.ReLU(), nn.Linear(ffn_dim, dim))
        self.ffn_norm = nn.LayerNorm(dim)

    def forward(self, q: torch.Tensor, query_pos: torch.Tensor, mem: torch.Tensor, mem_pos: torch.Tensor,
                attn_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``attn_mask [B*heads, Q, hw]`` bool, True = blocked. Returns queries and ``[B, Q, hw]`` weights."""
        att, weights = self.cross_attn(q + query_pos, mem + mem_pos, mem, attn_mask=attn_mask,
                                       need_weights=True, average_attn_weights=True)
        q = self.cross_norm(q + att)
        qp = q + query_pos
        q = self.self_norm(q + self.self_attn(qp, qp, q, need_weights=False)[0])
        return self.ffn_norm(q + self.ffn(q)), weights


class MaskedAttentionDecoder(nn.Module):
    def __init__(self, num_queries: int, dim: int, heads: int, ffn_dim: int, rounds: int,
                 in_dim: int, mask_dim: int, num_levels: int = 3):
        super().__init__()
        if dim % heads:
            raise ValueError(f"decoder width {dim} is not divisible by {heads} heads")
        if rounds < 1:
            raise ValueError(f"the decoder needs at least one round, got decoder_rounds={rounds}")
        self.heads = heads
        self.num_levels = num_levels
        self.query_pos = nn.Embedding(num_queries, dim)  # positional part of the queries
        self.level_embed = nn.Embedding(num_levels, dim)
        self.input_proj = nn.Linear(in_dim, dim) if in_dim != dim else nn.Identity()
        self.pos = PositionEmbeddingSine(dim // 2, normalize=True)
        self.layers = nn.ModuleList(MaskedDecoderLayer(dim, heads, ffn_dim) for _ in range(rounds * num_levels))
        self.decoder_norm = nn.LayerNorm(dim)
        self.mask_embed = MLP(dim, dim, mask_dim, num_layers=3)

    def forward_prediction_heads(self, q: torch.Tensor, mask_features: torch.Tensor,
                                 attn_size: tuple[int, int]):
        """Per-query masks ``[B, Q, H/4, W/4]``, normed queries, mask embeddings and the next
        layer's attention mask ``[B*heads, Q, h*w]`` (True = blocked)."""
        normed = self.decoder_norm(q)  # [B, Q, D]
        emb = self.mask_embed(normed)  # [B, Q, D_mask]
        masks = torch.einsum("bqc,bchw->bqhw", emb, mask_features)  # [B, Q, H/4, W/4]
        with torch.no_grad():  # the attention mask is a hard selection; no gradient through it
            small = F.interpolate(masks, size=attn_size, mode="bilinear", align_corners=False)
            blocked = small.flatten(2).sigmoid() < 0.5  # [B, Q, hw]
            blocked[blocked.all(dim=-1)] = False  # a fully blocked query attends everywhere
            blocked = blocked.repeat_interleave(self.heads, dim=0)  # [B*heads, Q, hw]
        return masks, normed, emb, blocked

    def forward(self, queries: torch.Tensor, multi_scale: list[torch.Tensor],
                mask_features: torch.Tensor) -> DecoderOutput:
        """``queries [B, Q, D]`` (DQM's Q_final), ``multi_scale`` 3 maps ``[B, C, h, w]`` (1/32, 1/16,
        1/8), ``mask_features [B, D_mask, H/4, W/4]``."""
        if len(multi_scale) != self.num_levels:
            raise ValueError(f"decoder expects {self.num_levels} feature levels, got {len(multi_scale)}")
        b = queries.shape[0]
        query_pos = self.query_pos.weight.unsqueeze(0).expand(b, -1, -1)  # [B, Q, D]
        mems, poss, sizes = [], [], []
        for i, x in enumerate(multi_scale):
            sizes.append(tuple(x.shape[-2:]))
            poss.append(self.pos(x).flatten(2).transpose(1, 2).to(x.dtype))  # [B, hw, D]
            mems.append(self.input_proj(x.flatten(2).transpose(1, 2)) + self.level_embed.weight[i])
        q = queries
        masks, normed, emb, blocked = self.forward_prediction_heads(q, mask_features, sizes[0])
        out = DecoderOutput([masks], [normed], [emb], [], [])
        for i, layer in enumerate(self.layers):
            lvl = i % self.num_levels
            q, weights = layer(q, query_pos, mems[lvl], poss[lvl], blocked)
            out.attn_maps.append(weights)  # A_{l,r} of Eq. (3), [B, Q, hw]
            out.attn_sizes.append(sizes[lvl])
            masks, normed, emb, blocked = self.forward_prediction_heads(
                q, mask_features, sizes[(i + 1) % self.num_levels])
            out.query_masks.append(masks)
            out.queries.append(normed)
            out.mask_embeddings.append(emb)
        return out
