"""Dynamic Query Module (LQMFormer 3.3, 3.3.1, Fig. 4).

- Query bank ``Q_b``: ``N_qb`` learnable queries of width ``C``.
- LQCA (Eq. 1): ``A_bi = softmax(Q_b GELU(F_L W_ik)^T)`` over the real words,
  ``Q'_b = A_bi GELU(F_L W_iv)``: each query becomes a mixture of word features.
- Scoring network (3.3.1): LayerNorm, then four Linear layers with GELU between them, sigmoid ->
  soft-mask ``M_b`` ``[B, N_qb, 1]``; ``Q_final = M_b * Q'_b`` (Eq. 2).

Choices the paper leaves open: the LQCA logits are scaled by ``1/sqrt(C)`` (standard attention;
without it the softmax saturates at C = 256), and the bank is initialised with unit-variance
entries so that the queries start with different word mixtures (a near-zero bank would give every
query the same uniform mixture, i.e. collapsed queries from the first step).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


class DQMOutput(NamedTuple):
    queries: torch.Tensor  # Q_final [B, N_qb, C]
    bank_queries: torch.Tensor  # Q'_b [B, N_qb, C]
    score_logits: torch.Tensor | None  # pre-sigmoid M_b [B, N_qb, 1]; None without scoring network
    scores: torch.Tensor | None  # M_b [B, N_qb, 1]
    word_attention: torch.Tensor  # A_bi [B, N_qb, T]


def scoring_mlp(dim: int) -> nn.Sequential:
    """LayerNorm + four Linear layers with GELU between; returns the logit of M_b."""
    return nn.Sequential(
        nn.LayerNorm(dim),
        nn.Linear(dim, dim), nn.GELU(),
        nn.Linear(dim, dim), nn.GELU(),
        nn.Linear(dim, dim), nn.GELU(),
        nn.Linear(dim, 1),
    )


class DynamicQueryModule(nn.Module):
    def __init__(self, num_queries: int, text_dim: int, dim: int, scoring_network: bool = True):
        super().__init__()
        if num_queries < 1:
            raise ValueError(f"the query bank needs at least one query, got num_queries={num_queries}")
        self.query_bank = nn.Parameter(torch.randn(num_queries, dim))  # Q_b [N_qb, C]
        self.w_ik = nn.Linear(text_dim, dim)
        self.w_iv = nn.Linear(text_dim, dim)
        self.scorer = scoring_mlp(dim) if scoring_network else None
        self.scale = 1.0 / math.sqrt(dim)

    @property
    def num_queries(self) -> int:
        return self.query_bank.shape[0]

    def forward(self, l: torch.Tensor, l_mask: torch.Tensor) -> DQMOutput:
        """``l [B, T, C_l]`` word features, ``l_mask [B, T]`` (1 = real word)."""
        if l_mask.shape != l.shape[:2]:
            raise ValueError(f"language mask shape {tuple(l_mask.shape)} does not match features "
                             f"{tuple(l.shape[:2])}")
        keys = F.gelu(self.w_ik(l))  # GELU(F_L W_ik) [B, T, C]
        values = F.gelu(self.w_iv(l))  # GELU(F_L W_iv) [B, T, C]
        logits = torch.einsum("nc,btc->bnt", self.query_bank.to(keys.dtype), keys) * self.scale
        # Padded words get no attention; a sentence without any real word would leave nothing to
        # attend to, so its row falls back to uniform instead of NaN.
        pad = (l_mask == 0)[:, None, :]  # [B, 1, T]
        logits = logits.masked_fill(pad & ~pad.all(dim=-1, keepdim=True), float("-inf"))
        attn = logits.softmax(dim=-1)  # Eq. (1), A_bi [B, N_qb, T]
        bank = attn @ values  # Q'_b [B, N_qb, C]
        if self.scorer is None:
            return DQMOutput(bank, bank, None, None, attn)
        score_logits = self.scorer(bank)  # [B, N_qb, 1]
        scores = score_logits.sigmoid()  # M_b
        return DQMOutput(scores * bank, bank, score_logits, scores, attn)  # Eq. (2)
