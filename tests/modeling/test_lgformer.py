"""LGFormer: every named config and ablation switch builds, runs forward and backward."""


import pytest
import torch

from rismodel.config import with_overrides
from rismodel.registry import build_model, get_config

TINY = {"backbone.depths": [1, 1, 1, 1], "input.image_size": 96, "pixel_decoder.num_layers": 1,
        "decoder_layers": 3}

SWITCHES = {  # one per row of tables 2, 4, 5 and 6
    "paper default (linguistic, VLBA, L2VA, V2LA)": {},
    "table 2: 1 learnable query": {"query_type": "learnable", "num_queries": 1},
    "table 2: 10 learnable queries merged by MLP": {"query_type": "learnable", "num_queries": 10},
    "table 4: PWAM baseline, no L2VA, no V2LA": {"fusion": "pwam", "pixel_decoder.l2va": False, "v2la": False},
    "table 4: VLBA only": {"pixel_decoder.l2va": False, "v2la": False},
    "table 4: VLBA + L2VA": {"v2la": False},
    "table 5: N = 6": {"decoder_layers": 6, "pixel_decoder.num_layers": 2},
    "table 6: sentence embeddings for L2VA": {"pixel_decoder.l2va_input": "sentence"},
}


def open_zero_inits(model):
    """Give zero-initialised weights (gates, deformable offsets) small values, as after one step."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad and p.dim() > 1 and not p.any():
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)


def _batch(model, b=2, size=96):
    ids, mask = model.text_encoder.tokenize(["the big red circle left of the blue square", "star"])
    torch.manual_seed(0)
    images = torch.randn(b, 3, size, size)
    masks = torch.zeros(b, size, size)
    masks[0, 10:50, 20:60] = 1
    masks[1, 40:90, 5:30] = 1
    return images, ids, mask, masks


@pytest.mark.parametrize("name", list(SWITCHES))
def test_switch_forward_backward_every_parameter_learns(name):
    cfg = with_overrides(get_config("lgformer-compact"), {**TINY, **SWITCHES[name]})
    model = build_model(cfg).train()
    open_zero_inits(model)
    images, ids, mask, masks = _batch(model)
    out = model(images, ids, mask)
    assert out["pred_masks"].shape == (2, 1, 24, 24)
    assert len(out["aux_masks"]) == cfg.decoder_layers  # initial query + N - 1 earlier layers
    assert out["presence_logits"].shape == (2,)
    losses = model.loss(out, masks, torch.ones(2, dtype=torch.bool))
    assert torch.isfinite(losses["loss"])
    losses["loss"].backward()
    dead = []
    for n, p in model.named_parameters():
        if not p.requires_grad:
            assert n.startswith("text_encoder."), n  # only the frozen MiniLM
            continue
        if p.grad is None or not p.grad.abs().sum() > 0:
            dead.append(n)
    # Sentence-mode L2VA attends to one key: its query/key projections are mathematically inert.
    if SWITCHES[name].get("pixel_decoder.l2va_input") == "sentence":
        dead = [n for n in dead if "in_proj" not in n and ".q_proj" not in n and ".k_proj" not in n]
    # Learnable queries never read the language in the decoder; level/pos embeddings of the
    # pixel decoder only reach the loss through the (opened) deformable offsets.
    assert not dead, dead


def test_gates_start_at_zero_so_backbone_is_undisturbed():
    cfg = with_overrides(get_config("lgformer-compact"), TINY)
    model = build_model(cfg).eval()
    images, ids, mask, _ = _batch(model)
    with torch.no_grad():
        prefix = model.image_prefix(images)
        l = model.encode_text(ids, mask)
        fused, l_out = model.backbone(prefix, l, mask)
        plain = []
        x = prefix
        for i, stage in enumerate(model.backbone.swin.layers):
            x = stage(x) if i > 0 else x
            plain.append(model.backbone.norms[i](x).permute(0, 3, 1, 2))
    for a, b in zip(fused, plain):
        assert torch.equal(a, b)
    assert torch.equal(l_out, l)


def test_linguistic_query_depends_on_text_and_learnable_does_not_start_from_it():
    cfg = with_overrides(get_config("lgformer-compact"), TINY)
    model = build_model(cfg).eval()
    images, ids, mask, _ = _batch(model)
    with torch.no_grad():
        a = model(images[:1], ids[:1], mask[:1])["aux_masks"][0]
        b = model(images[:1], ids[1:], mask[1:])["aux_masks"][0]
    assert not torch.allclose(a, b)  # the initial prototype f(L) differs with the text


@pytest.mark.slow
def test_paper_config_shapes_at_480():
    cfg = with_overrides(get_config("lgformer-swinb"), {"backbone.pretrained": None, "text.random_init": True})
    model = build_model(cfg).eval()
    ids, mask = model.text_encoder.tokenize(["the man in the red shirt on the left"])
    with torch.no_grad():  # its speed is `rismodel bench --model lgformer-swinb`'s to print, not a test's
        out = model(torch.randn(1, 3, 480, 480), ids, mask)
    assert out["pred_masks"].shape == (1, 1, 120, 120)
    assert len(out["aux_masks"]) == 6
    assert model.backbone.channels == (128, 256, 512, 1024)
