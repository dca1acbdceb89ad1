"""The rismodel command line: models, info, predict, bench (figures printed, never asserted)."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from rismodel.checkpoint import save_checkpoint
from rismodel.cli import main
from rismodel.config import with_overrides
from rismodel.registry import build_model, get_config

TINY = {"backbone.depths": [1, 1, 1, 1], "decoder_layers": 1, "pixel_decoder.num_layers": 1}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    cfg = with_overrides(get_config("lgformer-compact"), TINY)
    path = tmp_path_factory.mktemp("cli") / "tiny.safetensors"
    save_checkpoint(path, build_model(cfg), cfg, {"trained_on": "cli test fixture", "steps": 0})
    return path


@pytest.fixture()
def image(tmp_path):
    path = tmp_path / "img.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (50, 70, 3), dtype=np.uint8)).save(path)
    return path


def test_models_lists_the_four_named_models(capsys):
    assert main(["models", "--json"]) == 0
    names = {m["name"] for m in json.loads(capsys.readouterr().out)}
    assert names == {"lgformer-swinb", "lqmformer-swinb", "lgformer-compact", "lqmformer-compact"}


def test_info_reports_parameters_and_provenance(ckpt, capsys):
    assert main(["info", str(ckpt), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["architecture"] == "lgformer"
    assert info["trained_on"] == "cli test fixture"
    p = info["parameters"]
    assert p["total"] == sum(v for k, v in p.items() if k not in ("total", "backbone.fusions"))
    assert p["backbone.fusions"] > 0


def test_predict_writes_a_full_size_mask_and_a_json_line(ckpt, image, tmp_path, capsys):
    out = tmp_path / "mask.png"
    assert main(["predict", "--model", str(ckpt), "--image", str(image), "--text", "the red circle",
                 "--out", str(out), "--device", "cpu", "--threshold", "0.0", "--json"]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (record["width"], record["height"], record["device"]) == (70, 50, "cpu")
    assert record["mask_pixels"] == 70 * 50 and record["latency_ms"] > 0
    mask = np.asarray(Image.open(out))
    assert mask.shape == (50, 70) and (mask == 255).all()


def test_predict_errors_are_messages_not_tracebacks(ckpt, image, tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(ckpt.read_bytes()[:1000])
    assert main(["predict", "--model", str(bad), "--image", str(image), "--text", "x",
                 "--out", str(tmp_path / "m.png")]) == 2
    assert "truncated" in capsys.readouterr().err
    assert main(["predict", "--model", str(ckpt), "--image", str(tmp_path / "missing.png"), "--text", "x",
                 "--out", str(tmp_path / "m.png"), "--device", "cpu"]) == 2
    assert "missing.png" in capsys.readouterr().err
    assert not (tmp_path / "m.png").exists()


def test_bench_prints_latency_and_memory_with_the_clipseg_peer(ckpt, capsys):
    assert main(["bench", "--model", str(ckpt), "--device", "cpu", "--threads", "1", "--repeats", "2",
                 "--warmup", "1", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    for key in ("per_expression", "full"):
        assert r["ours"][key]["runs"] == 2 and r["ours"][key]["p90_ms"] >= r["ours"][key]["median_ms"] > 0
    assert r["clipseg"]["median_ms"] > 0 and r["ours"]["peak_memory_mb"] > 0
    assert r["speedup_vs_clipseg"] == pytest.approx(
        r["clipseg"]["median_ms"] / r["ours"]["per_expression"]["median_ms"], rel=0.01)
