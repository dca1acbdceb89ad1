"""Errors become messages (the app goes on); batch runs and fine-tuning jobs report progress."""

import sys

import numpy as np
import pytest
from PySide6.QtWidgets import QMessageBox

from app.jobs import FineTuneJob, finetune_command
from rismodel.fileio import WriteError

pytestmark = pytest.mark.gui


def _wait_image(qtbot, w, key):
    w.show_image(key)
    qtbot.waitUntil(lambda: w.image is not None and w.key == key, timeout=30_000)


def test_errors_show_messages_and_the_app_goes_on(qtbot, make_window, demo_folder, monkeypatch, messages):
    (demo_folder / "broken.jpg").write_bytes(b"this is not a JPEG")
    (demo_folder / "bad.safetensors").write_bytes(b"\x00garbage")
    w = make_window()
    assert w.open_paths([demo_folder])

    w.show_image("broken.jpg")  # unreadable image
    qtbot.waitUntil(lambda: len(messages) == 1, timeout=10_000)
    assert messages[-1][0] == "Cannot open image" and "broken.jpg" in messages[-1][1]

    name = w.model_info["name"]
    w.load_model(str(demo_folder / "bad.safetensors"))  # bad checkpoint: message, previous model kept
    qtbot.waitUntil(lambda: len(messages) == 2, timeout=30_000)
    assert messages[-1][0] == "Model" and f"Still using {name}" in messages[-1][1]
    assert w.status_model.text().startswith(name)

    _wait_image(qtbot, w, "synth_scene_3.jpg")
    w.live.set_image("odd", np.zeros((8, 8, 4), np.uint8))  # inference failure (not an RGB image)
    w.live.set_text("the star")
    qtbot.waitUntil(lambda: len(messages) == 3, timeout=30_000)
    assert messages[-1][0] == "Inference failed" and "expected an [H, W, 3]" in messages[-1][1]

    from rismodel.predictor import CudaOutOfMemory

    pred = w.worker._predictor
    monkeypatch.setattr(pred, "predict", lambda *a, **k: (_ for _ in ()).throw(
        CudaOutOfMemory("the GPU ran out of memory; switch the device to CPU")))
    w.live.set_image(w.key, w.image)
    w.live.set_text("the cross")
    qtbot.waitUntil(lambda: len(messages) == 4, timeout=30_000)
    assert "switch the device to CPU" in messages[-1][1] and not w.live.busy
    monkeypatch.undo()  # the messages fixture is gone too: record again
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(lambda p, t, m, *a, **k: shown.append((t, m))))

    def fail(*a, **k):
        raise WriteError("cannot write ris-studio.project.json: Read-only file system")

    monkeypatch.setattr("app.project.atomic_write_bytes", fail)  # unwritable folder
    mask = np.ones((w.image.shape[0], w.image.shape[1]), bool)
    w.project.add(w.key, "x", "e", mask)
    w.project.add(w.key, "y", "e", mask)
    assert [t for t, _ in shown] == ["Autosave failed"]  # said once, edits kept in memory
    assert w.project.count(w.key) == 2
    assert w.tasks.export_coco(str(demo_folder / "synth_scene_1.jpg" / "x.json")) is False  # a file, not a dir
    assert shown[-1][0] == "Export failed"


def test_batch_adds_reviewable_annotations_with_one_undo(qtbot, make_window, demo_folder, messages):
    w = make_window()
    assert w.open_paths([demo_folder])
    w.prompt.threshold.setValue(1)  # random weights: a low threshold makes masks non-empty
    job = w.tasks.run_batch(["the star", "the ring"])
    with qtbot.waitSignal(job.finished, timeout=60_000) as sig:
        pass
    items, cancelled, errors = sig.args
    assert not cancelled and errors == ""
    total = sum(w.project.count(e.key) for e in w.project.images)
    assert total == len(items) > 0
    assert {a.source for _, a in w.project.all_annotations()} == {"batch"}
    assert {tuple(a.expressions) for _, a in w.project.all_annotations()} <= {("the star",), ("the ring",)}
    w.undo()
    assert sum(w.project.count(e.key) for e in w.project.images) == 0

    job = w.tasks.run_batch(["the star"])  # Cancel at once: stops before the last of the 3 images
    job.dialog.canceled.emit()  # what the Cancel button emits
    with qtbot.waitSignal(job.finished, timeout=60_000) as sig:
        pass
    assert sig.args[1] is True and len(sig.args[0]) < len(w.project.images)


def test_finetune_config_is_valid_for_rismodel_train(tmp_path):
    from app.frozen import rismodel_command
    from rismodel.training.config import load_train_config

    argv, cfg_path = finetune_command("w.safetensors", "lgformer-compact", tmp_path / "x.json", tmp_path,
                                      tmp_path / "run1", steps=7, lr=3e-5)
    prefix = rismodel_command()
    assert argv[:len(prefix) + 1] == prefix + ["train"] and argv[-2:] == ["--init", "w.safetensors"]
    cfg = load_train_config(str(cfg_path), [])
    assert cfg.data.format == "coco" and cfg.data.coco_file == str(tmp_path / "x.json")
    assert cfg.train.max_steps == 7 and cfg.train.out == str(tmp_path / "run1") and cfg.train.lr == 3e-5


def test_finetune_job_reports_progress_and_result(qtbot, tmp_path):
    script = tmp_path / "fake_train.py"  # stands in for the training process: prints what train prints
    script.write_text("import sys, time\nfor i in (5, 10):\n    print(f'step {i}/10 loss 0.5', flush=True)\n"
                      "    time.sleep(0.05)\nprint('done: 10 steps; weights: /runs/x/model.safetensors')\n")
    job = FineTuneJob([sys.executable, str(script)])
    steps = []
    job.progress.connect(lambda step, total, line: steps.append((step, total)))
    with qtbot.waitSignal(job.finished, timeout=20_000) as sig:
        pass
    outcome, ckpt, log = sig.args
    assert outcome == "done" and ckpt == "/runs/x/model.safetensors" and "step 10/10" in log
    assert steps == [(5, 10), (10, 10)]

    crash = tmp_path / "crash.py"
    crash.write_text("import sys\nprint('step 1/10', flush=True)\nsys.exit('CUDA error: boom')\n")
    job = FineTuneJob([sys.executable, str(crash)])
    with qtbot.waitSignal(job.finished, timeout=20_000) as sig:
        pass
    assert sig.args[0] == "failed" and "boom" in sig.args[2]

    job = FineTuneJob([str(tmp_path / "no-such-program")])
    with qtbot.waitSignal(job.finished, timeout=20_000) as sig:
        pass
    assert sig.args[0] == "failed" and "cannot start" in sig.args[2]

    slow = tmp_path / "slow.py"
    slow.write_text("import time\nprint('step 1/100', flush=True)\ntime.sleep(30)\n")
    job = FineTuneJob([sys.executable, str(slow)])
    qtbot.waitUntil(lambda: bool(job.log), timeout=10_000)
    with qtbot.waitSignal(job.finished, timeout=10_000) as sig:
        job.cancel()
    assert sig.args[0] == "cancelled"  # a cancel is a cancel, not a failure
