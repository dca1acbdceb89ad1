"""Safety: fine-tuning runs in the background, asks before stopping (a typed space cannot stop it),
reports a cancel as a cancel, and trains on the annotations, steps and learning rate chosen."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QMessageBox

from app import finetune
from app.finetune import Options, OptionsDialog
from app.project import TO_REVIEW

pytestmark = pytest.mark.gui

FAKE_TRAIN = """\
import sys, time, yaml
args = sys.argv[1:]
cfg = yaml.safe_load(open(args[args.index("--config") + 1]))
n = cfg["train"]["max_steps"]
for i in range(1, n + 1):
    print(f"step {i}/{n} loss 0.5", flush=True)
    time.sleep(0.1)
print(f"done: {n} steps; weights: {cfg['train']['out']}/model.safetensors", flush=True)
"""


@pytest.fixture
def window(qtbot, make_window, demo_folder, monkeypatch, tmp_path):
    """A window on the demo folder with two annotations (one still to review) and a fake trainer
    (``rismodel train`` stand-in: reads the config, prints a step every 0.1 s)."""
    script = tmp_path / "fake_rismodel.py"
    script.write_text(FAKE_TRAIN)
    monkeypatch.setattr("app.jobs.rismodel_command", lambda: [sys.executable, str(script)])
    w = make_window()
    assert w.open_paths([demo_folder])
    w.show_image("synth_scene_1.jpg")
    qtbot.waitUntil(lambda: w.image is not None and w.key == "synth_scene_1.jpg", timeout=30_000)
    mask = np.zeros(w.image.shape[:2], bool)
    mask[10:50, 10:50] = True
    w.accepted = w.project.add(w.key, "ring", "the ring", mask)
    w.to_review = w.project.add(w.key, "star", "the star", ~mask, source="batch", review=TO_REVIEW, score=0.7)
    return w


def test_finetune_runs_in_background_asks_before_stopping_and_reports_a_cancel(qtbot, window, monkeypatch,
                                                                               messages):
    w = window
    asked = []
    monkeypatch.setattr(finetune, "ask_options",
                        lambda parent, counts, defaults: asked.append(counts) or Options("all", 400, 1e-5))
    job = w.tasks.fine_tune()
    assert asked == [{"all": 2, "accepted": 1, "image": 2}]
    qtbot.waitUntil(lambda: job.step >= 2, timeout=20_000)
    panel = w.tasks.finetune.panel
    assert QApplication.activeModalWidget() is None  # no modal dialog: the window stays usable
    assert panel.isVisible() and panel.label.text().startswith("Fine-tuning: step")

    # The user goes on annotating: typing spaces anywhere never presses Stop.
    w.prompt.expression.setFocus()
    qtbot.keyClicks(w.prompt.expression, "the red circle ")
    qtbot.keyClick(QApplication.focusWidget() or w, Qt.Key_Space)
    assert panel.stop.focusPolicy() == Qt.NoFocus
    assert job.running() and w.prompt.expression.text() == "the red circle  "

    seen = []

    def answer(button_text):
        box = QApplication.activeModalWidget()
        seen.append((box.windowTitle(), box.defaultButton().text()))
        next(b for b in box.buttons() if b.text() == button_text).click()

    QTimer.singleShot(100, lambda: answer("Keep training"))
    qtbot.mouseClick(panel.stop, Qt.LeftButton)  # Stop... asks first; keeping it is the default
    assert seen == [("Stop fine-tuning?", "Keep training")]
    qtbot.wait(300)
    assert job.running()

    QTimer.singleShot(100, lambda: answer("Stop fine-tuning"))
    with qtbot.waitSignal(job.finished, timeout=10_000) as sig:
        qtbot.mouseClick(panel.stop, Qt.LeftButton)
    assert sig.args[0] == "cancelled"
    qtbot.wait(50)
    assert not messages  # no "The training process failed"
    assert "cancelled" in w.statusBar().currentMessage()
    assert w.tasks.finetune.job is None and w.tasks.finetune.panel is None


def test_finetune_trains_on_the_chosen_annotations_steps_and_rate(qtbot, window, demo_folder, monkeypatch,
                                                                   messages):
    w = window
    loaded = []
    monkeypatch.setattr(w, "load_model", loaded.append)
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: QMessageBox.Yes))
    job = w.tasks.fine_tune(Options("accepted", 3, 2e-5))
    with qtbot.waitSignal(job.finished, timeout=20_000) as sig:
        pass
    outcome, ckpt, _log = sig.args
    assert outcome == "done" and loaded == [ckpt]
    [cfg_path] = (demo_folder / "ris-studio-finetune").glob("run-*.yaml")
    cfg = yaml.safe_load(cfg_path.read_text())
    assert cfg["train"]["max_steps"] == 3 and cfg["train"]["lr"] == 2e-5
    coco = json.loads(Path(cfg["data"]["coco_file"]).read_text())
    assert [a["id"] for a in coco["annotations"]] == [w.accepted.id]  # the one still to review is left out
    assert [im["file_name"] for im in coco["images"]] == ["synth_scene_1.jpg"]
    assert not messages


def test_options_dialog_offers_scope_steps_and_learning_rate(qtbot):
    d = OptionsDialog(None, {"all": 2, "accepted": 1, "image": 0}, Options())
    qtbot.addWidget(d)
    scope = {b.objectName(): b for b in d.group.buttons()}
    assert scope["scope_all"].isChecked() and not scope["scope_image"].isEnabled()
    scope["scope_accepted"].setChecked(True)
    d.steps.setValue(50)
    d.lr.setText("3e-5")
    assert d.options() == Options("accepted", 50, 3e-5)
    d.lr.setText("-1")
    assert not d.buttons.button(QDialogButtonBox.Ok).isEnabled()
