"""Pixel-Word Attention Module of LAVT: the baseline fusion of LGFormer Table 4 (first row).

mm = GELU(P2(GELU(P1(x)) * SIA(x, words))); x' = x + gate(mm) * mm, where SIA is single-head
cross-attention from pixels (instance-normalised query) to masked words. Language is not updated.
The gate's last layer starts at zero, like VLBA's.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .vlba import zero_gate


class PWAM(nn.Module):
    def __init__(self, vis_dim: int, text_dim: int):
        super().__init__()
        c = vis_dim
        self.q = nn.Linear(vis_dim, c)
        self.q_norm = nn.InstanceNorm1d(c, affine=True)
        self.k = nn.Linear(text_dim, c)
        self.v = nn.Linear(text_dim, c)
        self.out = nn.Linear(c, c)
        self.out_norm = nn.InstanceNorm1d(c, affine=True)
        self.p1 = nn.Linear(vis_dim, c)
        self.p2 = nn.Linear(c, vis_dim)
        self.gate = zero_gate(vis_dim)
        self.scale = 1.0 / math.sqrt(c)

    def forward(self, v: torch.Tensor, l: torch.Tensor, l_mask: torch.Tensor, return_fused: bool = False):
        b, c, h, w = v.shape
        vt = v.flatten(2).transpose(1, 2)  # [B, HW, C]
        m = l_mask.to(v.dtype).unsqueeze(-1)
        q = self.q_norm(self.q(vt).transpose(1, 2)).transpose(1, 2)
        logits = torch.einsum("bnc,btc->bnt", q, self.k(l) * m) * self.scale
        logits = logits.masked_fill(l_mask[:, None, :] == 0, -1e4)
        sia = self.out(torch.softmax(logits, dim=-1) @ (self.v(l) * m))
        sia = self.out_norm(sia.transpose(1, 2)).transpose(1, 2)
        mm = nn.functional.gelu(self.p2(nn.functional.gelu(self.p1(vt)) * sia))
        vt = vt + self.gate(mm) * mm
        out = vt.transpose(1, 2).reshape(b, c, h, w)
        if return_fused:  # LAVT hands its decoder this residual (x_residual), normed
            return out, l, mm.transpose(1, 2).reshape(b, c, h, w)
        return out, l
