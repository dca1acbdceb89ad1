"""Pixel decoder (Mask2Former MSDeformAttnPixelDecoder + LGFormer L2VA): shapes, gradients, masks."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from rismodel.config import PixelDecoderConfig
from rismodel.modeling.attention import CrossAttentionLayer, PositionEmbeddingSine
from rismodel.modeling.pixel_decoder import MSDeformPixelDecoder
from rismodel.registry import get_config

COMPACT = get_config("lgformer-compact")
COMPACT_CH = COMPACT.backbone.channels  # (32, 64, 128, 256)
TEXT_DIM = 24


def _features(channels, h, w, b=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    sizes = [(h, w)]
    for _ in range(3):  # ceil-halving like a padded patch merge
        sizes.append(((sizes[-1][0] + 1) // 2, (sizes[-1][1] + 1) // 2))
    return [torch.randn(b, c, hh, ww, generator=g) for c, (hh, ww) in zip(channels, sizes)]


def _language(b=2, t=6, c=TEXT_DIM):
    g = torch.Generator().manual_seed(1)
    l = torch.randn(b, t, c, generator=g)
    l_mask = torch.ones(b, t, dtype=torch.long)
    l_mask[-1, 3:] = 0  # the last sample has 3 padded words
    return l, l_mask


def test_compact_shapes_at_224():
    assert COMPACT_CH == (32, 64, 128, 256)
    for name in ("lgformer-compact", "lqmformer-compact"):
        cfg = get_config(name)
        dec = MSDeformPixelDecoder(cfg.backbone.channels, cfg.pixel_decoder, TEXT_DIM)
        feats = _features(cfg.backbone.channels, 56, 56)
        mask_features, multi = dec(feats, *_language())
        assert mask_features.shape == (2, 64, 56, 56)
        assert [tuple(m.shape) for m in multi] == [(2, 64, 7, 7), (2, 64, 14, 14), (2, 64, 28, 28)]
        assert torch.isfinite(mask_features).all()


def test_paper_sized_shapes():
    cfg = PixelDecoderConfig()  # dim 256, 6 layers, 8 heads, FFN 1024
    dec = MSDeformPixelDecoder((128, 256, 512, 1024), cfg, 768)
    feats = _features((128, 256, 512, 1024), 24, 24, b=1)  # a 96x96 input
    l, l_mask = _language(b=1, c=768)
    with torch.no_grad():
        mask_features, multi = dec(feats, l, l_mask)
    assert mask_features.shape == (1, 256, 24, 24)
    assert [tuple(m.shape[2:]) for m in multi] == [(3, 3), (6, 6), (12, 12)]


@pytest.mark.parametrize("l2va,l2va_input", [(True, "word"), (True, "sentence"), (False, "word")])
def test_every_parameter_gets_a_gradient(l2va, l2va_input):
    cfg = PixelDecoderConfig(dim=32, ffn_dim=64, num_layers=2, num_heads=4, num_points=2,
                             l2va=l2va, l2va_input=l2va_input)
    dec = MSDeformPixelDecoder((16, 32, 64, 128), cfg, TEXT_DIM)
    # Deformable DETR zero-initialises the offset and weight projections, so at step 0 the
    # positions (level_embed) reach the loss only through L2VA; emulate a model one step in.
    for name, p in dec.named_parameters():
        if name.endswith(("sampling_offsets.weight", "attention_weights.weight")):
            assert torch.count_nonzero(p) == 0, name
            torch.nn.init.normal_(p, std=0.01)
    feats = _features((16, 32, 64, 128), 20, 28)
    l, l_mask = _language()
    l.requires_grad_(True)
    mask_features, multi = dec(feats, l, l_mask)
    (mask_features.square().mean() + sum(m.square().mean() for m in multi)).backward()
    assert (l.grad is not None and l.grad.abs().sum() > 0) == l2va
    has_l2va = any(isinstance(m, CrossAttentionLayer) for m in dec.modules())
    assert has_l2va == l2va
    for name, p in dec.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        dead = l2va_input == "sentence" and ".l2va.attn." in name and name.endswith(("q_proj_weight", "k_proj_weight"))
        if dead:
            # One key: the softmax is constant 1, so queries and keys cannot matter (Table 6
            # setting); only rounding noise reaches them.
            v_grad = dec.get_parameter(name.replace(name.rsplit(".", 1)[1], "v_proj_weight")).grad
            assert p.grad.abs().max() < 1e-4 * v_grad.abs().max(), name
        else:
            assert p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("l2va_input", ["word", "sentence"])
def test_padding_tokens_do_not_change_the_output(l2va_input):
    cfg = PixelDecoderConfig(dim=32, ffn_dim=64, num_layers=2, num_heads=4, num_points=2, l2va_input=l2va_input)
    dec = MSDeformPixelDecoder((16, 32, 64, 128), cfg, TEXT_DIM).eval()
    feats = _features((16, 32, 64, 128), 16, 16)
    l, l_mask = _language()
    with torch.no_grad():
        out, multi = dec(feats, l, l_mask)
        l2 = l.clone()
        l2[1, 3:] = 100.0  # padded words of sample 1
        out2, multi2 = dec(feats, l2, l_mask)
        assert torch.equal(out, out2)
        assert all(torch.equal(a, b) for a, b in zip(multi, multi2))
        l3 = l.clone()
        l3[1, 0] += 5.0  # a real word: the output must move
        out3, _ = dec(feats, l3, l_mask)
    assert torch.equal(out3[0], out[0])  # samples are independent
    assert not torch.allclose(out3[1], out[1])


def test_without_l2va_language_is_ignored_and_optional():
    cfg = dataclasses.replace(COMPACT.pixel_decoder, l2va=False, num_layers=1)
    dec = MSDeformPixelDecoder(COMPACT_CH, cfg, TEXT_DIM).eval()
    feats = _features(COMPACT_CH, 12, 12)
    l, l_mask = _language()
    with torch.no_grad():
        a, _ = dec(feats, l, l_mask)
        b, _ = dec(feats, None, None)
    assert torch.equal(a, b)


def test_odd_non_square_sizes():
    cfg = dataclasses.replace(COMPACT.pixel_decoder, num_layers=1)
    dec = MSDeformPixelDecoder(COMPACT_CH, cfg, TEXT_DIM)
    feats = _features(COMPACT_CH, 53, 27, b=1)  # 1/8: 27x14, 1/16: 14x7, 1/32: 7x4
    l, l_mask = _language(b=1)
    mask_features, multi = dec(feats, l, l_mask)
    assert mask_features.shape == (1, 64, 53, 27)
    assert [tuple(m.shape[2:]) for m in multi] == [(7, 4), (14, 7), (27, 14)]
    assert torch.isfinite(mask_features).all()


def test_bad_inputs_name_the_problem():
    dec = MSDeformPixelDecoder(COMPACT_CH, COMPACT.pixel_decoder, TEXT_DIM)
    feats = _features(COMPACT_CH, 8, 8)
    l, l_mask = _language()
    with pytest.raises(ValueError, match="4 feature maps"):
        dec(feats[:3], l, l_mask)
    with pytest.raises(ValueError, match="feature map 2"):
        dec(feats[:2] + [feats[3], feats[3]], l, l_mask)
    with pytest.raises(ValueError, match="required"):
        dec(feats, None, None)
    with pytest.raises(ValueError, match="l must be"):
        dec(feats, torch.randn(2, 6, 7), l_mask)
    with pytest.raises(ValueError, match="4 input channel"):
        MSDeformPixelDecoder((32, 64, 128), COMPACT.pixel_decoder, TEXT_DIM)


def test_sine_position_encoding_matches_formula():
    pe = PositionEmbeddingSine(4, normalize=True)
    pos = pe(torch.zeros(1, 3, 2, 5))
    assert pos.shape == (1, 8, 2, 5)
    y = (torch.tensor([1.0, 2.0]) - 0.5) / 2 * 2 * torch.pi  # normalised row positions
    x = (torch.arange(1.0, 6.0) - 0.5) / 5 * 2 * torch.pi
    torch.testing.assert_close(pos[0, 0, :, 0], torch.sin(y), atol=1e-5, rtol=0)  # y, first freq
    torch.testing.assert_close(pos[0, 5, 0, :], torch.cos(x), atol=1e-5, rtol=0)  # x, first freq cos
    torch.testing.assert_close(pos[0, 6, 0, :], torch.sin(x / 100.0), atol=1e-5, rtol=0)  # x, second freq


def test_cross_attention_with_all_keys_padded_gives_no_update():
    layer = CrossAttentionLayer(8, 2, memory_dim=5)
    tgt = torch.randn(2, 3, 8)
    mem = torch.randn(2, 4, 5)
    pad = torch.tensor([[True] * 4, [False, False, True, True]])
    out = layer(tgt, mem, memory_key_padding_mask=pad)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[0], layer.norm(tgt[0]))
    assert not torch.allclose(out[1], layer.norm(tgt[1]))
