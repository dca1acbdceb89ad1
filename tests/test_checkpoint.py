"""Checkpoint format: exact round trip, and a clear error for every kind of bad file."""

import json

import pytest
import torch

from rismodel.checkpoint import CheckpointError, load_checkpoint, read_header, save_checkpoint
from rismodel.config import to_dict, with_overrides
from rismodel.registry import build_model, get_config

TINY = {"backbone.depths": [1, 1, 1, 1], "decoder_layers": 1, "pixel_decoder.num_layers": 1}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.manual_seed(0)
    cfg = with_overrides(get_config("lgformer-compact"), TINY)
    model = build_model(cfg).eval()
    path = tmp_path_factory.mktemp("ckpt") / "m.safetensors"
    save_checkpoint(path, model, cfg, {"trained_on": "unit test", "steps": 3})
    return model, cfg, path


def test_round_trip_is_exact(saved):
    model, cfg, path = saved
    loaded, cfg2, meta = load_checkpoint(path)
    assert cfg2 == cfg
    assert meta == {"trained_on": "unit test", "steps": 3}
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    ids, mask = model.text_encoder.tokenize(["the red circle"])
    x = torch.randn(1, 3, 192, 192)
    with torch.no_grad():
        assert torch.equal(model(x, ids, mask)["pred_masks"], loaded(x, ids, mask)["pred_masks"])


def test_frozen_package_text_encoder_is_not_stored(saved):
    _, _, path = saved
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        keys = list(f.keys())
    assert keys and not [k for k in keys if k.startswith("text_encoder.model.")]


def test_truncated_file(saved, tmp_path):
    _, _, path = saved
    bad = tmp_path / "trunc.safetensors"
    data = path.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(bad)


def test_not_a_checkpoint(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"hello, not a checkpoint at all")
    with pytest.raises(CheckpointError):
        load_checkpoint(junk)
    from safetensors.torch import save_file

    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(other))
    with pytest.raises(CheckpointError, match="not a rismodel checkpoint"):
        load_checkpoint(other)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.safetensors")


def test_config_that_does_not_match_weights(saved, tmp_path):
    _, cfg, path = saved
    from safetensors.torch import load_file, save_file

    state = load_file(str(path))
    wrong = with_overrides(cfg, {"decoder_layers": 2})
    bad = tmp_path / "mismatch.safetensors"
    save_file(state, str(bad), metadata={"format": "rismodel-checkpoint/1",
                                         "config": json.dumps(to_dict(wrong)), "meta": "{}"})
    with pytest.raises(CheckpointError, match="missing weights"):
        load_checkpoint(bad)


def test_other_architecture_is_named(saved):
    _, _, path = saved
    with pytest.raises(CheckpointError, match="holds a lgformer model"):
        load_checkpoint(path, expect_architecture="lqmformer")
    cfg, meta = read_header(path)
    assert cfg.architecture == "lgformer" and meta["steps"] == 3
