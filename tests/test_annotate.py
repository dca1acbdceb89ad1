"""rismodel annotate: COCO output that pycocotools decodes to the predicted masks, unreadable
images skipped with a message, and a 2-process torchrun (Gloo) run merged into one file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools.coco import COCO

from rismodel import cli
from rismodel.predictor import Prediction


def fake_mask(image: np.ndarray, text: str) -> np.ndarray:
    """What the fake predictor segments: depends on both the image and the text."""
    h, w = image.shape[:2]
    m = np.zeros((h, w), bool)
    if text == "left half":
        m[:, : w // 2] = True
    elif text == "bright pixels":
        m = image[..., 0] > 128
    return m  # anything else: nothing is referred to


class FakePredictor:
    name = "fake"

    def __init__(self):
        self.image = None

    def set_image(self, image):
        assert isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3
        self.image = image

    def predict(self, text, threshold=0.5):
        m = fake_mask(self.image, text)
        return Prediction(prob=m.astype(np.float32), mask=m, score=float(m.any()), latency_ms=1.0,
                          device="cpu")


def _images(folder: Path, n: int = 3) -> dict[str, np.ndarray]:
    """n small RGB images (different sizes), one in a subfolder, plus an unreadable one."""
    rng = np.random.default_rng(5)
    out = {}
    for i in range(n):
        name = f"sub/img{i}.png" if i == 1 else f"img{i}.png"
        arr = rng.integers(0, 255, (20 + 4 * i, 30 - 2 * i, 3), dtype=np.uint8)
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr).save(folder / name)
        out[name] = arr
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    return out


def test_annotate_writes_coco_that_decodes_to_the_predictions(tmp_path, monkeypatch, capsys):
    arrays = _images(tmp_path / "pics")
    monkeypatch.setattr("rismodel.predictor.Predictor.load", lambda *a, **k: FakePredictor())
    out = tmp_path / "out" / "coco.json"
    rc = cli.main(["annotate", "--model", "fake", "--images", str(tmp_path / "pics"),
                   str(tmp_path / "missing.jpg"), "--text", "left half", "--text", "bright pixels",
                   "--text", "the unicorn", "--out", str(out), "--quiet"])
    assert rc == 0
    captured = capsys.readouterr()
    assert "broken.png" in captured.err and "skipping" in captured.err
    assert "missing.jpg" in captured.err
    assert "the unicorn" in captured.err and "3 expression/image pair(s) gave an empty mask" in captured.err
    assert "3 image(s), 6 mask(s)" in captured.out

    coco = COCO(str(out))
    names = [im["file_name"] for im in coco.dataset["images"]]
    assert names == sorted(arrays) and [im["id"] for im in coco.dataset["images"]] == [1, 2, 3]
    assert sorted(c["name"] for c in coco.dataset["categories"]) == ["bright pixels", "left half"]
    assert len(coco.anns) == 6
    for ann in coco.anns.values():
        im = coco.imgs[ann["image_id"]]
        arr = arrays[im["file_name"]]
        assert (im["height"], im["width"]) == arr.shape[:2]
        (text,) = ann["expressions"]
        np.testing.assert_array_equal(coco.annToMask(ann), fake_mask(arr, text).astype(np.uint8))
        assert coco.cats[ann["category_id"]]["name"] == text


def test_one_label_for_every_object_and_no_images_is_an_error(tmp_path, monkeypatch, capsys):
    _images(tmp_path / "pics", n=1)
    monkeypatch.setattr("rismodel.predictor.Predictor.load", lambda *a, **k: FakePredictor())
    out = tmp_path / "coco.json"
    assert cli.main(["annotate", "--model", "fake", "--images", str(tmp_path / "pics" / "img0.png"),
                     "--text", "left half", "--text", "bright pixels", "--label", "thing",
                     "--out", str(out), "--quiet"]) == 0
    data = json.loads(out.read_text())
    assert [c["name"] for c in data["categories"]] == ["thing"] and len(data["annotations"]) == 2
    capsys.readouterr()
    assert cli.main(["annotate", "--model", "fake", "--images", str(tmp_path / "empty_dir_missing"),
                     "--text", "x", "--out", str(out), "--quiet"]) == 2
    assert "no images found" in capsys.readouterr().err


def test_torchrun_two_processes_merge_into_one_file(tmp_path):
    import torch

    from rismodel.annotate import run as run_annotate
    from rismodel.checkpoint import save_checkpoint
    from rismodel.predictor import Predictor
    from rismodel.registry import build_model, get_config

    torch.manual_seed(0)  # random weights (they mark plenty of pixels), the same ones every run
    cfg = get_config("lgformer-compact")
    pred = Predictor(build_model(cfg), cfg, device="cpu", name="lgformer-compact")
    ckpt = tmp_path / "random.safetensors"
    save_checkpoint(ckpt, pred.model, pred.config)
    arrays = _images(tmp_path / "pics")
    args = ["annotate", "--model", str(ckpt), "--images", str(tmp_path / "pics"), "--text", "a thing",
            "--text", "the left one", "--device", "cpu", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1"}
    env.pop("WORLD_SIZE", None)
    merged = tmp_path / "merged.json"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           "--standalone", "-m", "rismodel.cli", *args, "--out", str(merged)],
                          check=False, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "broken.png" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if "part" in p.name) == []  # parts cleaned up

    single = tmp_path / "single.json"  # one process, the in-memory model the checkpoint holds
    run_annotate(lambda device: pred, [str(tmp_path / "pics")], ["a thing", "the left one"], single,
                 device="cpu", progress=False)
    a, b = json.loads(merged.read_text()), json.loads(single.read_text())
    assert [im["file_name"] for im in a["images"]] == sorted(arrays)  # every readable image, once
    assert a["info"].pop("model") == str(ckpt) and b["info"].pop("model") is None  # the --model given
    assert a == b  # same ids, masks and categories as one process gives
    assert [ann["id"] for ann in a["annotations"]] == list(range(1, len(a["annotations"]) + 1))
    assert len(a["annotations"]) > 0
