"""GUI tests run offscreen, with QSettings in a temporary folder so no test touches real settings."""

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402


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


@pytest.fixture
def qsettings_tmp(tmp_path, monkeypatch):
    from PySide6.QtCore import QSettings

    QSettings.setDefaultFormat(QSettings.IniFormat)
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(tmp_path / "settings"))
    monkeypatch.setenv("RIS_STUDIO_SETTINGS", str(tmp_path / "settings" / "ris-studio.ini"))
    return tmp_path / "settings"
