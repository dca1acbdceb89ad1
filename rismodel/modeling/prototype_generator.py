"""Linguistic prototype generator (LGFormer 3.1 Eq. 4, 3.2.2 "Linguistic Prototype Generator",
"Prediction Head"; Tables 2, 4, 5).

The query is f(L): the masked mean of the word features through a linear layer (the sentence
embedding, "linguistic query"), or, for the Table 2 ablation, ``num_queries`` learnable
embeddings. ``N`` decoder layers update it; layer i attends to the pixel decoder's level i mod 3
(1/32, 1/16, 1/8 in turn, following Mask2Former) through cross-attention (V2LA, Table 4), then
self-attention (only meaningful with several learnable queries) and an FFN. After the initial
query and after every layer, a 3-layer MLP turns the prototype rho into a 1x1 dynamic kernel
applied to the 1/4 mask features (Eq. 1 with one prototype): N + 1 masks for deep supervision.
With several learnable queries their masks are merged per pixel by a 3-layer MLP (Table 2).
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import LGFormerConfig
from .attention import PositionEmbeddingSine
from .heads import MLP, dot_product_masks
from .pixel_decoder import masked_mean


class PrototypeLayer(nn.Module):
    """Cross-attention to one visual level (V2LA), self-attention, FFN; post-norm residuals."""

    def __init__(self, dim: int, heads: int, v2la: bool, self_attn: bool):
        super().__init__()
        self.cross = nn.MultiheadAttention(dim, heads, batch_first=True) if v2la else None
        self.cross_norm = nn.LayerNorm(dim) if v2la else None
        self.self_attn = nn.MultiheadAttention(dim, heads, batch_first=True) if self_attn else None
        self.self_norm = nn.LayerNorm(dim) if self_attn else None
        self.ffn = nn.Sequential(nn.Linear(dim, 4 * dim), nn.ReLU(), nn.Linear(4 * dim, dim))
        self.ffn_norm = nn.LayerNorm(dim)

    def forward(self, q: torch.Tensor, query_pos: torch.Tensor | None, mem: torch.Tensor | None,
                mem_pos: torch.Tensor | None):
        if self.cross is not None:
            q = self.cross_norm(q + self.cross(q + query_pos, mem + mem_pos, mem, need_weights=False)[0])
        if self.self_attn is not None:
            qp = q + query_pos
            q = self.self_norm(q + self.self_attn(qp, qp, q, need_weights=False)[0])
        return self.ffn_norm(q + self.ffn(q))


class LinguisticPrototypeGenerator(nn.Module):
    def __init__(self, cfg: LGFormerConfig, text_dim: int, pixel_dim: int):
        super().__init__()
        d = cfg.decoder_dim
        self.linguistic = cfg.query_type == "linguistic"
        num_q = 1 if self.linguistic else cfg.num_queries
        if self.linguistic:
            self.query_proj = nn.Linear(text_dim, d)  # f(L), Eq. (4)
        else:
            self.query_embed = nn.Embedding(num_q, d)  # q_k, Eq. (3)
        # Positions and the visual memory only exist where something attends (V2LA, or
        # self-attention among several queries); Table 4's "V2LA off" has neither.
        self.v2la = cfg.v2la
        self.query_pos = nn.Embedding(num_q, d) if (cfg.v2la or num_q > 1) else None
        if cfg.v2la:
            self.input_proj = nn.Linear(pixel_dim, d)
            self.level_embed = nn.Embedding(3, d)
            self.pos = PositionEmbeddingSine(d // 2, normalize=True)
        self.layers = nn.ModuleList(
            PrototypeLayer(d, cfg.decoder_heads, cfg.v2la, self_attn=num_q > 1) for _ in range(cfg.decoder_layers)
        )
        self.norm = nn.LayerNorm(d)
        self.head = MLP(d, d, pixel_dim + 1, num_layers=3)  # prototype -> 1x1 kernel + bias
        self.merge = MLP(num_q, max(num_q, 16), 1, num_layers=3) if num_q > 1 else None

    def _masks(self, q: torch.Tensor, mask_features: torch.Tensor) -> torch.Tensor:
        m = dot_product_masks(self.head(self.norm(q)), mask_features)  # [B, Q, H, W]
        if self.merge is not None:  # Table 2: 10 learnable queries merged per pixel
            m = self.merge(m.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return m  # [B, 1, H, W]

    def forward(self, l: torch.Tensor, l_mask: torch.Tensor, multi_scale: list[torch.Tensor],
                mask_features: torch.Tensor, return_query: bool = False):
        """The N + 1 masks ``[B, 1, H, W]``; with ``return_query`` also the final normed queries ``[B, Q, d]``."""
        b = l.shape[0]
        if self.linguistic:
            q = self.query_proj(masked_mean(l, l_mask)).unsqueeze(1)  # [B, 1, d]
        else:
            q = self.query_embed.weight.unsqueeze(0).expand(b, -1, -1)  # [B, Q, d]
        query_pos = None if self.query_pos is None else self.query_pos.weight.unsqueeze(0).expand(b, -1, -1)
        mems, poss = [None] * len(multi_scale), [None] * len(multi_scale)
        if self.v2la:
            for i, x in enumerate(multi_scale):  # 1/32, 1/16, 1/8
                poss[i] = self.pos(x).flatten(2).transpose(1, 2)  # [B, hw, d]
                mems[i] = self.input_proj(x.flatten(2).transpose(1, 2)) + self.level_embed.weight[i]
        masks = [self._masks(q, mask_features)]
        for i, layer in enumerate(self.layers):
            lvl = i % len(multi_scale)
            q = layer(q, query_pos, mems[lvl], poss[lvl])
            masks.append(self._masks(q, mask_features))
        if return_query:
            return masks, self.norm(q)
        return masks
