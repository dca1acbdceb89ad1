"""GMMF (LQMFormer 3.2): identity at init, Gaussian low-pass on the amplitude, gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rismodel.modeling.gmmf import GMMF, GaussianEnhancementBlock


def _inputs(b=2, c=16, h=12, w=10, t=5, cl=24):
    torch.manual_seed(0)
    v = torch.randn(b, c, h, w)
    l = torch.randn(b, t, cl)
    l_mask = torch.ones(b, t, dtype=torch.long)
    l_mask[1, 3:] = 0
    return v, l, l_mask


def test_gmmf_is_identity_at_init_and_keeps_language():
    v, l, l_mask = _inputs()
    for gaussian in (True, False):
        fusion = GMMF(16, 24, 32, num_heads=4, gaussian=gaussian)
        v2, l2 = fusion(v, l, l_mask)
        assert v2.shape == v.shape
        assert torch.equal(v2, v)
        assert l2 is l


def test_gmmf_output_ignores_padded_words():
    v, l, l_mask = _inputs()
    fusion = GMMF(16, 24, 32, num_heads=4)
    nn.init.normal_(fusion.gate[2].weight, std=0.1)  # open the gate so the fusion shows
    nn.init.normal_(fusion.gate[0].weight, std=0.1)
    out, _ = fusion(v, l, l_mask)
    l_changed = l.clone()
    l_changed[1, 3:] = 100.0  # padded words of sample 1
    out2, _ = fusion(v, l_changed, l_mask)
    assert not torch.equal(out, v)
    torch.testing.assert_close(out, out2)


def _energy(x, low: bool):
    """Spectral energy of a [B, C, H, W] map within (low) or outside (high) radius 0.1 cycles/sample."""
    spec = torch.fft.fft2(x, norm="ortho").abs() ** 2
    fy = torch.fft.fftfreq(x.shape[-2])
    fx = torch.fft.fftfreq(x.shape[-1])
    r = (fy[:, None] ** 2 + fx[None, :] ** 2).sqrt()
    sel = r <= 0.1 if low else r >= 0.4
    return spec[..., sel].sum().item()


def test_gaussian_low_pass_attenuates_high_frequencies():
    torch.manual_seed(0)
    h = w = 32
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    checker = ((yy + xx) % 2).float() * 2 - 1  # energy at (0.5, 0.5) cycles/sample
    smooth = torch.cos(2 * torch.pi * xx / w)  # energy at 1/32 cycles/sample
    x = (checker + smooth).expand(1, 4, h, w).contiguous()
    block = GaussianEnhancementBlock(4)
    spec, beta = block.low_pass(x)
    filtered = torch.fft.ifft2(spec, norm="ortho").real
    high_kept = _energy(filtered, low=False) / _energy(x, low=False)
    low_kept = _energy(filtered, low=True) / _energy(x, low=True)
    assert 0 < beta.item() < 0.5
    assert high_kept < 0.05
    assert low_kept > 0.9
    # The full block (identity spectral Conv at init) is residual + low-pass of the input.
    torch.testing.assert_close(block(x), x + filtered, atol=1e-5, rtol=1e-5)


def test_bandwidth_depends_on_input():
    torch.manual_seed(0)
    block = GaussianEnhancementBlock(8)
    beta = block.bandwidth(torch.randn(2, 8, 10, 10) * torch.tensor([1.0, 5.0])[:, None, None, None])
    assert beta.shape == (2,)
    assert (beta > 0).all()
    assert abs(beta[0].item() - beta[1].item()) > 1e-4


def test_gaussian_block_runs_in_float32_under_autocast():
    block = GaussianEnhancementBlock(4)
    x = torch.randn(1, 4, 6, 6, dtype=torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = block(x)
    assert out.dtype == torch.bfloat16
    assert torch.isfinite(out.float()).all()


def test_every_gmmf_parameter_gets_a_gradient():
    v, l, l_mask = _inputs()
    for gaussian in (True, False):
        fusion = GMMF(16, 24, 32, num_heads=4, gaussian=gaussian)
        # At init the zero gate blocks gradients to everything before its last layer (by design);
        # open it as one training step would.
        with torch.no_grad():
            for p in fusion.gate.parameters():
                p.normal_(std=0.1)
        fusion(v, l, l_mask)[0].square().sum().backward()
        for name, p in fusion.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_gmmf_rejects_mismatched_mask():
    v, l, l_mask = _inputs()
    fusion = GMMF(16, 24, 32, num_heads=4)
    with pytest.raises(ValueError, match="language mask"):
        fusion(v, l, l_mask[:, :3])


def test_all_padded_sentence_gives_finite_features():
    v, l, l_mask = _inputs()
    l_mask[0] = 0
    fusion = GMMF(16, 24, 32, num_heads=4)
    nn.init.normal_(fusion.gate[2].weight, std=0.1)
    nn.init.normal_(fusion.gate[0].weight, std=0.1)
    out, _ = fusion(v, l, l_mask)
    assert torch.isfinite(out).all()
    assert not torch.equal(out[0], v[0])
