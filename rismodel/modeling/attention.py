"""Small attention building blocks shared by the decoders (Mask2Former style, post-norm).

- :class:`PositionEmbeddingSine`: the 2-D sine positional encoding of DETR / Mask2Former.
- :class:`CrossAttentionLayer`: queries attend to a memory with a key padding mask, residual and
  LayerNorm after. With ``memory_dim != dim`` it attends from one modality to another; LGFormer's
  language-to-vision attention (L2VA, lgformer.md 3.2.2, Table 4) is this layer with pixels as
  queries and words as keys/values.
- :class:`FFNLayer`: Linear -> ReLU -> Linear, residual and LayerNorm after.

Every layer takes and returns batch-first tensors ``[B, N, C]``.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class PositionEmbeddingSine(nn.Module):
    """2-D sine/cosine positional encoding (DETR, "Attention is all you need" generalised to images).

    ``forward(x [B, C, H, W], mask [B, H, W] bool = None) -> [B, 2 * num_pos_feats, H, W]``: the first
    ``num_pos_feats`` channels encode y, the last encode x. Only the shape (and device) of ``x`` is
    used; ``mask`` marks padded pixels (True = padding), which are left out of the cumulative
    positions. With ``normalize=True`` positions are scaled to ``[0, scale]`` so that the encoding
    does not depend on the map size. The result has ``x``'s floating dtype (computed in float32).
    """

    def __init__(self, num_pos_feats: int = 64, temperature: float = 10000.0, normalize: bool = False,
                 scale: float | None = None):
        super().__init__()
        if scale is not None and not normalize:
            raise ValueError("PositionEmbeddingSine: scale is only used with normalize=True")
        if num_pos_feats % 2:
            raise ValueError(f"PositionEmbeddingSine: num_pos_feats must be even, got {num_pos_feats}")
        self.num_pos_feats = num_pos_feats
        self.temperature = temperature
        self.normalize = normalize
        self.scale = 2 * math.pi if scale is None else scale

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, _, h, w = x.shape
        if mask is None:
            not_mask = torch.ones(b, h, w, device=x.device, dtype=torch.float32)
        else:
            not_mask = (~mask).to(torch.float32)
        y_embed = not_mask.cumsum(1)  # [B, H, W], 1-based row index
        x_embed = not_mask.cumsum(2)
        if self.normalize:
            eps = 1e-6
            y_embed = (y_embed - 0.5) / (y_embed[:, -1:, :] + eps) * self.scale
            x_embed = (x_embed - 0.5) / (x_embed[:, :, -1:] + eps) * self.scale
        dim_t = torch.arange(self.num_pos_feats, device=x.device, dtype=torch.float32)
        dim_t = self.temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / self.num_pos_feats)
        pos_x = x_embed[..., None] / dim_t  # [B, H, W, F]
        pos_y = y_embed[..., None] / dim_t
        pos_x = torch.stack((pos_x[..., 0::2].sin(), pos_x[..., 1::2].cos()), dim=4).flatten(3)
        pos_y = torch.stack((pos_y[..., 0::2].sin(), pos_y[..., 1::2].cos()), dim=4).flatten(3)
        pos = torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)  # [B, 2F, H, W]
        return pos.to(x.dtype) if x.is_floating_point() else pos


class CrossAttentionLayer(nn.Module):
    """Multi-head cross-attention with a post-norm residual: ``norm(q + MHA(q + q_pos, m + m_pos, m))``.

    Args:
        dim: width of the queries (and of the output).
        num_heads: attention heads; ``dim`` must be divisible by it.
        memory_dim: width of the memory (keys/values) if it differs from ``dim``, e.g. word
            features attended by pixels (L2VA).
        dropout: dropout on the attention weights and on the residual branch.

    ``forward(tgt [B, Nq, dim], memory [B, Nk, memory_dim], memory_key_padding_mask [B, Nk] bool
    (True = padding, ignored) = None, pos (memory positions) = None, query_pos = None)
    -> [B, Nq, dim]``. A sample whose keys are all padding gets no update (instead of NaN).
    """

    def __init__(self, dim: int, num_heads: int, memory_dim: int | None = None, dropout: float = 0.0):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"CrossAttentionLayer: dim {dim} is not divisible by num_heads {num_heads}")
        memory_dim = dim if memory_dim is None else memory_dim
        self.memory_dim = memory_dim
        self.attn = nn.MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True,
                                          kdim=memory_dim, vdim=memory_dim)
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim)

    def forward(self, tgt: torch.Tensor, memory: torch.Tensor,
                memory_key_padding_mask: torch.Tensor | None = None,
                pos: torch.Tensor | None = None, query_pos: torch.Tensor | None = None) -> torch.Tensor:
        if memory.shape[-1] != self.memory_dim:
            raise ValueError(f"CrossAttentionLayer: memory has {memory.shape[-1]} channels, "
                             f"expected {self.memory_dim}")
        q = tgt if query_pos is None else tgt + query_pos
        k = memory if pos is None else memory + pos
        empty = None
        if memory_key_padding_mask is not None:
            if memory_key_padding_mask.shape != memory.shape[:2]:
                raise ValueError(f"CrossAttentionLayer: key padding mask shape {tuple(memory_key_padding_mask.shape)} "
                                 f"does not match memory {tuple(memory.shape[:2])}")
            memory_key_padding_mask = memory_key_padding_mask.bool()
            # A row with every key masked would softmax to NaN; let it attend freely, then drop it.
            empty = memory_key_padding_mask.all(dim=1)  # [B]
            memory_key_padding_mask = memory_key_padding_mask & ~empty[:, None]
        tgt2 = self.attn(q, k, memory, key_padding_mask=memory_key_padding_mask, need_weights=False)[0]
        if empty is not None:
            tgt2 = tgt2.masked_fill(empty[:, None, None], 0.0)
        return self.norm(tgt + self.dropout(tgt2))


class FFNLayer(nn.Module):
    """Feed-forward block with a post-norm residual: ``norm(x + W2 dropout(ReLU(W1 x)))``."""

    def __init__(self, dim: int, ffn_dim: int, dropout: float = 0.0):
        super().__init__()
        self.linear1 = nn.Linear(dim, ffn_dim)
        self.linear2 = nn.Linear(ffn_dim, dim)
        self.activation = nn.ReLU(inplace=False)
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.dropout(self.linear2(self.dropout(self.activation(self.linear1(x))))))
