"""Prediction heads shared by both models.

- :class:`MLP`: the "3-layer MLP with ReLU except for the last layer" of LGFormer 3.2.2 and
  Mask2Former's mask-embedding head.
- :func:`dot_product_masks`: mask = prototype . mask features (LGFormer 3.2.2 "Prediction Head",
  Eq. 1 with one prototype; LQMFormer's einsum between queries and F_1/4).
- :class:`MaskPresence`: target presence read from the predicted mask (issue 9, an extension to
  both papers; docs/architecture.md "presence: mask").
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


class MaskPresence(nn.Module):
    """Target presence from the predicted mask alone (issue 9's ``presence: mask``, both models).

    The pooled-feature heads (LGFormer's extension, LQMFormer's object / no-object MLP) learnt the
    phrase's prior instead of checking it against the image, so this score sees only three
    statistics of the final mask logits: the largest logit, the log of the soft area (the sum of
    probabilities on the 1/4 grid) and the mean probability under the soft mask. It starts as
    the largest logit (the gate's last layer is zero) and learns a calibrated correction.

    The statistics are detached: the score reads the mask, it must not bend it (the mask loss, which
    teaches an empty mask for a no-target expression, stays the mask's only teacher).

    Measured (docs/architecture.md, sixth session): it accepts what the mask finds, and the compact
    masks find an object of the named colour even when the named shape is not it, so it rejects an
    absent colour but accepts "the blue star" next to a blue circle. Not the shipped default.
    """

    def __init__(self, hidden: int = 16):
        super().__init__()
        self.gate = MLP(3, hidden, 1, num_layers=2)
        nn.init.zeros_(self.gate.layers[-1].weight)
        nn.init.zeros_(self.gate.layers[-1].bias)

    @staticmethod
    def statistics(mask_logits: torch.Tensor) -> torch.Tensor:
        """``[B, 1, h, w]`` logits -> ``[B, 3]``: largest logit, log(1 + soft area), mean probability."""
        logits = mask_logits.detach().float().flatten(1)
        p = logits.sigmoid()
        mass = p.sum(1)
        return torch.stack([logits.amax(1), torch.log1p(mass), (p * p).sum(1) / mass.clamp_min(1e-6)], 1)

    def forward(self, mask_logits: torch.Tensor) -> torch.Tensor:
        stats = self.statistics(mask_logits)
        return (stats[:, 0] + self.gate(stats).squeeze(-1)).to(mask_logits.dtype)  # [B] logits
