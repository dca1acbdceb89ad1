"""Prediction heads shared by both models.

- :class:`MLP`: the "3-layer MLP with ReLU except for the last layer" of LGFormer 3.2.2 and
  Mask2Former's mask-embedding head.
- :func:`dot_product_masks`: mask = prototype . mask features (LGFormer 3.2.2 "Prediction Head",
  Eq. 1 with one prototype; LQMFormer's einsum between queries and F_1/4).
"""

from __future__ import annotations

import itertools

import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, num_layers: int = 3):
        super().__init__()
        dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(dims))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return x


def dot_product_masks(kernels: torch.Tensor, mask_features: torch.Tensor) -> torch.Tensor:
    """``kernels [B, Q, D+1]`` (weights and bias) . ``mask_features [B, D, H, W]`` -> ``[B, Q, H, W]``."""
    weight, bias = kernels[..., :-1], kernels[..., -1]
    return torch.einsum("bqd,bdhw->bqhw", weight, mask_features) + bias[..., None, None]
