"""``ris-studio --self-test``: does this installation work? (run by packaging/build.py on each build)

Checks, in order, and prints one line per check (``ok``/``FAIL``):
- the bundled resources: both compact checkpoints, the MiniLM text encoder's files, the demo
  images, the icon, the licences;
- Qt starts (offscreen when there is no display) and renders the SVG icon (its image plugin);
- each bundled model loads and segments ``synth_scene_4.jpg`` with a phrase whose right mask is
  known: the scene is regenerated from its seed (resources/demo/make_demo.py) to get the object's
  exact mask, and the predicted mask must reach ``MIN_IOU``;
- the ``rismodel`` CLI that fine-tuning runs (:func:`app.frozen.rismodel_command`) starts.

Exit 0 when everything passes, 1 otherwise (the failures say what is missing). Not a GUI: it uses
rismodel's predictor directly, as the CLI does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

# The scene the demo file synth_scene_4.jpg was rendered from (make_demo.py: seed 7, index 3) and a
# phrase both shipped compact models segment well (measured IoU 0.82 / 0.79 on the JPEG).
DEMO_IMAGE = "synth_scene_4.jpg"
DEMO_SEED, DEMO_INDEX, DEMO_SIZE = 7, 3, (360, 480)
PHRASE = "the large spotted green heart"
TARGET = {"shape": "heart", "color": "green", "size": "large"}
MIN_IOU = 0.6
MODELS = ("lgformer-compact", "lqmformer-compact")
# photo-coco on the demo photo coffee.jpg (the same file as resources/realphoto/coffee.jpg, where
# the cup's hand-drawn mask lies): its mask must stay inside the cup's box (x, y, w, h) and cover
# most of it (measured: IoU 0.86 with that mask, all inside the box, 72 % of its area).
PHOTO_IMAGE, PHOTO_PHRASE, PHOTO_BOX = "coffee.jpg", "the cup", (173, 18, 237, 287)
REQUIRED = ("models/lgformer-compact.safetensors", "models/lqmformer-compact.safetensors",
            "models/photo/centernet.onnx", "models/photo/u2netp.onnx", f"demo/{PHOTO_IMAGE}",
            "icons/ris-studio.svg", "LICENSES.md", f"demo/{DEMO_IMAGE}", "demo/expressions.txt")


def _mask_iou(a, b) -> float:
    union = int((a | b).sum())
    return int((a & b).sum()) / union if union else 1.0


def _ground_truth(image):
    """The target object's exact mask, regenerated; fails if the demo file is not that scene."""
    import numpy as np

    from rismodel.data.synth import generate_image

    scene = generate_image(DEMO_SEED, DEMO_INDEX, DEMO_SIZE)["scene"]
    if scene.image.shape != image.shape:
        raise RuntimeError(f"{DEMO_IMAGE} is {image.shape}, the generator renders {scene.image.shape}")
    diff = float(np.abs(scene.image.astype(np.int16) - image.astype(np.int16)).mean())
    if diff > 8.0:  # JPEG q94 differs by ~2 grey levels on average
        raise RuntimeError(f"{DEMO_IMAGE} is not the generator's scene (mean difference {diff:.1f})")
    hits = [i for i, o in enumerate(scene.objects) if all(getattr(o, k) == v for k, v in TARGET.items())]
    if len(hits) != 1:
        raise RuntimeError(f"expected one {TARGET} object in the demo scene, found {len(hits)}")
    return scene.mask(hits[0])


class _Report:
    def __init__(self, out):
        self.out, self.failures = out, []

    def check(self, name: str, fn):
        t0 = time.perf_counter()
        try:
            detail = fn()
        except Exception as e:  # noqa: BLE001  (a self-test reports every failure of any kind and goes on)
            self.failures.append(name)
            self.out(f"FAIL {name}: {type(e).__name__}: {e}")
            return None
        self.out(f"ok   {name}{': ' + detail if isinstance(detail, str) and detail else ''}"
                 f" ({time.perf_counter() - t0:.1f} s)")
        return detail


