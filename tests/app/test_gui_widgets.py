"""Navigation, zoom, drops, threshold without recompute, verdicts, settings, the console script."""

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QObject, QPointF, Qt, QUrl, Signal
from PySide6.QtGui import QDropEvent

from app.live import LiveSegmenter

pytestmark = pytest.mark.gui


def _loaded(qtbot, w, key):
    qtbot.waitUntil(lambda: w.image is not None and w.key == key, timeout=30_000)


def test_navigation_zoom_drop_threshold_and_settings(qtbot, make_window, demo_folder):
    w = make_window()
    drop = QMimeData()
    drop.setUrls([QUrl.fromLocalFile(str(demo_folder))])
    ev = QDropEvent(QPointF(10, 10), Qt.CopyAction, drop, Qt.LeftButton, Qt.NoModifier)
    w.canvas.dropEvent(ev)  # drag and drop a folder onto the canvas
    assert w.project is not None and next(e.key for e in w.project.images) == "coffee_exif_rotated.jpg"
    _loaded(qtbot, w, "coffee_exif_rotated.jpg")
    w.next_image()
    _loaded(qtbot, w, "synth_scene_1.jpg")
    w.previous_image()
    _loaded(qtbot, w, "coffee_exif_rotated.jpg")

    fitted = w.canvas.zoom()
    w.zoom_in()
    assert w.canvas.zoom() == pytest.approx(fitted * 1.25)
    w.fit()
    assert w.canvas.zoom() == pytest.approx(fitted)

    computed = []
    w.worker.result.connect(lambda *a: computed.append(a))
    w.live.set_text("the cup")
    qtbot.waitUntil(lambda: w.live.result is not None, timeout=30_000)
    n = len(computed)
    w.prompt.threshold.setValue(10)
    low = int(w.live.mask().sum())
    w.prompt.threshold.setValue(90)
    high = int(w.live.mask().sum())
    prob = w.live.result["prob"]
    assert low == int((prob >= 0.10).sum()) and high == int((prob >= 0.90).sum())
    qtbot.wait(100)
    assert len(computed) == n  # re-thresholded, not recomputed

    w.prompt.set_overlay((10, 200, 30), 0.7)
    w.close()
    w2 = make_window()
    assert w2.prompt.colour == (10, 200, 30) and w2.prompt.opacity_value() == pytest.approx(0.7)
    assert w2.prompt.threshold.value() == 90
    assert w2._last_folder() == str(demo_folder.resolve())


class _FakeWorker(QObject):
    result = Signal(int, str, object)
    error = Signal(int, str)

    def request(self, *a):
        pass


@pytest.mark.parametrize("score,head,expect", [(0.2, True, "No target"), (0.2, False, "Probably no target"),
                                               (0.55, True, "Unsure"), (0.9, True, "Target found")])
def test_verdicts(qapp, score, head, expect):
    live = LiveSegmenter(_FakeWorker())
    live.set_image("k", np.zeros((4, 4, 3), np.uint8))
    live.set_text("the thing")
    prob = np.zeros((4, 4), np.float32)
    prob[:2] = 0.9
    live._on_result(live.seq, "k", {"prob": prob, "score": score, "latency_ms": 1.0, "device": "cpu",
                                    "rejects_absent": head, "text": "the thing"})
    text, level = live.verdict()
    assert text.startswith(expect)
    assert (live.mask() is None) == (head and score < 0.5)
    assert level == {"No target": "none", "Probably no target": "warn", "Unsure": "warn",
                     "Target found": "ok"}[expect]


def test_a_rejected_mask_is_shown_only_on_request_and_the_choice_outlives_the_expression(qapp):
    live = LiveSegmenter(_FakeWorker())
    assert live.show_rejected is False  # off at start
    live.set_image("k", np.zeros((4, 4, 3), np.uint8))
    prob = np.zeros((4, 4), np.float32)
    prob[:2] = 0.9

    def answer(text, score=0.2):
        live.set_text(text)
        live._on_result(live.seq, "k", {"prob": prob, "score": score, "latency_ms": 1.0, "device": "cpu",
                                        "rejects_absent": True, "text": text})

    answer("the unicorn")
    assert live.no_target() and live.mask() is None and live.verdict()[1] == "none"
    assert "show" in live.why_nothing_to_keep().lower()
    changed = []
    live.changed.connect(lambda: changed.append(1))
    live.set_show_rejected(True)
    assert changed  # the overlay and the verdict are redrawn
    assert (live.mask() == (prob >= 0.5)).all()
    text, level = live.verdict()
    assert text.startswith("No target") and "shown on request" in text and level == "warn"
    live.set_threshold(0.95)  # shown, but nothing above the threshold
    assert not live.mask().any() and live.verdict()[1] == "none" and "no pixel is above 0.95" in live.verdict()[0]
    live.set_threshold(0.5)
    answer("the dragon")  # another expression: the viewing choice stays
    assert live.show_rejected and live.mask() is not None and "shown on request" in live.verdict()[0]
    live.set_text("the yeti")  # while it computes, the shown rejected mask is the faded one
    assert live.stale_mask() is not None
    answer("the yeti", score=0.9)  # a target found: nothing changes for it
    assert live.verdict()[0].startswith("Target found")
    live.set_show_rejected(False)
    answer("the griffin")
    assert live.mask() is None and live.verdict()[1] == "none"


CONSOLE_PROBE = """
import json, sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from app.main import main
from app.mainwindow import MainWindow

def check():
    [w] = [x for x in QApplication.topLevelWidgets() if isinstance(x, MainWindow) and x.isVisible()]
    print(json.dumps([e.key for e in w.project.images]), flush=True)
    w.close()
    QApplication.instance().quit()

app = QApplication(sys.argv[:1])
QTimer.singleShot(300, check)
sys.exit(main(sys.argv[1:]))
"""


def test_console_script_opens_the_given_folder(demo_folder, tmp_path):
    """In a child process: once ``app.exec()`` has returned, this process's later windows would no
    longer receive the shared worker's signals (tests after this one failed)."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "RIS_STUDIO_ALLOW_RANDOM": "1", "QT_QPA_PLATFORM": "offscreen",
           "RIS_STUDIO_SETTINGS": str(tmp_path / "console.ini")}
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", CONSOLE_PROBE, str(demo_folder), "--device", "cpu"], cwd=root, check=False,
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    keys = json.loads(out.stdout.strip().splitlines()[-1])
    assert keys == ["coffee_exif_rotated.jpg", "synth_scene_1.jpg", "synth_scene_3.jpg"]
    from app.main import main

    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
