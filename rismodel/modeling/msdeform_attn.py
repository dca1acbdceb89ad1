"""Multi-scale deformable attention (Deformable DETR, Zhu et al. 2020, Eq. 3), pure PyTorch.

Used by the pixel decoder of both papers (LGFormer 3.2.2 ref. [45]; LQMFormer 3.1 after
Mask2Former). Each query attends to ``n_points`` sampled locations per head and per level around a
reference point; sample values come from bilinear interpolation of the level's value map, and are
weighted by a softmax over all ``n_levels * n_points`` samples of the head:

    MSDeformAttn(z_q, p_q, {x_l}) = W_o sum_m [ sum_l sum_k A_mlqk * W_v x_l(phi_l(p_q) + dp_mlqk) ]

:func:`ms_deform_attn_core` is Mask2Former's pure-PyTorch path (``F.grid_sample``, bilinear, zero
padding, ``align_corners=False``, grid ``2 * loc - 1``); no custom CUDA op is needed, so the same
code runs on CPU and CUDA, in float32 and under autocast.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

SpatialShapes = Sequence[tuple[int, int]]


def ms_deform_attn_core(value: torch.Tensor, spatial_shapes: SpatialShapes | torch.Tensor,
                        sampling_locations: torch.Tensor, attention_weights: torch.Tensor) -> torch.Tensor:
    """Sample and weight multi-scale values; the inner sum of Deformable DETR Eq. (3).

    Args:
        value: ``[N, S, M, D]``, the value maps of all levels flattened and concatenated
            (``S = sum_l H_l * W_l``, row-major), ``M`` heads of width ``D``.
        spatial_shapes: ``(H_l, W_l)`` per level, ``L`` levels, in the order of ``value``.
        sampling_locations: ``[N, Lq, M, L, P, 2]``, ``(x, y)`` normalised so that ``0`` / ``1`` are
            the outer edges of the map; samples outside read zeros.
        attention_weights: ``[N, Lq, M, L, P]``, normalised over ``L * P`` by the caller.

    Returns:
        ``[N, Lq, M * D]`` (heads concatenated), in ``value``'s dtype.
    """
    n, s, m, d = value.shape
    _, lq, _, num_levels, p, _ = sampling_locations.shape
    shapes = [(int(h), int(w)) for h, w in spatial_shapes]
    if len(shapes) != num_levels:
        raise ValueError(f"ms_deform_attn_core: {len(shapes)} spatial shapes for {num_levels} sampling levels")
    if sum(h * w for h, w in shapes) != s:
        raise ValueError(f"ms_deform_attn_core: spatial shapes {shapes} cover {sum(h * w for h, w in shapes)} "
                         f"positions but value has {s}")
    # grid_sample needs one dtype; under autocast the value may be half while locations are float32.
    dtype = torch.promote_types(torch.promote_types(value.dtype, sampling_locations.dtype), attention_weights.dtype)
    value_list = value.to(dtype).split([h * w for h, w in shapes], dim=1)
    sampling_grids = 2 * sampling_locations.to(dtype) - 1  # [0, 1] -> [-1, 1]
    sampled = []
    for lvl, (h, w) in enumerate(shapes):
        value_l = value_list[lvl].flatten(2).transpose(1, 2).reshape(n * m, d, h, w)  # [N*M, D, H, W]
        grid_l = sampling_grids[:, :, :, lvl].transpose(1, 2).flatten(0, 1)  # [N*M, Lq, P, 2]
        sampled.append(F.grid_sample(value_l, grid_l, mode="bilinear", padding_mode="zeros",
                                     align_corners=False))  # [N*M, D, Lq, P]
    weights = attention_weights.to(dtype).transpose(1, 2).reshape(n * m, 1, lq, num_levels * p)
    out = (torch.stack(sampled, dim=-2).flatten(-2) * weights).sum(-1)  # [N*M, D, Lq]
    return out.view(n, m * d, lq).transpose(1, 2).contiguous().to(value.dtype)  # [N, Lq, M*D]


class MSDeformAttn(nn.Module):
    """Multi-scale deformable attention module (Deformable DETR Eq. 3, Mask2Former's layout).

    ``forward(query [N, Lq, C], reference_points [N or 1, Lq, L, 2] in [0, 1], input_flatten [N, S, C],
    spatial_shapes ((H_l, W_l) per level), input_padding_mask [N, S] bool = None) -> [N, Lq, C]``.
    """

    def __init__(self, d_model: int = 256, n_levels: int = 4, n_heads: int = 8, n_points: int = 4):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"MSDeformAttn: d_model {d_model} is not divisible by n_heads {n_heads}")
        self.d_model, self.n_levels, self.n_heads, self.n_points = d_model, n_levels, n_heads, n_points
        self.sampling_offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)
        self.attention_weights = nn.Linear(d_model, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(d_model, d_model)
        self.output_proj = nn.Linear(d_model, d_model)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Deformable DETR init: offsets start on a ring of directions, one per head, the k-th point
        k cells out; uniform attention weights."""
        nn.init.zeros_(self.sampling_offsets.weight)
        thetas = torch.arange(self.n_heads, dtype=torch.float32) * (2.0 * math.pi / self.n_heads)
        grid = torch.stack([thetas.cos(), thetas.sin()], -1)  # [M, 2]
        grid = grid / grid.abs().max(-1, keepdim=True)[0]
        grid = grid.view(self.n_heads, 1, 1, 2).repeat(1, self.n_levels, self.n_points, 1)  # [M, L, P, 2]
        grid = grid * torch.arange(1, self.n_points + 1, dtype=torch.float32).view(1, 1, -1, 1)
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(grid.flatten())
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        nn.init.xavier_uniform_(self.value_proj.weight)
        nn.init.zeros_(self.value_proj.bias)
        nn.init.xavier_uniform_(self.output_proj.weight)
        nn.init.zeros_(self.output_proj.bias)

    def forward(self, query: torch.Tensor, reference_points: torch.Tensor, input_flatten: torch.Tensor,
                spatial_shapes: SpatialShapes, input_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        n, lq, _ = query.shape
        _, s, _ = input_flatten.shape
        shapes = [(int(h), int(w)) for h, w in spatial_shapes]
        if len(shapes) != self.n_levels:
            raise ValueError(f"MSDeformAttn: built for {self.n_levels} levels, got {len(shapes)} spatial shapes")
        if reference_points.shape[-1] != 2 or reference_points.shape[-2] != self.n_levels:
            raise ValueError(f"MSDeformAttn: reference_points must be [N, Lq, {self.n_levels}, 2], "
                             f"got {tuple(reference_points.shape)}")
        m, lvls, p = self.n_heads, self.n_levels, self.n_points
        value = self.value_proj(input_flatten)  # [N, S, C]
        if input_padding_mask is not None:
            value = value.masked_fill(input_padding_mask[..., None], 0.0)
        value = value.view(n, s, m, self.d_model // m)  # [N, S, M, D]
        offsets = self.sampling_offsets(query).view(n, lq, m, lvls, p, 2)
        weights = self.attention_weights(query).view(n, lq, m, lvls * p)
        weights = F.softmax(weights, -1).view(n, lq, m, lvls, p)  # A_mlqk, sums to 1 over (l, k)
        # Offsets are in cells of each level; normalise by (W_l, H_l) to the [0, 1] frame.
        normalizer = torch.tensor([[w, h] for h, w in shapes], device=query.device, dtype=torch.float32)
        loc = reference_points[:, :, None, :, None, :] + offsets / normalizer[None, None, None, :, None, :]
        out = ms_deform_attn_core(value, shapes, loc, weights)  # Eq. (3) inner sums, [N, Lq, C]
        return self.output_proj(out)
