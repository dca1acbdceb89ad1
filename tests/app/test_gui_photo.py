"""photo-coco in the app: chosen from the Model menu, typing stays live, the explanation shows in
the verdict line, the model-info dialog states its vocabulary."""

import shutil
from pathlib import Path

import pytest

from app import dialogs

pytestmark = pytest.mark.gui

PHOTO = Path(__file__).resolve().parents[2] / "resources" / "realphoto" / "voc.jpg"


def test_photo_coco_from_the_model_menu(qtbot, make_window, tmp_path, messages):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(PHOTO, folder)
    w = make_window()
    try:
        assert w.open_paths([str(folder)])
        qtbot.waitUntil(lambda: w.image is not None, timeout=30_000)
        qtbot.waitUntil(lambda: w.model_info is not None, timeout=120_000)
        # Proposing needs photo-coco: with a compact model it says so and adds nothing.
        assert w.model_info["name"] != "photo-coco"
        w.actions["propose"].trigger()
        assert messages and "photo-coco" in messages[-1][1] and w.project.count(w.key) == 0
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
        # The teacher loop on the open folder: proposals arrive "to review", labelled by class, with
        # several generated expressions each; accepting one is what Fine-tune's "accepted" trains on.
        job = w.tasks.propose_objects()
        assert job is not None
        qtbot.waitUntil(lambda: w.tasks.job is None, timeout=120_000)
        anns = w.project.annotations(w.key)
        assert len(anns) >= 3 and all(a.review == "to_review" and a.score is not None for a in anns)
        assert "person" in {a.label for a in anns}
        assert any(len(a.expressions) >= 2 for a in anns)
        assert all(a.mask.shape == w.image.shape[:2] for a in anns)
        w.project.accept([(w.key, anns[0].id)])
        assert w.project.get(w.key, anns[0].id).review == "accepted"
    finally:  # the worker thread is shared by the session's windows: give back the compact model
        w.use_lgformer()
        qtbot.waitUntil(lambda: w.model_info is not None and w.model_info["name"] == "lgformer-compact",
                        timeout=120_000)
