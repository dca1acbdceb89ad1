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
    assert names >= {"lgformer-swinb", "lqmformer-swinb", "lgformer-compact", "lqmformer-compact"}


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


# ----- every command on bad input: one clear line, a non-zero exit, never a traceback ---------

CONFIGS = __import__("pathlib").Path(__file__).resolve().parents[1] / "configs"
TINY_TRAIN = ["model.input.image_size=64", "model.backbone.window_size=4", "model.backbone.pretrained=null",
              "train.batch_size=2", "train.progress=false", "train.device=cpu", "train.max_steps=1"]


@pytest.fixture(scope="module")
def bad(tmp_path_factory, ckpt):
    """Bad inputs of every kind, made once."""
    import os
    import types

    from test_fileio import device_node
    from test_imageio import png_header_only

    from rismodel.data.synth import generate

    d = tmp_path_factory.mktemp("bad")
    b = types.SimpleNamespace(d=d, ckpt=str(ckpt))
    b.synth = d / "synth"
    generate(b.synth, 4, seed=0, size_range=(64, 72))
    b.image = d / "img.png"
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(b.image)
    b.device = device_node(d)  # a private /dev/full
    b.fifo = d / "pipe.png"
    os.mkfifo(b.fifo)
    b.huge = d / "huge.png"
    b.huge.write_bytes(png_header_only(9999, 9999))
    b.truncated_png = d / "cut.png"
    b.truncated_png.write_bytes(b.image.read_bytes()[:40])
    b.text = d / "notes.safetensors"
    b.text.write_text("hello, not a checkpoint")
    b.cut_ckpt = d / "cut.safetensors"
    b.cut_ckpt.write_bytes(ckpt.read_bytes()[:5000])
    import dataclasses

    cfg = with_overrides(get_config("lgformer-compact"), TINY)
    model = build_model(cfg)
    for attr, encoder in (("evil_te", "package:evilmod"), ("nowhere_te", str(d / "no-such-encoder"))):
        bad_cfg = dataclasses.replace(cfg, text=dataclasses.replace(cfg.text, name=encoder))
        setattr(b, attr, d / f"{attr}.safetensors")
        save_checkpoint(getattr(b, attr), model, bad_cfg, {})
    b.file = d / "a_file"
    b.file.write_text("x")
    b.binary_yaml = d / "bin.yaml"
    b.binary_yaml.write_bytes(b"\xff\xfe\x00\x01model: [")
    b.list_yaml = d / "list.yaml"
    b.list_yaml.write_text("- 1\n- 2\n")
    b.empty_coco = d / "empty.json"
    b.empty_coco.write_text('{"images": [], "annotations": [], "categories": []}')
    b.cut_coco = d / "cut.json"
    b.cut_coco.write_text('{"images": [{"id": 1, "file_name": "a.png"')
    b.dir = d / "folder"
    b.dir.mkdir()
    (d / "coco").mkdir()
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(d / "outside.png")
    b.outside_coco = d / "coco" / "outside.json"  # its image is ../outside.png
    b.outside_coco.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "../outside.png", "width": 30, "height": 20}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[0, 0, 10, 0, 10, 10, 0, 10]],
                         "area": 100, "bbox": [0, 0, 10, 10], "iscrowd": 0, "expressions": ["a box"]}],
        "categories": [{"id": 1, "name": "box"}]}))
    b.non_utf8 = os.fsdecode(bytes(d) + b"/caf\xe9.png")  # a name that is not UTF-8, missing
    b.norun = d / "norun"
    b.norun.mkdir()
    b.corrupt_run = d / "corrupt_run"
    b.corrupt_run.mkdir()
    (b.corrupt_run / "train_config.json").write_text("{}")
    (b.corrupt_run / "latest.json").write_text("{not json")
    return b


def _p(b):
    return ["--model", b.ckpt, "--device", "cpu"]


def _train(b, *extra, config="lgformer-compact.yaml", out=None):
    args = ["train", "--out", str(out or b.d / "run")] + (["--config", str(CONFIGS / config)] if config else [])
    for item in [*TINY_TRAIN, f"data.data_root={b.synth}", *extra]:
        args += ["--set", item]
    return args


def _predict(b, image=None, text="the red circle", out=None, *extra):
    return ["predict", *_p(b), "--image", str(image or b.image), "--text", text,
            "--out", str(out or b.d / "m.png"), *extra]


