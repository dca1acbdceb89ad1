"""Vision-Language Bidirectional Attention (LGFormer 3.2.1, Fig. 4, Eq. 5-11).

One attention logit matrix A is read both ways: softmax over words gives word-attended visual
features (Eq. 6), softmax over pixels of A^T gives pixel-attended word features (Eq. 7). Each
branch concatenates its input with its response and fuses them with a two-layer MLP (Eq. 8-9),
then adds the result through a gate that starts at zero (Eq. 10-11), so a pretrained backbone is
undisturbed at the start of training.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def zero_gate(dim: int) -> nn.Sequential:
    """gate(.): Linear, ReLU, Linear, Tanh with both weights zero-initialised (authors' code)."""
    gate = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim), nn.Tanh())
    nn.init.zeros_(gate[0].weight)
    nn.init.zeros_(gate[2].weight)
    nn.init.zeros_(gate[2].bias)
    return gate


def fuse_mlp(in_dim: int, dim: int) -> nn.Sequential:
    """fuse(.): two layers with GELU (a 1x1 conv on a map equals a Linear on its tokens)."""
    return nn.Sequential(nn.Linear(in_dim, dim), nn.GELU(), nn.Linear(dim, dim), nn.GELU())


class VLBA(nn.Module):
    def __init__(self, vis_dim: int, text_dim: int):
        super().__init__()
        c = vis_dim
        self.v_query = nn.Linear(vis_dim, c)
        self.v_query_norm = nn.InstanceNorm1d(c, affine=True)
        self.v_value = nn.Linear(vis_dim, c)
        self.l_key = nn.Linear(text_dim, c)
        self.l_value = nn.Linear(text_dim, c)
        self.w1 = nn.Linear(c, vis_dim)  # Eq. (6)
        self.w2 = nn.Linear(c, text_dim)  # Eq. (7), back to the text width
        self.fuse_v = fuse_mlp(2 * vis_dim, vis_dim)
        self.fuse_l = fuse_mlp(2 * text_dim, text_dim)
        self.gate_v = zero_gate(vis_dim)
        self.gate_l = zero_gate(text_dim)
        self.scale = 1.0 / math.sqrt(c)

    def forward(self, v: torch.Tensor, l: torch.Tensor, l_mask: torch.Tensor, return_fused: bool = False):
        b, c, h, w = v.shape
        vt = v.flatten(2).transpose(1, 2)  # [B, HW, C]
        m = l_mask.to(v.dtype).unsqueeze(-1)  # [B, T, 1]
        vq = self.v_query_norm(self.v_query(vt).transpose(1, 2)).transpose(1, 2)  # [B, HW, C]
        lk = self.l_key(l) * m  # [B, T, C]
        lv = self.l_value(l) * m
        vv = self.v_value(vt)
        logits = torch.einsum("bnc,btc->bnt", vq, lk) * self.scale  # Eq. (5), [B, HW, T]
        logits = logits.masked_fill(l_mask[:, None, :] == 0, -1e4)
        v_r = self.w1(torch.softmax(logits, dim=-1) @ lv)  # Eq. (6), [B, HW, C_v]
        l_r = self.w2(torch.softmax(logits.transpose(1, 2), dim=-1) @ vv)  # Eq. (7), [B, T, C_l]
        v_m = self.fuse_v(torch.cat([vt, v_r], dim=-1))  # Eq. (8)
        l_m = self.fuse_l(torch.cat([l, l_r], dim=-1))  # Eq. (9)
        vt = vt + v_m * self.gate_v(v_m)  # Eq. (10)
        l = l + l_m * self.gate_l(l_m) * m  # Eq. (11); padded words stay untouched
        out = vt.transpose(1, 2).reshape(b, c, h, w)
        if return_fused:  # V_m, the fused residual the authors' decoder sees
            return out, l, v_m.transpose(1, 2).reshape(b, c, h, w)
        return out, l