def _check_resources() -> str:
    from rismodel.resources import resources_dir

    root = resources_dir()
    missing = [r for r in REQUIRED if not (root / r).is_file()]
    if missing:
        raise FileNotFoundError(f"missing under {root}: {', '.join(missing)}")
    return str(root)


def _check_text_encoder() -> str:
    from rismodel.modeling.text_encoder import resolve_text_source
    from rismodel.registry import MINILM

    path = Path(resolve_text_source(MINILM))
    missing = [f for f in ("config.json", "vocab.txt") if not (path / f).is_file()]
    if missing or not any(path.glob("*.safetensors")) and not any(path.glob("*.bin")):
        raise FileNotFoundError(f"text encoder folder {path} lacks {missing or 'its weights'}")
    return str(path)


def _check_qt() -> str:
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from rismodel.resources import resources_dir

    app = QApplication.instance() or QApplication(sys.argv[:1])
    pix = QIcon(str(resources_dir() / "icons" / "ris-studio.svg")).pixmap(64, 64)
    if pix.isNull():
        raise RuntimeError("the SVG icon does not render (Qt's svg image plugin is missing)")
    return f"platform {app.platformName()}"


def _check_model(name: str, image, truth) -> str:
    from rismodel.predictor import Predictor

    pred = Predictor.load(name, device="cpu")
    pred.set_image(image)
    result = pred.predict(PHRASE)
    iou = _mask_iou(result.mask, truth)
    if iou < MIN_IOU:
        raise RuntimeError(f"'{PHRASE}' mask IoU {iou:.3f} < {MIN_IOU} (score {result.score:.2f})")
    return f"'{PHRASE}' IoU {iou:.3f}, {result.latency_ms:.0f} ms"


def _check_photo_model() -> str:
    from rismodel.imageio import load_image
    from rismodel.predictor import Predictor
    from rismodel.resources import resources_dir

    pred = Predictor.load("photo-coco")
    pred.set_image(load_image(resources_dir() / "demo" / PHOTO_IMAGE))
    result = pred.predict(PHOTO_PHRASE)
    x, y, w, h = PHOTO_BOX
    area = int(result.mask.sum())
    inside = int(result.mask[max(0, y - 10):y + h + 10, max(0, x - 10):x + w + 10].sum())
    if area < 0.3 * w * h or inside < 0.9 * area:
        raise RuntimeError(f"'{PHOTO_PHRASE}' on {PHOTO_IMAGE}: {area} px, {inside} inside the cup's box "
                           f"({result.explanation})")
    return f"'{PHOTO_PHRASE}' {area / (w * h):.0%} of the cup's box, {result.latency_ms:.0f} ms"


def _check_cli() -> str:
    from .frozen import rismodel_command

    cmd = rismodel_command() + ["models"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    if proc.returncode != 0 or "lgformer-compact" not in proc.stdout:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {(proc.stderr or proc.stdout)[-300:]}")
    return " ".join(cmd[:1] + cmd[1:-1])


def run_self_test(out=print) -> int:
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY") and sys.platform.startswith("linux"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    rep = _Report(lambda line: (out(line), sys.stdout.flush()))
    rep.check("resources", _check_resources)
    rep.check("text encoder files", _check_text_encoder)
    rep.check("Qt", _check_qt)

    def load_demo():
        from rismodel.imageio import load_image
        from rismodel.resources import resources_dir

        image = load_image(resources_dir() / "demo" / DEMO_IMAGE)
        return image, _ground_truth(image)

    demo = rep.check("demo scene and its known mask", load_demo)
    if demo is not None:
        for name in MODELS:
            rep.check(f"model {name}", lambda n=name: _check_model(n, *demo))
    rep.check("model photo-coco", _check_photo_model)
    rep.check("rismodel CLI (fine-tuning)", _check_cli)
    if rep.failures:
        out(f"self-test FAILED: {', '.join(rep.failures)}")
        return 1
    out("self-test passed")
    return 0
