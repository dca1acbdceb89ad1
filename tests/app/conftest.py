"""GUI tests run offscreen, with QSettings in a temporary folder so no test touches real settings."""

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"

import numpy as np
import pytest
from PIL import Image


@pytest.fixture
def image_folder(tmp_path):
    """Three small photos; the second is stored sideways with EXIF orientation 6 (display 40x60)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, name in enumerate(["a.png", "b.jpg", "c.png"]):
        arr = rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)
        img = Image.fromarray(arr)
        if name.endswith(".jpg"):
            exif = Image.Exif()
            exif[0x0112] = 6
            img.save(folder / name, exif=exif.tobytes(), quality=95)
        else:
            img.save(folder / name)
    return folder


@pytest.fixture(autouse=True)
def qsettings_tmp(tmp_path, monkeypatch):
    from PySide6.QtCore import QSettings

    QSettings.setDefaultFormat(QSettings.IniFormat)
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(tmp_path / "settings"))
    monkeypatch.setenv("RIS_STUDIO_SETTINGS", str(tmp_path / "settings" / "ris-studio.ini"))
    return tmp_path / "settings"


@pytest.fixture(scope="session")
def worker_thread(qapp):
    """One inference thread with the compact LGFormer (random weights: no checkpoint ships in tests)
    shared by every window of the session, so the model loads once."""
    from PySide6.QtCore import QEventLoop, QTimer

    from app.worker import WorkerThread

    wt = WorkerThread()
    loop = QEventLoop()
    infos = []
    wt.worker.modelLoaded.connect(lambda info: (infos.append(info), loop.quit()))
    wt.worker.modelFailed.connect(lambda msg: (infos.append(msg), loop.quit()))
    QTimer.singleShot(120_000, loop.quit)
    wt.worker.load_model("lgformer-compact", "auto", True)
    loop.exec()
    assert infos and isinstance(infos[0], dict), f"model did not load: {infos}"
    yield wt
    wt.stop()


@pytest.fixture
def demo_folder(tmp_path):
    """A copy of the demo scenes (the app writes its project file next to the images)."""
    import shutil
    from pathlib import Path

    src = Path(__file__).resolve().parents[2] / "resources" / "demo"
    dst = tmp_path / "demo"
    dst.mkdir()
    for name in ("synth_scene_1.jpg", "synth_scene_3.jpg", "coffee_exif_rotated.jpg"):
        shutil.copy(src / name, dst / name)
    return dst


@pytest.fixture
def make_window(qtbot, worker_thread):
    from app.mainwindow import MainWindow

    made = []

    def make(register=True):
        w = MainWindow(worker_thread=worker_thread, allow_random=True)
        if register:  # not for a window the test destroys itself
            made.append(w)
        w.resize(1000, 700)
        w.show()
        qtbot.waitUntil(lambda: w.model_info is not None, timeout=60_000)
        return w

    yield make
    # Closed here rather than by qtbot.addWidget: a window left with unsaved edits (a test of a
    # failed autosave) would otherwise ask its "unsaved annotations" question, modal, at teardown.
    for w in made:
        try:
            w.safety.discard_unsaved()
            w.tasks.finetune.stop_quietly()  # nor "a fine-tuning run is going; quit?"
            w.close()
            w.deleteLater()
        except RuntimeError:  # already deleted by the test
            pass
    qtbot.wait(10)


@pytest.fixture
def messages(monkeypatch):
    """Every QMessageBox.warning/critical the app shows, instead of a modal box."""
    from PySide6.QtWidgets import QMessageBox

    shown = []
    for name in ("warning", "critical", "information"):
        monkeypatch.setattr(QMessageBox, name, staticmethod(lambda parent, title, text, *a, **k:
                                                            shown.append((title, text)) or QMessageBox.Ok))
    return shown
