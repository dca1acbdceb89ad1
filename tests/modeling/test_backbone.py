"""Early-fusion Swin backbone: stage shapes, the text-independent prefix, weight conversion."""

import dataclasses

import pytest
import torch
from torch import nn

from rismodel.modeling.backbone import BackboneWeightsError, EarlyFusionSwin, convert_swin_checkpoint
from rismodel.modeling.vlba import VLBA
from rismodel.registry import get_config

CFG = dataclasses.replace(get_config("lgformer-compact").backbone, depths=(1, 1, 1, 1))


class Identity(nn.Module):
    def forward(self, v, l, m):
        return v, l


def test_stage_shapes_and_strides():
    b = EarlyFusionSwin(CFG, 192, [Identity() for _ in range(4)])
    feats, _ = b(b.prefix(torch.randn(2, 3, 192, 192)), torch.randn(2, 4, 8), torch.ones(2, 4))
    assert [tuple(f.shape) for f in feats] == [(2, 32, 48, 48), (2, 64, 24, 24), (2, 128, 12, 12), (2, 256, 6, 6)]
    assert b.strides == (4, 8, 16, 32)


def test_prefix_does_not_depend_on_text_but_output_does():
    torch.manual_seed(0)
    fusions = [VLBA(c, 8) for c in CFG.channels]
    for f in fusions:  # open the gates so language really flows in
        torch.nn.init.normal_(f.gate_v[0].weight)
        torch.nn.init.normal_(f.gate_v[2].weight)
    b = EarlyFusionSwin(CFG, 192, fusions).eval()
    img = torch.randn(1, 3, 192, 192)
    p = b.prefix(img)
    f1, _ = b(p, torch.randn(1, 4, 8), torch.ones(1, 4))
    f2, _ = b(p, torch.randn(1, 4, 8), torch.ones(1, 4))
    assert not torch.allclose(f1[0], f2[0])  # first fusion sits right after the prefix


def test_convert_official_layout_checkpoint():
    b = EarlyFusionSwin(CFG, 192, [Identity() for _ in range(4)])
    own = {k: v.clone() for k, v in b.swin.state_dict().items()}
    # Official Swin checkpoints downsample at the END of a stage: layers.i.downsample -> layers.i+1.
    official = {}
    for k, v in own.items():
        if ".downsample." in k:
            i = int(k.split(".")[1])
            k = k.replace(f"layers.{i}.downsample", f"layers.{i - 1}.downsample")
        official[k] = v.clone() + 1.0
    official["head.weight"] = torch.zeros(10, 256)
    state, missing, _ = convert_swin_checkpoint({"model": official}, b.swin)
    assert "head.weight" not in state
    b.swin.load_state_dict(state, strict=False)
    key = "layers.1.downsample.reduction.weight"
    assert torch.allclose(b.swin.state_dict()[key], own[key] + 1.0)
    assert not [m for m in missing if "relative_position_bias_table" in m or "downsample" in m]


def test_convert_rejects_wrong_shapes():
    b = EarlyFusionSwin(CFG, 192, [Identity() for _ in range(4)])
    bad = dict(b.swin.state_dict())
    bad["layers.0.blocks.0.mlp.fc1.weight"] = torch.zeros(3, 3)
    with pytest.raises(BackboneWeightsError, match="fc1"):
        convert_swin_checkpoint(bad, b.swin)


def test_missing_local_weights_file_is_a_clear_error(tmp_path):
    cfg = dataclasses.replace(CFG, pretrained=str(tmp_path / "nope.pth"))
    with pytest.raises(BackboneWeightsError, match="not found"):
        EarlyFusionSwin(cfg, 192, [Identity() for _ in range(4)])
