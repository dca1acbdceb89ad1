"""``python -m app.bench_responsiveness``: how long the GUI thread goes without processing events
while a 6000x4000 photo loads and three expressions are segmented.

A 10 ms timer ticks on the GUI thread; the gaps between ticks are the figure (a gap is the longest
time a click or a key press would wait). It depends on the machine and its load, so it is printed,
not asserted; the test suite keeps only a bound that a real freeze breaks
(tests/app/test_gui_threading.py uses :func:`measure` too).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

TEXTS = ("the red square", "the large red square", "the dark background")


def make_big_photo(folder: Path, width: int = 6000, height: int = 4000) -> Path:
    from PIL import Image

    big = np.zeros((height, width, 3), np.uint8)
    big[height // 4:3 * height // 4, width // 4:3 * width // 4] = (200, 40, 40)
    path = folder / "big.jpg"
    Image.fromarray(big).save(path, quality=80)
    return path


def measure(window, folder: Path, wait: Callable[[Callable[[], bool], int], None], texts=TEXTS) -> dict:
    """Open ``folder`` (one big photo) in ``window``, segment ``texts``; the tick gaps in seconds.

    ``wait(condition, timeout_ms)`` runs the event loop until the condition holds (qtbot.waitUntil
    in tests, :func:`wait_until` here)."""
    from PySide6.QtCore import QTimer

    gaps, last = [], [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(10)
    try:
        if not window.open_paths([folder]):
            raise RuntimeError(f"cannot open {folder}")
        key = window.project.images[0].key
        window.show_image(key)
        wait(lambda: window.image is not None and window.key == key, 120_000)
        for text in texts:
            window.live.set_text(text)
            wait(lambda t=text: window.live.result is not None and window.live.result["text"] == t, 120_000)
    finally:
        timer.stop()
    return {"gaps": gaps, "latency": window.status_latency.text(), "shape": window.image.shape}


def wait_until(condition: Callable[[], bool], timeout_ms: int) -> None:
    from PySide6.QtCore import QCoreApplication, QEventLoop

    end = time.monotonic() + timeout_ms / 1000
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("the app did not answer in time")
        QCoreApplication.processEvents(QEventLoop.AllEvents, 20)
        time.sleep(0.002)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.bench_responsiveness", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1, help="repeat the measurement (a new window each time)")
    parser.add_argument("--width", type=int, default=6000)
    parser.add_argument("--height", type=int, default=4000)
    args = parser.parse_args(argv)
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    tmp = Path(tempfile.mkdtemp(prefix="ris-bench-"))
    os.environ["RIS_STUDIO_SETTINGS"] = str(tmp / "settings.ini")  # never the user's settings

    from PySide6.QtWidgets import QApplication

    from .mainwindow import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    folder = tmp / "photos"
    folder.mkdir()
    make_big_photo(folder, args.width, args.height)
    for run in range(args.runs):
        window = MainWindow(allow_random=True)
        window.show()
        wait_until(lambda w=window: w.model_info is not None, 180_000)
        r = measure(window, folder, wait_until)
        gaps_ms = sorted(g * 1000 for g in r["gaps"])
        p99 = gaps_ms[min(len(gaps_ms) - 1, int(len(gaps_ms) * 0.99))]
        print(f"run {run + 1}: event-loop gaps while a {args.width}x{args.height} photo loads and "
              f"{len(TEXTS)} expressions segment: max {gaps_ms[-1]:.0f} ms, p99 {p99:.0f} ms, "
              f"median {statistics.median(gaps_ms):.0f} ms over {len(gaps_ms)} ticks of a 10 ms timer; "
              f"model {window.model_info['name']}, last latency {r['latency']}", flush=True)
        window.close()
        window.deleteLater()
        app.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