def _eval(b, *extra):
    return ["eval", "--baseline", "whole-image", "--data-root", str(b.synth), "--dataset", "synthref",
            "--split", "test", "--quiet", *extra]


def _annotate(b, *extra, images=None, out=None, text="a thing"):
    return ["annotate", *_p(b), "--images", str(images or b.image), "--text", text,
            "--out", str(out or b.d / "coco.json"), "--quiet", *extra]


# (id, argv from the fixtures, a piece of the message). Every case must fail cleanly.
BAD_CASES = [
    ("models-unknown-flag", lambda b: ["models", "--bogus"], "unrecognized arguments"),
    ("no-command", lambda b: [], "required"),
    ("info-missing", lambda b: ["info", str(b.d / "missing.safetensors")], "missing.safetensors"),
    ("info-folder", lambda b: ["info", str(b.dir)], "folder"),
    ("info-text-file", lambda b: ["info", str(b.text)], "notes.safetensors"),
    ("info-truncated", lambda b: ["info", str(b.cut_ckpt)], "cut.safetensors"),
    ("info-fifo", lambda b: ["info", str(b.fifo)], "pipe.png"),
    ("info-non-utf8", lambda b: ["info", b.non_utf8], "caf"),
    ("info-text-encoder-package", lambda b: ["info", str(b.evil_te)], "evilmod"),
    ("info-text-encoder-nowhere", lambda b: ["info", str(b.nowhere_te)], "no-such-encoder"),
    ("predict-text-encoder-package", lambda b: ["predict", "--model", str(b.evil_te), "--image", str(b.image),
                                                "--text", "x", "--out", str(b.d / "m.png")], "evilmod"),
    ("info-unknown-name", lambda b: ["info", "no-such-model"], "no-such-model"),
    ("predict-threshold-neg", lambda b: _predict(b, None, "x", None, "--threshold", "-1"), "threshold"),
    ("predict-threshold-2", lambda b: _predict(b, None, "x", None, "--threshold", "2"), "threshold"),
    ("predict-threshold-nan", lambda b: _predict(b, None, "x", None, "--threshold", "nan"), "threshold"),
    ("predict-threshold-text", lambda b: _predict(b, None, "x", None, "--threshold", "half"), "threshold"),
    ("predict-image-missing", lambda b: _predict(b, b.d / "nope.png"), "nope.png"),
    ("predict-image-fifo", lambda b: _predict(b, b.fifo), "not a regular file"),
    ("predict-image-folder", lambda b: _predict(b, b.dir), "folder"),
    ("predict-image-not-image", lambda b: _predict(b, b.text), "not an image"),
    ("predict-image-truncated", lambda b: _predict(b, b.truncated_png), "cut.png"),
    ("predict-image-huge", lambda b: _predict(b, b.huge), "exceeds the limit"),
    ("predict-image-non-utf8", lambda b: _predict(b, b.non_utf8), "caf"),
    ("predict-text-empty", lambda b: _predict(b, None, ""), "empty"),
    ("predict-text-blank", lambda b: _predict(b, None, " \t\n "), "empty"),
    ("predict-out-dev-full", lambda b: _predict(b, None, "x", b.device), "not a regular file"),
    ("predict-out-folder", lambda b: _predict(b, None, "x", b.dir), "folder"),
    ("predict-out-under-a-file", lambda b: _predict(b, None, "x", b.file / "m.png"), "a_file"),
    ("predict-model-missing", lambda b: ["predict", "--model", str(b.d / "x.safetensors"), "--image",
                                         str(b.image), "--text", "x", "--out", str(b.d / "m.png")], "x.safetensors"),
    ("predict-model-text", lambda b: ["predict", "--model", str(b.text), "--image", str(b.image), "--text",
                                      "x", "--out", str(b.d / "m.png"), "--device", "cpu"], "notes.safetensors"),
    ("bench-repeats-0", lambda b: ["bench", *_p(b), "--repeats", "0"], "--repeats"),
    ("bench-threads-0", lambda b: ["bench", *_p(b), "--threads", "0"], "--threads"),
    ("bench-warmup-neg", lambda b: ["bench", *_p(b), "--warmup", "-1"], "--warmup"),
    ("bench-model-missing", lambda b: ["bench", "--model", str(b.d / "x.safetensors"), "--no-peer"], "x.safetensors"),
    ("synth-too-few", lambda b: ["synth", "--out", str(b.d / "s"), "--images", "2"], "at least 3"),
    ("synth-size-range", lambda b: ["synth", "--out", str(b.d / "s"), "--image-size-range", "9-x"], "MIN-MAX"),
    ("synth-out-is-file", lambda b: ["synth", "--out", str(b.file), "--images", "3"], "a_file"),
    ("pretrain-out-suffix", lambda b: ["pretrain", "--data-root", str(b.synth), "--out", str(b.d / "x.pt")],
     ".safetensors"),
    ("pretrain-steps-0", lambda b: ["pretrain", "--data-root", str(b.synth), "--steps", "0", "--out",
                                    str(b.d / "x.safetensors")], "--steps"),
    ("pretrain-no-data", lambda b: ["pretrain", "--data-root", str(b.d / "nodata"), "--steps", "1",
                                    "--device", "cpu", "--out", str(b.d / "x.safetensors")], "nodata"),
    ("train-max-steps-0", lambda b: _train(b, "train.max_steps=0"), "max_steps"),
    ("train-workers-neg", lambda b: _train(b, "train.num_workers=-1"), "num_workers"),
    ("train-override-type", lambda b: _train(b, "model.decoder_layers=abc"), "decoder_layers"),
    ("train-override-list-type", lambda b: _train(b, "model.backbone.depths=[a, b]"), "depths"),
    ("train-override-unknown", lambda b: _train(b, "model.no_such_key=1"), "no_such_key"),
    ("train-set-no-section", lambda b: _train(b, "max_steps=3"), "section.key=value"),
    ("train-lr-text", lambda b: _train(b, "train.lr=fast"), "train.lr"),
    ("train-config-missing", lambda b: ["train", "--config", str(b.d / "none.yaml")], "none.yaml"),
    ("train-config-binary", lambda b: ["train", "--config", str(b.binary_yaml)], "bin.yaml"),
    ("train-config-list", lambda b: ["train", "--config", str(b.list_yaml)], "list.yaml"),
    ("train-config-fifo", lambda b: ["train", "--config", str(b.fifo)], "not a regular file"),
    ("train-out-is-file", lambda b: _train(b, out=b.file), "not a folder"),
    ("train-out-under-a-file", lambda b: _train(b, out=b.file / "run"), "a_file"),
    ("train-resume-nothing", lambda b: ["train", "--resume", "--out", str(b.norun)], "train_config.json"),
    ("train-resume-corrupt", lambda b: ["train", "--resume", "--out", str(b.corrupt_run)], "corrupt"),
    ("train-init-missing", lambda b: _train(b) + ["--init", str(b.d / "none.safetensors")], "none.safetensors"),
    ("train-init-truncated", lambda b: _train(b) + ["--init", str(b.cut_ckpt)], "cut.safetensors"),
    ("train-init-other-arch", lambda b: _train(b, "model.decoder_layers=2", config="lqmformer-compact.yaml")
     + ["--init", b.ckpt], "decoder_layers"),
    ("train-data-missing", lambda b: _train(b, f"data.data_root={b.d / 'nodata'}"), "nodata"),
    ("eval-nothing", lambda b: ["eval", "--baseline", "whole-image"], "--data-root"),
    ("eval-image-size-0", lambda b: _eval(b, "--image-size", "0"), "--image-size"),
    ("eval-workers-neg", lambda b: _eval(b, "--workers", "-1"), "--workers"),
    ("eval-batch-0", lambda b: _eval(b, "--batch-size", "0"), "--batch-size"),
    ("eval-limit-0", lambda b: _eval(b, "--limit", "0"), "--limit"),
    ("eval-threshold-2", lambda b: _eval(b, "--threshold", "2"), "threshold"),
    ("eval-empty-coco", lambda b: ["eval", "--baseline", "whole-image", "--coco", str(b.empty_coco)],
     "no expressions"),
    ("eval-truncated-coco", lambda b: ["eval", "--baseline", "whole-image", "--coco", str(b.cut_coco)], "cut.json"),
    ("eval-coco-fifo", lambda b: ["eval", "--baseline", "whole-image", "--coco", str(b.fifo)],
     "not a regular file"),
    ("eval-coco-image-outside", lambda b: ["eval", "--baseline", "whole-image", "--coco", str(b.outside_coco)],
     "outside.png"),
    ("eval-missing-root", lambda b: ["eval", "--baseline", "whole-image", "--data-root", str(b.d / "nodata"),
                                     "--dataset", "refcoco", "--split", "val"], "nodata"),
    ("eval-empty-split", lambda b: ["eval", "--baseline", "whole-image", "--data-root", str(b.synth),
                                    "--dataset", "synthref", "--split", "nosuchsplit"], "nosuchsplit"),
    ("eval-json-to-folder", lambda b: _eval(b, "--json", str(b.dir)), "folder"),
    ("eval-model-text", lambda b: ["eval", "--model", str(b.text), "--data-root", str(b.synth), "--dataset",
                                   "synthref", "--split", "test"], "notes.safetensors"),
    ("annotate-threshold-nan", lambda b: _annotate(b, "--threshold", "nan"), "threshold"),
    ("annotate-no-images", lambda b: _annotate(b, images=b.d / "none"), "no images"),
    ("annotate-only-fifo", lambda b: _annotate(b, images=b.fifo), "no images"),
    ("annotate-empty-text", lambda b: _annotate(b, text="  "), "non-empty --text"),
    ("annotate-out-dev-full", lambda b: _annotate(b, out=b.device), "not a regular file"),
    ("annotate-out-folder", lambda b: _annotate(b, out=b.dir), "folder"),
    ("annotate-model-missing", lambda b: ["annotate", "--model", str(b.d / "x.safetensors"), "--images",
                                          str(b.image), "--text", "x", "--out", str(b.d / "c.json")], "x.safetensors"),
]


