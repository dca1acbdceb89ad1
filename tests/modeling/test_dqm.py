"""Dynamic Query Module (LQMFormer 3.3): LQCA (Eq. 1), scoring network and Eq. 2."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rismodel.modeling.dqm import DynamicQueryModule


def _words(b=2, t=6, cl=12):
    torch.manual_seed(0)
    l = torch.randn(b, t, cl)
    l_mask = torch.ones(b, t, dtype=torch.long)
    l_mask[0, 4:] = 0
    return l, l_mask


def test_shapes_and_eq2():
    l, l_mask = _words()
    dqm = DynamicQueryModule(num_queries=7, text_dim=12, dim=16)
    out = dqm(l, l_mask)
    assert out.queries.shape == (2, 7, 16)
    assert out.bank_queries.shape == (2, 7, 16)
    assert out.score_logits.shape == (2, 7, 1)
    assert ((out.scores > 0) & (out.scores < 1)).all()
    torch.testing.assert_close(out.scores, out.score_logits.sigmoid())
    torch.testing.assert_close(out.queries, out.scores * out.bank_queries)  # Eq. (2)


def test_lqca_matches_eq1_by_hand_and_ignores_padding():
    l, l_mask = _words()
    dqm = DynamicQueryModule(num_queries=3, text_dim=12, dim=16)
    out = dqm(l, l_mask)
    # Sample 0 by hand over its 4 real words.
    k = F.gelu(l[0, :4] @ dqm.w_ik.weight.T + dqm.w_ik.bias)
    v = F.gelu(l[0, :4] @ dqm.w_iv.weight.T + dqm.w_iv.bias)
    a = torch.softmax(dqm.query_bank @ k.T / 4.0, dim=-1)  # sqrt(16) = 4
    torch.testing.assert_close(out.word_attention[0, :, :4], a)
    assert out.word_attention[0, :, 4:].abs().max() == 0
    torch.testing.assert_close(out.bank_queries[0], a @ v)
    # Changing padded words changes nothing.
    l2 = l.clone()
    l2[0, 4:] = 50.0
    torch.testing.assert_close(dqm(l2, l_mask).queries, out.queries)


def test_queries_differ_at_init():
    l, l_mask = _words()
    out = DynamicQueryModule(num_queries=5, text_dim=12, dim=16)(l, l_mask)
    spread = (out.bank_queries - out.bank_queries.mean(dim=1, keepdim=True)).norm(dim=-1)
    assert (spread > 1e-3).all()


def test_without_scoring_network():
    l, l_mask = _words()
    dqm = DynamicQueryModule(num_queries=4, text_dim=12, dim=16, scoring_network=False)
    out = dqm(l, l_mask)
    assert out.scores is None and out.score_logits is None
    assert torch.equal(out.queries, out.bank_queries)
    assert not any("scorer" in n for n, _ in dqm.named_parameters())


def test_all_padded_sentence_gives_finite_queries():
    l, l_mask = _words()
    l_mask[1] = 0
    out = DynamicQueryModule(num_queries=4, text_dim=12, dim=16)(l, l_mask)
    assert torch.isfinite(out.queries).all()


def test_every_parameter_gets_a_gradient():
    l, l_mask = _words()
    dqm = DynamicQueryModule(num_queries=4, text_dim=12, dim=16)
    out = dqm(l, l_mask)
    (out.queries.square().sum() + out.score_logits.sum()).backward()
    for name, p in dqm.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_bad_inputs_are_rejected():
    l, l_mask = _words()
    with pytest.raises(ValueError, match="at least one query"):
        DynamicQueryModule(num_queries=0, text_dim=12, dim=16)
    with pytest.raises(ValueError, match="language mask"):
        DynamicQueryModule(num_queries=2, text_dim=12, dim=16)(l, l_mask[:, :2])
