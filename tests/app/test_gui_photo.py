"""photo-coco in the app: chosen from the Model menu, typing stays live, the explanation shows in
the verdict line, the model-info dialog states its vocabulary."""

import shutil
from pathlib import Path

import pytest

from app import dialogs

pytestmark = pytest.mark.gui

PHOTO = Path(__file__).resolve().parents[2] / "resources" / "realphoto" / "voc.jpg"


def test_photo_coco_from_the_model_menu(qtbot, make_window, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(PHOTO, folder)
    w = make_window()
    try:
        assert w.open_paths([str(folder)])
        qtbot.waitUntil(lambda: w.image is not None, timeout=30_000)
        w.actions["model_photo"].trigger()
        qtbot.waitUntil(lambda: w.model_info is not None and w.model_info["name"] == "photo-coco",
                        timeout=120_000)
        w.live.set_text("the woman in the red jacket")
        qtbot.waitUntil(lambda: w.live.result is not None, timeout=60_000)
        text, level = w.live.verdict()
        assert "chose person" in text and "colour red" in text and level in ("ok", "warn")
        assert w.live.mask().any()
        w.live.set_text("the giraffe")
        qtbot.waitUntil(lambda: w.live.result is not None, timeout=60_000)
        assert "no giraffe detected" in w.live.verdict()[0] and not w.live.mask().any()
        html = dialogs.model_info_html(w.model_info)
        assert "80 COCO object classes" in html and "photo-coco" in html
    finally:  # the worker thread is shared by the session's windows: give back the compact model
        w.use_lgformer()
        qtbot.waitUntil(lambda: w.model_info is not None and w.model_info["name"] == "lgformer-compact",
                        timeout=120_000)