@pytest.mark.parametrize("case", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_input_gives_one_clear_line_and_a_non_zero_exit(bad, case, capsys):
    _name, argv, message = case
    rc = main(argv(bad))
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.strip() and not x.startswith("skipping ")]
    assert rc != 0, err
    assert "Traceback" not in err and "unexpected error" not in err, err
    assert len(lines) == 1, err  # one line (annotate may first list the files it skips)
    assert lines[0].startswith("rismodel"), err
    assert message.lower() in lines[0].lower(), err


def test_an_unexpected_error_is_one_line_and_a_log_not_a_traceback(monkeypatch, capsys, tmp_path):
    from rismodel.commands import models

    monkeypatch.setattr(models, "run", lambda args: {}["boom"])  # a bug: KeyError
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    assert main(["models"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unexpected error: KeyError" in err and "Traceback" not in err
    (log,) = tmp_path.glob("rismodel-models-*.log")
    assert "Traceback" in log.read_text() and "boom" in log.read_text()


def test_a_very_long_expression_is_truncated_not_an_error(ckpt, image, tmp_path, capsys):
    out = tmp_path / "m.png"
    text = " ".join(["the small red circle left of the big blue square"] * 500)
    assert main(["predict", "--model", str(ckpt), "--image", str(image), "--text", text, "--out", str(out),
                 "--device", "cpu", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["truncated"] is True and out.is_file()


def test_predict_json_is_strict(ckpt, image, tmp_path, capsys, monkeypatch):
    import rismodel.predictor as P

    real = P.Predictor.predict

    def nan_latency(self, *a, **k):
        r = real(self, *a, **k)
        r.latency_ms = float("nan")  # whatever float ends up non-finite, JSON stays strict
        return r

    monkeypatch.setattr(P.Predictor, "predict", nan_latency)
    assert main(["predict", "--model", str(ckpt), "--image", str(image), "--text", "x",
                 "--out", str(tmp_path / "m.png"), "--device", "cpu", "--json"]) == 0
    line = capsys.readouterr().out.strip()
    assert "NaN" not in line and json.loads(line)["latency_ms"] is None


def test_a_non_utf8_out_name_under_a_strict_utf8_stdout(ckpt, image, tmp_path):
    import os
    import subprocess
    import sys

    out = bytes(tmp_path) + b"/mask-\xff.png"
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "rismodel.cli", "predict", "--model", str(ckpt), "--image",
                           str(image), "--text", "x", "--out", out, "--device", "cpu"],
                          check=False, env=env, capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    assert os.path.isfile(out)
    assert b"wrote" in proc.stdout and b"\\udcff" in proc.stdout  # printed escaped, not a crash


def test_eval_follows_images_outside_the_folder_only_when_asked(bad, capsys):
    assert main(["eval", "--baseline", "whole-image", "--coco", str(bad.outside_coco), "--quiet",
                 "--allow-outside-images"]) == 0
    assert "whole-image" in capsys.readouterr().out
