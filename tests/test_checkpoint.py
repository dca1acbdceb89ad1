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


# ----- untrusted checkpoints (issue 13) ------------------------------------------------------------

def _with_config(tmp_path, name, config, state=None, meta="{}"):
    """A safetensors file with the given config text (or dict) and a placeholder tensor."""
    from safetensors.torch import save_file

    path = tmp_path / name
    text = config if isinstance(config, str) else json.dumps(config)
    save_file(state or {"w": torch.zeros(1)}, str(path),
              metadata={"format": "rismodel-checkpoint/1", "config": text, "meta": meta})
    return path


def _edited(cfg, edit):
    data = to_dict(cfg)
    edit(data)
    return data


BAD_CONFIGS = {
    "depths as strings": (lambda d: d["backbone"].update(depths=["2", "2", "2", "2"]), "backbone.depths"),
    "string layer count": (lambda d: d.update(decoder_layers="3"), "decoder_layers"),
    "bool as int": (lambda d: d.update(decoder_layers=True), "decoder_layers"),
    "negative dimension": (lambda d: d.update(decoder_dim=-128), "decoder_dim"),
    "huge dimension": (lambda d: d["pixel_decoder"].update(ffn_dim=10**9), "ffn_dim"),
    "huge model overall": (lambda d: d.update(decoder_dim=4096, decoder_layers=24), "parameters"),
    "huge image_size": (lambda d: d["input"].update(image_size=25600), "image_size"),
    "odd image_size": (lambda d: d["input"].update(image_size=200), "multiple of 32"),
    "zero std": (lambda d: d["input"].update(std=[0.0, 0.2, 0.2]), "input.std"),
    "NaN std": (lambda d: d["input"].update(std=[float("nan"), 0.2, 0.2]), "finite"),
    "inf mean": (lambda d: d["input"].update(mean=[float("inf"), 0.2, 0.2]), "finite"),
    "two std values": (lambda d: d["input"].update(std=[0.2, 0.2]), "3 entries"),
    "three stages": (lambda d: d["backbone"].update(depths=[1, 1, 1], num_heads=[1, 2, 4]), "4 entries"),
    "heads do not divide": (lambda d: d["backbone"].update(num_heads=[3, 2, 4, 8]), "divisible"),
    "bad literal": (lambda d: d.update(fusion="magic"), "fusion"),
    "text section a list": (lambda d: d.update(text=[1, 2]), "mapping"),
    "text name not a string": (lambda d: d["text"].update(name=["x"]), "text.name"),
    "unknown key": (lambda d: d.update(rm_rf=True), "unknown config keys"),
    "unknown package": (lambda d: d["text"].update(name="package:os"), "not one this program knows"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_is_one_clear_error_before_anything_is_built(saved, tmp_path, case):
    _, cfg, _ = saved
    edit, words = BAD_CONFIGS[case]
    path = _with_config(tmp_path, "bad.safetensors", _edited(cfg, edit))
    with pytest.raises(CheckpointError, match=words) as info:
        read_header(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, '{"architecture": "lgformer"',
                                  "123", '"lgformer"', '{"architecture": ["lgformer"]}'])
def test_malformed_config_json_is_a_checkpoint_error(tmp_path, text):
    with pytest.raises(CheckpointError):
        read_header(_with_config(tmp_path, "bad.safetensors", text))


def test_meta_must_be_an_object(saved, tmp_path):
    _, cfg, _ = saved
    with pytest.raises(CheckpointError, match="meta"):
        read_header(_with_config(tmp_path, "bad.safetensors", to_dict(cfg), meta="[1, 2]"))


def test_text_package_from_a_checkpoint_is_never_imported(saved, tmp_path, monkeypatch):
    _, cfg, _ = saved
    marker = tmp_path / "evil.ran"
    (tmp_path / "evilmod_ckpt_probe.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = _with_config(tmp_path, "evil.safetensors",
                        _edited(cfg, lambda d: d["text"].update(name="package:evilmod_ckpt_probe")))
    with pytest.raises(CheckpointError, match="not one this program knows"):
        load_checkpoint(path)
    assert not marker.exists()


def test_text_encoder_name_that_is_nothing_is_a_checkpoint_error(saved, tmp_path):
    _, cfg, path = saved
    from safetensors.torch import load_file

    bad = _with_config(tmp_path, "nohub.safetensors",
                       _edited(cfg, lambda d: d["text"].update(name="no-such-org/no-such-encoder")),
                       state=load_file(str(path)))
    with pytest.raises(CheckpointError, match="nothing is downloaded") as info:
        load_checkpoint(bad)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused(saved, tmp_path, value):
    _, cfg, path = saved
    from safetensors.torch import load_file

    state = load_file(str(path))
    key = min(k for k, v in state.items() if v.is_floating_point())
    state[key].view(-1)[0] = value
    bad = _with_config(tmp_path, "nan.safetensors", to_dict(cfg), state=state)
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        load_checkpoint(bad)


def test_wrong_dtype_is_refused(saved, tmp_path):
    _, cfg, path = saved
    from safetensors.torch import load_file

    state = load_file(str(path))
    key = min(k for k, v in state.items() if v.is_floating_point())
    state[key] = state[key].to(torch.int32)
    with pytest.raises(CheckpointError, match="int32"):
        load_checkpoint(_with_config(tmp_path, "int.safetensors", to_dict(cfg), state=state))


def test_shipped_checkpoints_pass_validation():
    from rismodel.registry import MODELS
    from rismodel.resources import default_checkpoint

    for name in ("lgformer-compact", "lqmformer-compact"):
        cfg, meta = read_header(default_checkpoint(name))
        # the registry's text encoder; the token budget may differ (40 in the issue-9 defaults)
        assert cfg.architecture == MODELS[name].architecture and cfg.text.name == MODELS[name].text.name
        assert cfg.text.hidden_size == MODELS[name].text.hidden_size and not cfg.text.trainable
        assert meta
