"""scripts/warm_start.py: a trained model copied into a new recipe's shapes computes what it did
before the new inputs are learnt (issue 9: CoordConv's channels start at zero)."""

import importlib.util
from pathlib import Path

import torch

from rismodel.config import with_overrides
from rismodel.registry import build_model, get_config

ROOT = Path(__file__).resolve().parents[2]
TINY = {"backbone.depths": [1, 1, 1, 1], "input.image_size": 64, "pixel_decoder.num_layers": 1,
        "backbone.pretrained": None}


def _warm_start():
    spec = importlib.util.spec_from_file_location("warm_start", ROOT / "scripts" / "warm_start.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.warm_start


def test_warm_start_copies_grows_and_keeps_the_old_function():
    torch.manual_seed(0)
    old = build_model(with_overrides(get_config("lgformer-compact"), TINY)).eval()
    new_cfg = with_overrides(get_config("lgformer-compact"),
                             {**TINY, "pixel_decoder.coord_channels": True, "presence": "head"})
    torch.manual_seed(1)
    new = build_model(new_cfg).eval()
    report = _warm_start()(new, old.state_dict())
    assert report["grown"] == ["pixel_decoder.output_conv.0.weight"]
    assert report["fresh"] and all(k.startswith("presence_head.") for k in report["fresh"])
    grown = new.state_dict()["pixel_decoder.output_conv.0.weight"]
    assert torch.count_nonzero(grown[:, -2:]) == 0  # the coordinate inputs start switched off
    ids, mask = old.text_encoder.tokenize(["the red circle on the left"])
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        a, b = old(x, ids, mask)["pred_masks"], new(x, ids, mask)["pred_masks"]
    torch.testing.assert_close(a, b)  # same masks as the model it came from
