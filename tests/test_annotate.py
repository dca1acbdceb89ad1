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


# ----- streaming, resume, kills and a full disk ------------------------------------------------

def _many(folder: Path, n: int) -> None:
    rng = np.random.default_rng(7)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (12 + i % 5, 16, 3), dtype=np.uint8)).save(folder / f"p{i:03d}.png")


def _args(pics, out, *extra):
    return ["annotate", "--model", "fake", "--images", str(pics), "--text", "left half", "--text",
            "bright pixels", "--out", str(out), "--quiet", *extra]


def _journal_lines(out: Path) -> int:
    j = out.with_name(f".{out.name}.partial.jsonl")
    return j.read_bytes().count(b"\n") if j.exists() else 0


def test_results_are_written_image_by_image_not_held_until_the_end(tmp_path, monkeypatch):
    _many(tmp_path / "pics", 6)
    out = tmp_path / "coco.json"
    seen = []

    class Watching(FakePredictor):
        def set_image(self, image):
            seen.append(_journal_lines(out))  # header + one line per finished image
            super().set_image(image)

    monkeypatch.setattr("rismodel.predictor.Predictor.load", lambda *a, **k: Watching())
    assert cli.main(_args(tmp_path / "pics", out)) == 0
    assert seen == [1, 2, 3, 4, 5, 6]
    assert not out.with_name(f".{out.name}.partial.jsonl").exists()  # removed once the file is written


def test_a_stopped_run_resumes_skipping_the_images_done(tmp_path, monkeypatch, capsys):
    _many(tmp_path / "pics", 8)
    calls = []

    class Stopping(FakePredictor):
        def set_image(self, image):
            calls.append(1)
            if len(calls) == 5:
                raise KeyboardInterrupt  # Ctrl-C during the 5th image
            super().set_image(image)

    monkeypatch.setattr("rismodel.predictor.Predictor.load", lambda *a, **k: Stopping())
    out = tmp_path / "coco.json"
    out.write_text('{"previous": "good file"}')
    assert cli.main(_args(tmp_path / "pics", out)) == 130
    assert out.read_text() == '{"previous": "good file"}'  # untouched until the run completes
    assert _journal_lines(out) == 5  # header + 4 images

    monkeypatch.setattr("rismodel.predictor.Predictor.load", lambda *a, **k: FakePredictor())
    # Other settings are refused, not mixed in; --restart discards the stopped run.
    assert cli.main(_args(tmp_path / "pics", out, "--threshold", "0.3")) == 2
    assert "other settings" in capsys.readouterr().err
    class Counting(FakePredictor):
        def set_image(self, image):
            calls.append(1)
            super().set_image(image)

    monkeypatch.setattr("rismodel.predictor.Predictor.load", lambda *a, **k: Counting())
    calls.clear()
    assert cli.main(_args(tmp_path / "pics", out)) == 0
    assert len(calls) == 4  # only the images not done before
    assert "resuming: 4 of 8" in capsys.readouterr().err
    straight = tmp_path / "straight.json"
    assert cli.main(_args(tmp_path / "pics", straight)) == 0
    assert json.loads(out.read_text()) == json.loads(straight.read_text())
    assert cli.main(_args(tmp_path / "pics", out, "--restart")) == 0


