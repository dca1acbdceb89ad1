"""Masked-attention decoder (LQMFormer 3.1, Mask2Former): shapes, masking, attention maps."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rismodel.modeling.masked_decoder import MaskedAttentionDecoder


def _inputs(b=2, q=5, d=16, in_dim=24, s=64):
    torch.manual_seed(0)
    queries = torch.randn(b, q, d)
    multi_scale = [torch.randn(b, in_dim, s // k, s // k) for k in (32, 16, 8)]
    mask_features = torch.randn(b, 12, s // 4, s // 4)
    return queries, multi_scale, mask_features


def _decoder(rounds=2):
    return MaskedAttentionDecoder(num_queries=5, dim=16, heads=4, ffn_dim=32, rounds=rounds,
                                  in_dim=24, mask_dim=12)


def test_shapes_and_attention_maps():
    queries, ms, mf = _inputs()
    out = _decoder(rounds=2)(queries, ms, mf)
    assert len(out.query_masks) == len(out.queries) == len(out.mask_embeddings) == 7
    assert len(out.attn_maps) == 6
    assert out.attn_sizes == [(2, 2), (4, 4), (8, 8)] * 2
    for m in out.query_masks:
        assert m.shape == (2, 5, 16, 16)
    assert out.mask_embeddings[-1].shape == (2, 5, 12)
    for a, (h, w) in zip(out.attn_maps, out.attn_sizes):
        assert a.shape == (2, 5, h * w)
        torch.testing.assert_close(a.sum(-1), torch.ones(2, 5))  # softmax over pixels


def test_cross_attention_only_sees_the_previous_mask():
    queries, ms, mf = _inputs()
    out = _decoder(rounds=1)(queries, ms, mf)
    checked = 0
    for i, (a, size) in enumerate(zip(out.attn_maps, out.attn_sizes)):
        prev = F.interpolate(out.query_masks[i], size=size, mode="bilinear", align_corners=False)
        blocked = prev.flatten(2).sigmoid() < 0.5  # [B, Q, hw]
        partial = blocked.any(-1) & ~blocked.all(-1)
        assert (a[blocked & partial[..., None]] == 0).all()
        checked += int(partial.sum())
    assert checked > 0  # the random inputs do produce partially blocked queries


def test_prediction_heads_block_background_and_unblock_empty_rows():
    dec = MaskedAttentionDecoder(num_queries=3, dim=4, heads=1, ffn_dim=8, rounds=1, in_dim=4, mask_dim=4)
    dec.decoder_norm = nn.Identity()
    dec.mask_embed = nn.Identity()  # masks = q . mask_features
    mf = torch.zeros(1, 4, 4, 4)
    mf[0, 0, :, :2] = 1.0
    mf[0, 0, :, 2:] = -1.0
    mf[0, 1] = 1.0
    q = torch.tensor([[[1.0, 0, 0, 0], [-1.0, 0, 0, 0], [0, -1.0, 0, 0]]])
    masks, _, _, blocked = dec.forward_prediction_heads(q, mf, (4, 4))
    blocked = blocked.view(3, 4, 4)
    assert masks.shape == (1, 3, 4, 4)
    assert not blocked[0, :, :2].any() and blocked[0, :, 2:].all()  # query 0: left half
    assert blocked[1, :, :2].all() and not blocked[1, :, 2:].any()  # query 1: right half
    assert not blocked[2].any()  # query 2 predicts nothing: attends everywhere


def test_every_parameter_gets_a_gradient():
    queries, ms, mf = _inputs()
    queries.requires_grad_(True)
    dec = _decoder(rounds=1)
    out = dec(queries, ms, mf)
    loss = sum(m.square().mean() for m in out.query_masks) + sum(a.square().sum() for a in out.attn_maps)
    loss.backward()
    for name, p in dec.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert queries.grad.abs().sum() > 0


def test_bad_configuration_is_rejected():
    with pytest.raises(ValueError, match="divisible"):
        MaskedAttentionDecoder(5, 18, 4, 32, 1, 24, 12)
    with pytest.raises(ValueError, match="feature levels"):
        queries, ms, mf = _inputs()
        _decoder()(queries, ms[:2], mf)
