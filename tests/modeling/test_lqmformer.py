"""LQMFormer losses (Eq. 3-5, 3.4) on hand-checked toy cases, and the composed model."""

from __future__ import annotations

import math

import pytest
import torch

from rismodel.config import (
    BackboneConfig,
    InputConfig,
    LQMFormerConfig,
    PixelDecoderConfig,
    TextConfig,
    with_overrides,
)
from rismodel.modeling.lqmformer_losses import (
    likelihood_map,
    mask_losses,
    qm_loss,
    score_loss,
    top_rho_targets,
)
from rismodel.registry import get_config

# --- losses on toy cases ---------------------------------------------------------------------------


def test_top_rho_binarisation_by_hand():
    lm = torch.tensor([[0.1, 0.5, 0.3, 0.9, 0.2], [5.0, 4.0, 3.0, 2.0, 1.0]])
    assert top_rho_targets(lm, 0.4).tolist() == [[0, 1, 0, 1, 0], [1, 1, 0, 0, 0]]  # ceil(2.0) = 2
    assert top_rho_targets(lm, 0.3).tolist() == [[0, 1, 0, 1, 0], [1, 1, 0, 0, 0]]  # ceil(1.5) = 2
    assert top_rho_targets(lm, 0.1).tolist() == [[0, 0, 0, 1, 0], [1, 0, 0, 0, 0]]  # at least one
    assert top_rho_targets(torch.randn(3, 100), 0.2).sum(1).tolist() == [20, 20, 20]  # not 21
    with pytest.raises(ValueError, match="rho"):
        top_rho_targets(lm, 0.0)


def test_top_rho_targets_carry_no_gradient():
    lm = torch.randn(2, 6, requires_grad=True)
    assert not top_rho_targets(lm, 0.5).requires_grad


def test_score_loss_is_eq5():
    logits = torch.tensor([[[0.0], [2.0], [-1.0]]])
    target = torch.tensor([[1.0, 0.0, 0.0]])
    p = torch.sigmoid(logits.flatten())
    expected = -(math.log(p[0]) + math.log(1 - p[1]) + math.log(1 - p[2])) / 3
    assert score_loss(logits, target).item() == pytest.approx(expected, rel=1e-6)


def test_qm_loss_by_hand():
    # Three embeddings on a line at 0, 0.6 and 3: nearest-neighbour distances 0.6, 0.6, 2.4.
    emb = torch.tensor([[[0.0, 0.0], [0.6, 0.0], [3.0, 0.0]]])
    expected = (0.4 + 0.4 + 0.0) / 3
    assert qm_loss(emb, margin=1.0).item() == pytest.approx(expected, abs=1e-5)
    assert qm_loss(emb * 10, margin=1.0).item() == 0.0  # all far apart
    # Identical embeddings: loss = margin and a finite gradient.
    same = torch.ones(1, 4, 3, requires_grad=True)
    loss = qm_loss(same, margin=1.0)
    loss.backward()
    assert loss.item() == pytest.approx(1.0, abs=1e-3)
    assert torch.isfinite(same.grad).all()


def test_likelihood_map_measures_attention_towards_each_query():
    # Query 0 attends only to pixel 0; query 1 spreads evenly over 4 pixels (2x2 level).
    a = torch.tensor([[[1.0, 0.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]]])
    lm = likelihood_map([a], [(2, 2)])
    # Share of pixel 0: 1/1.25 and 0.25/1.25; the other pixels belong to query 1.
    torch.testing.assert_close(lm, torch.tensor([[0.8, 0.2 + 3.0]]), atol=1e-5, rtol=1e-5)


def test_likelihood_map_sums_layers_at_the_finest_size():
    torch.manual_seed(0)
    sizes = [(2, 2), (4, 4), (8, 8)]
    maps = [torch.rand(3, 5, h * w).softmax(-1) for h, w in sizes]
    lm = likelihood_map(maps, sizes)
    assert lm.shape == (3, 5)
    # Per-pixel shares sum to 1 and bilinear resizing keeps that: total = layers * 8 * 8.
    torch.testing.assert_close(lm.sum(1), torch.full((3,), 3 * 64.0), atol=1e-3, rtol=1e-4)


def test_mask_losses_skip_dice_for_no_target_samples():
    logits = torch.full((2, 1, 4, 4), -10.0)
    empty = torch.zeros(2, 1, 4, 4)
    bce, dice = mask_losses(logits, empty, torch.tensor([False, False]))
    assert dice.item() == 0.0 and bce.item() < 1e-3
    target = torch.zeros(2, 1, 4, 4)
    target[0, 0, :2] = 1
    good = torch.where(target > 0, 10.0, -10.0)
    _, dice_good = mask_losses(good, target, torch.tensor([True, False]))
    _, dice_bad = mask_losses(-good, target, torch.tensor([True, False]))
    assert dice_good.item() < 0.01
    assert dice_bad.item() > 0.9


# --- the composed model ----------------------------------------------------------------------------