def test_a_full_disk_during_annotate_is_reported_and_the_rerun_completes(tmp_path, monkeypatch, capsys):
    import builtins
    import errno

    import rismodel.annotate as A

    _many(tmp_path / "pics", 6)
    monkeypatch.setattr("rismodel.predictor.Predictor.load", lambda *a, **k: FakePredictor())
    out = tmp_path / "coco.json"
    written = []

    class Filling:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            written.append(data)
            if len(written) > 3:  # the header and two images fit; the third fills the disk
                self.f.write(data[:7])
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.f.write(data)

        def __getattr__(self, name):
            return getattr(self.f, name)

    monkeypatch.setattr(A, "open", lambda *a, **k: Filling(builtins.open(*a, **k)), raising=False)  # noqa: SIM115
    assert cli.main(_args(tmp_path / "pics", out)) == 2
    err = capsys.readouterr().err
    assert "no space left on the disk" in err and "run the same command again" in err
    assert "Traceback" not in err and not out.exists()
    monkeypatch.setattr(A, "open", builtins.open, raising=False)  # space freed

    import os

    from rismodel import fileio

    real_fdopen = os.fdopen

    def fdopen(fd, *a, **k):  # now the final file cannot be written: its temp file fills the disk
        if ".coco.json." in os.readlink(f"/proc/self/fd/{fd}"):
            os.close(fd)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fdopen(fd, *a, **k)

    monkeypatch.setattr(fileio.os, "fdopen", fdopen)
    assert cli.main(_args(tmp_path / "pics", out)) == 2
    monkeypatch.setattr(fileio.os, "fdopen", real_fdopen)
    err = capsys.readouterr().err
    assert "no space left on the disk" in err and "kept in .coco.json.partial.jsonl" in err
    assert cli.main(_args(tmp_path / "pics", out)) == 0
    assert "resuming: 6 of 6" in capsys.readouterr().err  # the cut line was dropped, then redone
    straight = tmp_path / "straight.json"
    assert cli.main(_args(tmp_path / "pics", straight)) == 0
    assert json.loads(out.read_text()) == json.loads(straight.read_text())


def test_a_non_utf8_file_name_is_skipped_with_a_message(tmp_path, monkeypatch, capsys):
    import os

    _many(tmp_path / "pics", 2)
    bad = os.fsdecode(bytes(tmp_path / "pics") + b"/caf\xe9.png")
    Image.new("RGB", (8, 8)).save(bad, format="PNG")
    monkeypatch.setattr("rismodel.predictor.Predictor.load", lambda *a, **k: FakePredictor())
    out = tmp_path / "coco.json"
    assert cli.main(_args(tmp_path / "pics", out)) == 0
    assert "not valid UTF-8" in capsys.readouterr().err
    assert [im["file_name"] for im in json.loads(out.read_text())["images"]] == ["p000.png", "p001.png"]


KILLED_ANNOTATE = """
import sys, time
sys.path.insert(0, {tests!r})
import test_annotate
from rismodel import cli

class Slow(test_annotate.FakePredictor):
    def set_image(self, image):
        time.sleep(0.05)
        super().set_image(image)

import rismodel.predictor
rismodel.predictor.Predictor.load = lambda *a, **k: Slow()
sys.exit(cli.main({args!r}))
"""


def test_kill_9_during_annotate_keeps_the_old_file_and_resumes_to_the_same_result(tmp_path, monkeypatch):
    import os
    import random
    import subprocess
    import sys
    import time

    n, kills = 24, int(os.environ.get("RISMODEL_FAULT_KILLS", "2"))
    _many(tmp_path / "pics", n)
    out = tmp_path / "coco.json"
    out.write_text('{"previous": "good file"}')
    script = KILLED_ANNOTATE.format(tests=str(Path(__file__).parent), args=_args(tmp_path / "pics", out))
    rng = random.Random(3)
    killed = 0
    for attempt in range(kills + 1):
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if attempt == kills:
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err.decode()[-2000:]
            break
        start = _journal_lines(out)
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline and _journal_lines(out) <= start + 1:
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.1))  # mid-image or mid-line
        if proc.poll() is None:
            proc.kill()
            killed += 1
        proc.wait()
        assert out.read_text() == '{"previous": "good file"}'  # the previous file stays whole
    assert killed >= 1
    monkeypatch.setattr("rismodel.predictor.Predictor.load", lambda *a, **k: FakePredictor())
    straight = tmp_path / "straight.json"
    assert cli.main(_args(tmp_path / "pics", straight)) == 0
    assert json.loads(out.read_text()) == json.loads(straight.read_text())
    assert len(json.loads(out.read_text())["images"]) == n
