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


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _warm_start():
    return _script("warm_start").warm_start


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


def test_extracted_swin_is_a_backbone_file_a_new_model_starts_from(tmp_path, capsys):
    """scripts/extract_swin.py (Table 3's controlled runs): the Swin blocks of a trained model, and
    only those, reach a fresh model through ``backbone.pretrained``."""
    from rismodel.checkpoint import save_checkpoint

    cfg = with_overrides(get_config("lgformer-compact"), TINY)
    torch.manual_seed(0)
    trained = build_model(cfg)
    save_checkpoint(tmp_path / "m.safetensors", trained, cfg)
    assert _script("extract_swin").main([str(tmp_path / "m.safetensors"), str(tmp_path / "swin.safetensors")]) == 0
    torch.manual_seed(1)
    fresh = build_model(with_overrides(cfg, {"backbone.pretrained": str(tmp_path / "swin.safetensors")}))
    a, b = trained.state_dict(), fresh.state_dict()
    swin = [k for k in a if k.startswith("backbone.swin.") and "relative_position_index" not in k]
    assert swin and all(torch.equal(a[k], b[k]) for k in swin)
    fusion = [k for k in a if k.startswith("backbone.fusions.") and a[k].is_floating_point() and a[k].numel() > 1]
    assert fusion and not all(torch.equal(a[k], b[k]) for k in fusion)  # the rest stays fresh
