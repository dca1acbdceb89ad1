"""Multi-scale deformable attention: grid_sample core vs. a hand-written bilinear reference."""

from __future__ import annotations

import math

import pytest
import torch

from rismodel.modeling.msdeform_attn import MSDeformAttn, ms_deform_attn_core

SHAPES = [(3, 5), (2, 3), (4, 1)]


def _bilinear(v: torch.Tensor, x: float, y: float) -> torch.Tensor:
    """Sample v [D, H, W] at normalised (x, y), align_corners=False, zeros outside."""
    d, h, w = v.shape
    px, py = x * w - 0.5, y * h - 0.5  # pixel centres sit at k + 0.5
    x0, y0 = math.floor(px), math.floor(py)
    out = torch.zeros(d, dtype=v.dtype)
    for yi, wy in ((y0, y0 + 1 - py), (y0 + 1, py - y0)):
        for xi, wx in ((x0, x0 + 1 - px), (x0 + 1, px - x0)):
            if 0 <= yi < h and 0 <= xi < w:
                out = out + wy * wx * v[:, yi, xi]
    return out


def _reference(value, shapes, loc, attn):
    n, _, m, d = value.shape
    _, lq, _, _, points, _ = loc.shape
    starts = [0]
    for h, w in shapes:
        starts.append(starts[-1] + h * w)
    out = torch.zeros(n, lq, m, d, dtype=value.dtype)
    for b in range(n):
        for q in range(lq):
            for head in range(m):
                for lvl, (h, w) in enumerate(shapes):
                    vmap = value[b, starts[lvl]:starts[lvl + 1], head].T.reshape(d, h, w)
                    for k in range(points):
                        x, y = loc[b, q, head, lvl, k].tolist()
                        out[b, q, head] += attn[b, q, head, lvl, k] * _bilinear(vmap, x, y)
    return out.reshape(n, lq, m * d)


def _random_inputs(n=2, lq=4, m=2, d=3, points=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    s = sum(h * w for h, w in SHAPES)
    value = torch.randn(n, s, m, d, generator=g, dtype=torch.float64)
    # Include locations outside [0, 1] so zero padding is exercised.
    loc = torch.rand(n, lq, m, len(SHAPES), points, 2, generator=g, dtype=torch.float64) * 1.6 - 0.3
    attn = torch.rand(n, lq, m, len(SHAPES), points, generator=g, dtype=torch.float64)
    attn = attn / attn.sum(dim=(-1, -2), keepdim=True)
    return value, loc, attn


def test_core_matches_bruteforce_bilinear():
    value, loc, attn = _random_inputs()
    assert ((loc < 0) | (loc > 1)).any()
    out = ms_deform_attn_core(value, SHAPES, loc, attn)
    ref = _reference(value, SHAPES, loc, attn)
    assert out.shape == (2, 4, 6)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)
    out32 = ms_deform_attn_core(value.float(), SHAPES, loc.float(), attn.float())
    torch.testing.assert_close(out32, ref.float(), atol=1e-5, rtol=1e-5)


def test_core_samples_exact_pixel_at_its_centre():
    value = torch.arange(6, dtype=torch.float32).view(1, 6, 1, 1)  # one level 2x3, D = 1
    loc = torch.tensor([[(2 + 0.5) / 3, (1 + 0.5) / 2]]).view(1, 1, 1, 1, 1, 2)  # pixel (y=1, x=2)
    out = ms_deform_attn_core(value, [(2, 3)], loc, torch.ones(1, 1, 1, 1, 1))
    assert out.item() == pytest.approx(5.0)
    far = ms_deform_attn_core(value, [(2, 3)], torch.full_like(loc, 3.0), torch.ones(1, 1, 1, 1, 1))
    assert far.item() == 0.0


def test_core_rejects_mismatched_shapes():
    value, loc, attn = _random_inputs()
    with pytest.raises(ValueError, match="cover"):
        ms_deform_attn_core(value, [(3, 5), (2, 3), (4, 2)], loc, attn)
    with pytest.raises(ValueError, match="spatial shapes"):
        ms_deform_attn_core(value, SHAPES[:2], loc, attn)


def _module_inputs(n=2, d_model=16):
    torch.manual_seed(0)
    s = sum(h * w for h, w in SHAPES)
    x = torch.randn(n, s, d_model)
    ref = torch.rand(n, s, len(SHAPES), 2)
    return x, ref


def test_module_init_offsets_ring_and_uniform_weights():
    attn = MSDeformAttn(d_model=16, n_levels=3, n_heads=4, n_points=2)
    bias = attn.sampling_offsets.bias.view(4, 3, 2, 2)
    # Head 0 looks right (+x), head 1 down (+y); point k is k+1 cells out.
    torch.testing.assert_close(bias[0, 0], torch.tensor([[1.0, 0.0], [2.0, 0.0]]))
    torch.testing.assert_close(bias[1, 2], torch.tensor([[0.0, 1.0], [0.0, 2.0]]), atol=1e-6, rtol=0)
    assert torch.count_nonzero(attn.attention_weights.weight) == 0


def test_module_gradients_reach_value_offsets_and_weights():
    x, ref = _module_inputs()
    attn = MSDeformAttn(d_model=16, n_levels=3, n_heads=4, n_points=2)
    value = x.clone().requires_grad_(True)
    out = attn(x, ref, value, SHAPES)
    assert out.shape == x.shape
    out.square().sum().backward()
    assert value.grad is not None and value.grad.abs().sum() > 0
    for p in (attn.sampling_offsets.weight, attn.sampling_offsets.bias, attn.attention_weights.weight,
              attn.value_proj.weight, attn.output_proj.weight):
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_module_padding_mask_hides_values():
    x, ref = _module_inputs()
    attn = MSDeformAttn(d_model=16, n_levels=3, n_heads=4, n_points=2)
    pad = torch.zeros(x.shape[:2], dtype=torch.bool)
    pad[:, -4:] = True  # the whole last level (4x1)
    out = attn(x, ref, x, SHAPES, pad)
    changed = x.clone()
    changed[:, -4:] = 50.0
    assert torch.equal(out, attn(x, ref, changed, SHAPES, pad))
    assert not torch.equal(out, attn(x, ref, changed, SHAPES))


def test_module_under_cpu_autocast_is_close_to_float32():
    x, ref = _module_inputs()
    attn = MSDeformAttn(d_model=16, n_levels=3, n_heads=4, n_points=2)
    full = attn(x, ref, x, SHAPES)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = attn(x, ref, x, SHAPES)
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), full, atol=0.1, rtol=0.05)


def test_module_rejects_wrong_level_count():
    x, ref = _module_inputs()
    attn = MSDeformAttn(d_model=16, n_levels=3, n_heads=4, n_points=2)
    with pytest.raises(ValueError, match="levels"):
        attn(x, ref, x, SHAPES[:2])
    with pytest.raises(ValueError, match="divisible"):
        MSDeformAttn(d_model=10, n_heads=4)
