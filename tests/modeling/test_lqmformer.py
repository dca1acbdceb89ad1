"""LQMFormer losses (Eq. 3-5, 3.4) on hand-checked toy cases, and the composed model."""

from __future__ import annotations

import math

import pytest
import torch

from rismodel.modeling.lqmformer_losses import (
    likelihood_map,
    mask_losses,
    qm_loss,
    score_loss,
    top_rho_targets,
)

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