TINY = LQMFormerConfig(
    backbone=BackboneConfig(embed_dim=16, depths=(1, 1, 1, 1), num_heads=(1, 1, 2, 2), window_size=4,
                            drop_path_rate=0.0, pretrained=None),
    text=TextConfig(random_init=True, hidden_size=32, num_layers=1, num_heads=2, max_tokens=8),
    input=InputConfig(image_size=64),
    pixel_decoder=PixelDecoderConfig(dim=32, ffn_dim=64, num_layers=1, num_heads=2, num_points=2, l2va=False),
    fusion_heads=2,
    num_queries=6,
    decoder_rounds=1,
    decoder_dim=32,
    decoder_heads=2,
    decoder_ffn_dim=64,
)
SWITCHES = [
    {},
    {"grounding": "cross_attention"},
    {"scoring_network": False},
    {"score_learning": False},
    {"qm_loss": False},
]


def _batch(model, b=2):
    torch.manual_seed(0)
    size = model.cfg.input.image_size
    images = torch.randn(b, 3, size, size)
    ids, att = model.text_encoder.tokenize(["the man on the left", "nothing"][:b])
    masks = torch.zeros(b, size, size)
    masks[0, 10:40, 5:30] = 1
    has_target = torch.tensor([True, False][:b])
    return images, ids, att, masks, has_target


def _open_gates(model):
    """Zero inits stop some gradients at step 0, by design: the GMMF gates (undisturbed backbone)
    block the fusion layers before them, and the deformable attention's zero offset/weight layers
    make the pixel decoder's query (hence its level embedding) irrelevant. One training step moves
    them; do that by hand."""
    with torch.no_grad():
        for fusion in model.backbone.fusions:
            for p in fusion.gate.parameters():
                p.normal_(std=0.05)
        for name, p in model.pixel_decoder.named_parameters():
            if "sampling_offsets.weight" in name or "attention_weights.weight" in name:
                p.normal_(std=0.01)


@pytest.mark.parametrize("overrides", SWITCHES, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "ours")
def test_every_switch_builds_runs_and_trains(overrides):
    from rismodel.modeling.lqmformer import LQMFormer

    cfg = with_overrides(TINY, overrides)
    torch.manual_seed(0)
    model = LQMFormer(cfg)
    _open_gates(model)
    images, ids, att, masks, has_target = _batch(model)
    out = model(images, ids, att)
    assert out["pred_masks"].shape == (2, 1, 16, 16)
    assert len(out["aux_masks"]) == 3 * cfg.decoder_rounds
    assert out["presence_logits"].shape == (2,)
    assert out["query_masks"].shape == (2, 6, 16, 16)
    torch.testing.assert_close(out["merge_weights"].sum(1), torch.ones(2))
    assert (out["scores"] is None) == (not cfg.scoring_network)
    losses = model.loss(out, masks, has_target)
    assert ("loss_score" in losses) == (cfg.scoring_network and cfg.score_learning)
    assert ("loss_qm" in losses) == cfg.qm_loss
    assert torch.isfinite(losses["loss"])
    losses["loss"].backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and
               (p.grad is None or p.grad.abs().sum() == 0)]
    assert missing == []
    has_gauss = any("enhance" in n for n, _ in model.named_parameters())
    assert has_gauss == (cfg.grounding == "gmmf")


def test_cached_prefix_and_text_give_the_same_result():
    from rismodel.modeling.lqmformer import LQMFormer

    torch.manual_seed(0)
    model = LQMFormer(TINY).eval()
    _open_gates(model)
    images, ids, att, _, _ = _batch(model)
    with torch.no_grad():
        full = model(images, ids, att)
        prefix = model.image_prefix(images[:1])  # one image, two expressions
        cached = model(prefix=prefix, text_feats=model.encode_text(ids, att), attention_mask=att)
        ref = model(images[:1].expand(2, -1, -1, -1), ids, att)
    torch.testing.assert_close(cached["pred_masks"], ref["pred_masks"])
    assert not torch.allclose(full["pred_masks"][1], ref["pred_masks"][1])  # image matters
    with pytest.raises(ValueError, match="attention_mask"):
        model(images, ids)
    with pytest.raises(ValueError, match="images must be"):
        model(images[:, :, :32], ids, att)


@pytest.mark.slow  # about 13 s on one core: builds 238M random parameters, one 480x480 forward
def test_paper_config_shapes_at_480():
    from rismodel.modeling.lqmformer import LQMFormer

    cfg = with_overrides(get_config("lqmformer-swinb"), {"backbone.pretrained": None, "text.random_init": True})
    torch.manual_seed(0)
    model = LQMFormer(cfg).eval()
    ids, att = model.text_encoder.tokenize(["the giraffe on the right"])
    with torch.no_grad():
        out = model(torch.randn(1, 3, 480, 480), ids, att)
    assert out["pred_masks"].shape == (1, 1, 120, 120)
    assert len(out["aux_masks"]) == 9
    assert out["query_masks"].shape == (1, 100, 120, 120)
    assert out["scores"].shape == (1, 100, 1)
    assert [tuple(a.shape) for a in out["attn_maps"][:3]] == [(1, 100, 225), (1, 100, 900), (1, 100, 3600)]
    assert out["mask_embeddings"].shape == (1, 100, 256)
    assert [m.shape[1] for m in [model.backbone.fusions[i].out_proj.weight for i in range(4)]] == [
        128, 256, 512, 1024]
