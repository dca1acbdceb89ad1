"""Multi-scale deformable-attention pixel decoder, language-guided (LGFormer 3.2.2) or not (LQMFormer 3.1).

Mask2Former's MSDeformAttnPixelDecoder: the 1/8, 1/16 and 1/32 backbone maps are projected to
``cfg.dim`` channels (1x1 conv + GroupNorm), flattened together with a sine positional encoding
plus a learned level embedding, and refined by ``cfg.num_layers`` encoder layers. Each layer is

    multi-scale deformable self-attention -> [L2VA] -> FFN        (post-norm residuals)

where L2VA (LGFormer's language-to-vision attention, Table 4) is a cross-attention from every
pixel (query) to the word features (keys/values, padded words masked out). With
``cfg.l2va_input == "sentence"`` the keys/values are the single masked-mean sentence embedding
instead (Table 6). ``cfg.l2va = False`` removes the layer (LQMFormer; Table 4's rows without L2VA).

Mask features at 1/4: LGFormer's text upsamples the 1/8 map bilinearly; the authors' code and
Mask2Former add an FPN step (lateral 1x1 conv of the 1/4 stage map + upsampled 1/8 output,
3x3 conv + GroupNorm + ReLU, then a 1x1 projection). We build the FPN step.

``cfg.coord_channels`` (issue 9, CoordConv): two channels of normalised x and y in [-1, 1] (pixel
centres) are concatenated to the input of that 3x3 conv, so the mask features carry absolute
position (Swin has none, and the sine encoding above only steers the deformable sampling).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..config import PixelDecoderConfig
from .attention import CrossAttentionLayer, FFNLayer, PositionEmbeddingSine
from .msdeform_attn import MSDeformAttn

NUM_LEVELS = 3  # the deformable encoder sees 1/32, 1/16, 1/8


def group_norm(channels: int, groups: int = 32) -> nn.GroupNorm:
    """GroupNorm with 32 groups, or the largest divisor of 32 that divides ``channels``."""
    return nn.GroupNorm(math.gcd(groups, channels), channels)


def masked_mean(l: torch.Tensor, l_mask: torch.Tensor) -> torch.Tensor:
    """Average word features over real tokens: ``[B, T, C] -> [B, C]`` (LGFormer's sentence embedding)."""
    m = l_mask.to(l.dtype).unsqueeze(-1)  # [B, T, 1]
    return (l * m).sum(1) / m.sum(1).clamp(min=1.0)


def reference_points(shapes: Sequence[tuple[int, int]], device: torch.device) -> torch.Tensor:
    """Pixel centres of every level in the [0, 1] frame: ``[1, S, L, 2]`` (x, y); no padding, so the
    same normalised point serves every level."""
    points = []
    for h, w in shapes:
        ys, xs = torch.meshgrid(torch.linspace(0.5, h - 0.5, h, device=device) / h,
                                torch.linspace(0.5, w - 0.5, w, device=device) / w, indexing="ij")
        points.append(torch.stack((xs.reshape(-1), ys.reshape(-1)), -1))  # [H*W, 2]
    ref = torch.cat(points, 0)  # [S, 2]
    return ref[None, :, None, :].expand(1, -1, len(shapes), 2)


def coord_channels(x: torch.Tensor) -> torch.Tensor:
    """Normalised pixel-centre coordinates ``[B, 2, H, W]`` (x, y in [-1, 1]) for a map ``[B, C, H, W]``."""
    b, _, h, w = x.shape
    ys = (torch.arange(h, device=x.device, dtype=x.dtype) + 0.5) / h * 2 - 1
    xs = (torch.arange(w, device=x.device, dtype=x.dtype) + 0.5) / w * 2 - 1
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), 0)  # [2, H, W]: x then y
    return grid.unsqueeze(0).expand(b, -1, -1, -1)


class EncoderLayer(nn.Module):
    """Deformable self-attention -> optional L2VA cross-attention -> FFN, post-norm (Mask2Former)."""

    def __init__(self, cfg: PixelDecoderConfig, text_dim: int):
        super().__init__()
        d = cfg.dim
        self.self_attn = MSDeformAttn(d, NUM_LEVELS, cfg.num_heads, cfg.num_points)
        self.norm1 = nn.LayerNorm(d)
        self.l2va = CrossAttentionLayer(d, cfg.num_heads, memory_dim=text_dim) if cfg.l2va else None
        self.ffn = FFNLayer(d, cfg.ffn_dim)

    def forward(self, src: torch.Tensor, pos: torch.Tensor, ref: torch.Tensor, shapes: list[tuple[int, int]],
                lang: torch.Tensor | None, lang_pad: torch.Tensor | None) -> torch.Tensor:
        src = self.norm1(src + self.self_attn(src + pos, ref, src, shapes))  # [B, S, D]
        if self.l2va is not None:
            src = self.l2va(src, lang, memory_key_padding_mask=lang_pad, query_pos=pos)  # L2VA
        return self.ffn(src)


