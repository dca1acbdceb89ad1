"""Take the README screenshot offscreen: ``python -m app.screenshot OUT.png [--model M]``.

Opens a demo scene, keeps the masks of the ``--keep`` expressions as annotations (snapped to
edges, labelled with their last word: the label panel shows them), types an expression, waits for
the live mask and grabs the window. With
random weights (no trained checkpoint yet) the threshold is moved to the probability median so
that some mask is visible; the status bar then says "random weights".
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--model", default="lgformer-compact")
    p.add_argument("--image", default="synth_scene_1.jpg")
    p.add_argument("--text", default="the ring")
    p.add_argument("--keep", nargs="*", default=[], metavar="EXPRESSION",
                   help="expressions kept as annotations first (label: the last word)")
    p.add_argument("--labels", nargs="*", default=[], metavar="LABEL", help="a predefined label list")
    args = p.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    tmp = Path(tempfile.mkdtemp())
    os.environ["RIS_STUDIO_SETTINGS"] = str(tmp / "settings.ini")
    from PySide6.QtWidgets import QApplication

    from rismodel.resources import resources_dir

    from .dialogs import settings
    from .mainwindow import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    demo = tmp / "demo"
    shutil.copytree(resources_dir() / "demo", demo, ignore=shutil.ignore_patterns("*.py", "*.txt"))
    settings().setValue("model", args.model)
    w = MainWindow(allow_random=True)
    w.resize(1280, 760)
    w.show()

    def wait(cond, timeout=120):
        end = time.time() + timeout
        while not cond():
            if time.time() > end:
                raise TimeoutError("the app did not get there in time")
            app.processEvents()
            time.sleep(0.01)

    wait(lambda: w.model_info is not None)
    if args.labels:
        w.flow.labels.set_predefined(args.labels)
    w.open_paths([demo])
    w.show_image(args.image)
    wait(lambda: w.image is not None and w.key == args.image)
    from . import dialogs

    dialogs.ask_label = lambda parent, labels, default: default  # Enter in the label dialog
    for text in args.keep:
        w.prompt.expression.setText(text)
        w.live.set_text(text)
        wait(lambda t=text: w.live.result is not None and w.live.result.get("text") == t)
        w.keep_mask()
    w.prompt.expression.setText(args.text)
    w.live.set_text(args.text)
    wait(lambda: w.live.result is not None)
    if w.model_info.get("source") == "random":
        import numpy as np

        w.prompt.threshold.setValue(max(1, min(99, int(np.median(w.live.result["prob"]) * 100))))
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    img = w.grab().toImage()
    img.save(args.out, "PNG")
    from PIL import Image

    Image.open(args.out).convert("RGB").quantize(colors=256, dither=Image.Dither.NONE).save(args.out, optimize=True)
    print(f"{args.out}: {img.width()}x{img.height()}, {Path(args.out).stat().st_size // 1024} KB; "
          f"status: {w.status_model.text()} | {w.status_latency.text()}")
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
