"""VLBA (LGFormer Eq. 5-11) and PWAM (LAVT) fusion modules."""

import pytest
import torch

from rismodel.modeling.pwam import PWAM
from rismodel.modeling.vlba import VLBA


def _inputs(b=2, c=16, h=5, w=7, t=6, cl=12):
    torch.manual_seed(0)
    v = torch.randn(b, c, h, w)
    l = torch.randn(b, t, cl)
    m = torch.ones(b, t, dtype=torch.long)
    m[1, 4:] = 0
    return v, l, m


@pytest.mark.parametrize("cls", [VLBA, PWAM])
def test_gates_start_at_zero_so_inputs_pass_unchanged(cls):
    v, l, m = _inputs()
    mod = cls(16, 12)
    v2, l2 = mod(v, l, m)
    assert torch.equal(v2, v)
    assert torch.equal(l2, l)


@pytest.mark.parametrize("cls", [VLBA, PWAM])
def test_fusion_updates_once_gates_open_and_ignores_padding(cls):
    v, l, m = _inputs()
    mod = cls(16, 12)
    for gate in [g for n, g in mod.named_children() if n.startswith("gate")]:
        torch.nn.init.normal_(gate[0].weight)
        torch.nn.init.normal_(gate[2].weight)
    v2, l2 = mod(v, l, m)
    assert not torch.allclose(v2, v)
    # Changing a padded word must not change anything.
    l_pad = l.clone()
    l_pad[1, 5] += 100.0
    v3, l3 = mod(v, l_pad, m)
    assert torch.allclose(v3, v2, atol=1e-5)
    assert torch.allclose(l3[:, :5], l2[:, :5], atol=1e-5)
    if cls is VLBA:  # VLBA updates language (Eq. 11), except padded words
        assert not torch.allclose(l2[0], l[0])
        assert torch.equal(l2[1, 4:], l[1, 4:])


def test_vlba_every_parameter_gets_a_gradient_once_gates_open():
    v, l, m = _inputs()
    mod = VLBA(16, 12)
    for gate in (mod.gate_v, mod.gate_l):
        torch.nn.init.normal_(gate[0].weight)
        torch.nn.init.normal_(gate[2].weight)
    v2, l2 = mod(v, l, m)
    (v2.square().mean() + l2.square().mean()).backward()
    for name, p in mod.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