class MSDeformPixelDecoder(nn.Module):
    """``forward(features (4 maps, strides 4..32), l [B, T, C_l], l_mask [B, T] (1 = word))
    -> (mask_features [B, D, H/4, W/4], [3 maps [B, D, h, w] at 1/32, 1/16, 1/8])``.

    ``l`` and ``l_mask`` may be None when ``cfg.l2va`` is False.
    """

    def __init__(self, in_channels: Sequence[int], cfg: PixelDecoderConfig, text_dim: int):
        super().__init__()
        in_channels = tuple(int(c) for c in in_channels)
        if len(in_channels) != 4:
            raise ValueError(f"MSDeformPixelDecoder: expected 4 input channel counts (strides 4..32), got {in_channels}")
        if cfg.l2va_input not in ("word", "sentence"):
            raise ValueError(f"MSDeformPixelDecoder: l2va_input must be 'word' or 'sentence', got {cfg.l2va_input!r}")
        d = cfg.dim
        self.cfg = cfg
        self.in_channels = in_channels
        self.text_dim = text_dim
        # Coarse to fine, as Mask2Former: index 0 = 1/32, 1 = 1/16, 2 = 1/8.
        self.input_proj = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, d, 1), group_norm(d)) for c in reversed(in_channels[1:])
        )
        self.pe_layer = PositionEmbeddingSine(d // 2, normalize=True)
        self.level_embed = nn.Parameter(torch.empty(NUM_LEVELS, d))
        self.layers = nn.ModuleList(EncoderLayer(cfg, text_dim) for _ in range(cfg.num_layers))
        # FPN step at 1/4.
        self.lateral_conv = nn.Sequential(nn.Conv2d(in_channels[0], d, 1, bias=False), group_norm(d))
        extra = 2 if cfg.coord_channels else 0
        self.output_conv = nn.Sequential(nn.Conv2d(d + extra, d, 3, padding=1, bias=False), group_norm(d), nn.ReLU())
        self.mask_features = nn.Conv2d(d, d, 1)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        for proj in self.input_proj:
            nn.init.xavier_uniform_(proj[0].weight, gain=1)
            nn.init.zeros_(proj[0].bias)
        nn.init.normal_(self.level_embed)
        for conv in (self.lateral_conv[0], self.output_conv[0], self.mask_features):
            nn.init.kaiming_uniform_(conv.weight, a=1)  # detectron2's c2_xavier_fill
            if conv.bias is not None:
                nn.init.zeros_(conv.bias)

    def _check(self, features: Sequence[torch.Tensor], l: torch.Tensor | None, l_mask: torch.Tensor | None) -> None:
        if len(features) != 4:
            raise ValueError(f"MSDeformPixelDecoder: expected 4 feature maps (strides 4..32), got {len(features)}")
        for i, (f, c) in enumerate(zip(features, self.in_channels)):
            if f.dim() != 4 or f.shape[1] != c:
                raise ValueError(f"MSDeformPixelDecoder: feature map {i} must be [B, {c}, H, W], got {tuple(f.shape)}")
        if self.cfg.l2va:
            if l is None or l_mask is None:
                raise ValueError("MSDeformPixelDecoder: L2VA is on, so language features l and l_mask are required")
            if l.dim() != 3 or l.shape[-1] != self.text_dim:
                raise ValueError(f"MSDeformPixelDecoder: l must be [B, T, {self.text_dim}], got {tuple(l.shape)}")
            if l_mask.shape != l.shape[:2]:
                raise ValueError(f"MSDeformPixelDecoder: l_mask {tuple(l_mask.shape)} does not match l {tuple(l.shape[:2])}")

    def _language(self, l: torch.Tensor | None, l_mask: torch.Tensor | None):
        """Keys/values of L2VA and their padding mask (True = ignore)."""
        if not self.cfg.l2va:
            return None, None
        if self.cfg.l2va_input == "sentence":  # Table 6: one sentence embedding, nothing to mask
            return masked_mean(l, l_mask).unsqueeze(1), None  # [B, 1, C_l]
        return l, l_mask == 0  # [B, T, C_l], [B, T]

    def forward(self, features: Sequence[torch.Tensor], l: torch.Tensor | None = None,
                l_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        self._check(features, l, l_mask)
        lang, lang_pad = self._language(l, l_mask)
        srcs, poss, shapes = [], [], []
        for i, x in enumerate(reversed(features[1:])):  # 1/32, 1/16, 1/8
            x = self.input_proj[i](x)  # [B, D, h, w]
            shapes.append((x.shape[2], x.shape[3]))
            pos = self.pe_layer(x).flatten(2).transpose(1, 2)  # [B, hw, D]
            poss.append(pos + self.level_embed[i].to(pos.dtype))
            srcs.append(x.flatten(2).transpose(1, 2))  # [B, hw, D]
        src, pos = torch.cat(srcs, 1), torch.cat(poss, 1)  # [B, S, D]
        ref = reference_points(shapes, src.device)  # [1, S, L, 2]
        for layer in self.layers:
            src = layer(src, pos, ref, shapes, lang, lang_pad)
        b, _, d = src.shape
        outs = [y.transpose(1, 2).reshape(b, d, h, w)
                for y, (h, w) in zip(src.split([h * w for h, w in shapes], 1), shapes)]  # 3 x [B, D, h, w]
        lateral = self.lateral_conv(features[0])  # [B, D, H/4, W/4]
        y = lateral + F.interpolate(outs[-1], size=lateral.shape[-2:], mode="bilinear", align_corners=False)
        if self.cfg.coord_channels:
            y = torch.cat([y, coord_channels(y)], dim=1)  # [B, D + 2, H/4, W/4]
        mask_features = self.mask_features(self.output_conv(y))  # [B, D, H/4, W/4]
        return mask_features, outs
