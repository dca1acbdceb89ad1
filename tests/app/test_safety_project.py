"""Safety of the project on disk, through the window (issue 11): missing images keep their
annotations, a second instance is detected, a file changed on disk is never overwritten silently,
a failed autosave never loses edits on a folder switch or quit, a batch undo refreshes every count."""

import json
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog, QMessageBox

from app import safety
from app.project import PROJECT_FILE, Project

pytestmark = pytest.mark.gui


@pytest.fixture
def answers(monkeypatch):
    """Scripted answers to the app's questions (app.safety.choose); records (title, keys) asked."""
    script, asked = [], []

    def choose(parent, title, text, options, default):
        asked.append((title, [k for k, _ in options], text))
        return script.pop(0)

    monkeypatch.setattr(safety, "choose", choose)
    return script, asked


def _mask(project, key):
    w, h = project.entry(key).upright_size()
    m = np.zeros((h, w), bool)
    m[5:25, 5:25] = True
    return m


def _file_anns(folder):
    data = json.loads((folder / PROJECT_FILE).read_text())
    return {im["file"]: [a["label"] for a in im["annotations"]] for im in data["images"]}


def test_missing_image_keeps_its_annotations_through_edits(qtbot, make_window, demo_folder, tmp_path, messages):
    w = make_window()
    assert w.open_paths([demo_folder])
    w.project.add("synth_scene_3.jpg", "star", "the star", _mask(w.project, "synth_scene_3.jpg"))
    w.project.close()
    away = tmp_path / "away.jpg"
    shutil.move(demo_folder / "synth_scene_3.jpg", away)  # the image is moved away

    w2 = make_window()
    assert w2.open_paths([demo_folder])
    assert w2.files.count_text("synth_scene_3.jpg") == "synth_scene_3.jpg  (1)  \u2014 missing"
    assert messages and "missing on disk" in messages[-1][1]
    w2.project.add("synth_scene_1.jpg", "ring", "the ring", _mask(w2.project, "synth_scene_1.jpg"))  # any edit
    w2.show_image("synth_scene_3.jpg")  # selecting it says so, without an error
    assert "missing on disk" in w2.statusBar().currentMessage() and w2.annotations.list.count() == 0
    assert _file_anns(demo_folder)["synth_scene_3.jpg"] == ["star"]  # still in the file

    shutil.move(away, demo_folder / "synth_scene_3.jpg")  # it comes back
    w2.show_image("synth_scene_3.jpg")
    qtbot.waitUntil(lambda: w2.image is not None and w2.key == "synth_scene_3.jpg", timeout=30_000)
    assert w2.annotations.list.count() == 1 and w2.files.count_text("synth_scene_3.jpg") == "synth_scene_3.jpg  (1)"


def test_second_window_on_the_same_folder_is_refused_or_read_only(qtbot, make_window, demo_folder, answers,
                                                                   messages):
    script, asked = answers
    w1 = make_window()
    assert w1.open_paths([demo_folder])
    w2 = make_window()
    script.append("cancel")
    assert not w2.open_paths([demo_folder]) and w2.project is None
    assert asked[-1][0] == "Already open" and "open in another RIS Studio" in asked[-1][2]

    script.append("read_only")
    assert w2.open_paths([demo_folder]) and w2.project.read_only
    assert w2.windowTitle().endswith("[read-only]")
    w1.project.add("synth_scene_1.jpg", "ring", "the ring", _mask(w1.project, "synth_scene_1.jpg"))
    w2._edit(w2.project.add, "synth_scene_1.jpg", "x", "x", _mask(w2.project, "synth_scene_1.jpg"))
    assert messages[-1][0] == "Cannot change the annotation" and "read-only" in messages[-1][1]
    w2.undo()  # refused with a message, no exception
    assert _file_anns(demo_folder)["synth_scene_1.jpg"] == ["ring"]  # w1's work is intact


def test_a_stale_lock_from_a_crashed_instance_is_recovered(qtbot, make_window, demo_folder, answers):
    code = ("import os, signal, sys; from app.project import Project; "
            "p = Project.open([sys.argv[1]], lock=True); os.kill(os.getpid(), signal.SIGKILL)")
    proc = subprocess.run([sys.executable, "-c", code, str(demo_folder)], check=False)
    assert proc.returncode == -signal.SIGKILL
    assert (demo_folder / f".{PROJECT_FILE}.lock").exists()  # left behind by the crash
    w = make_window()
    assert w.open_paths([demo_folder]) and not w.project.read_only
    assert answers[1] == []  # nothing asked


def test_project_changed_on_disk_is_never_overwritten_silently(qtbot, make_window, demo_folder, answers,
                                                               monkeypatch, tmp_path):
    script, asked = answers
    w = make_window()
    assert w.open_paths([demo_folder])
    w.project.add("synth_scene_1.jpg", "ring", "the ring", _mask(w.project, "synth_scene_1.jpg"))
    theirs = json.loads((demo_folder / PROJECT_FILE).read_text())  # someone else edits the file
    theirs["images"][[im["file"] for im in theirs["images"]].index("synth_scene_1.jpg")]["annotations"][0][
        "label"] = "theirs"
    (demo_folder / PROJECT_FILE).write_text(json.dumps(theirs))
    os.utime(demo_folder / PROJECT_FILE, (1, 1))  # a different stat, whatever the clock's resolution

    script.append("cancel")  # "Decide later"
    w.project.add("synth_scene_3.jpg", "star", "the star", _mask(w.project, "synth_scene_3.jpg"))
    qtbot.waitUntil(lambda: bool(asked), timeout=5_000)
    assert asked[-1][0] == "Project changed on disk" and set(asked[-1][1]) == {"save_as", "overwrite", "reload",
                                                                                 "cancel"}
    assert _file_anns(demo_folder)["synth_scene_1.jpg"] == ["theirs"]  # not overwritten
    w.project.add("synth_scene_3.jpg", "star", "another", _mask(w.project, "synth_scene_3.jpg"))
    qtbot.wait(50)
    assert len(asked) == 1  # asked once, not on every edit

    # Quitting asks again; "Save mine elsewhere" keeps both versions.
    mine = tmp_path / "mine.project.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(mine), "")))
    script.append("save_as")
    w.close()
    assert asked[-1][0] == "Unsaved annotations" and not w.isVisible()
    assert _file_anns(demo_folder)["synth_scene_1.jpg"] == ["theirs"]
    again = Project.open([demo_folder], project_file=mine)
    assert [a.label for a in again.annotations("synth_scene_3.jpg")] == ["star", "star"]


def test_overwrite_after_a_change_on_disk_keeps_a_backup(qtbot, make_window, demo_folder, answers):
    script, _asked = answers
    w = make_window()
    assert w.open_paths([demo_folder])
    w.project.add("synth_scene_1.jpg", "ring", "the ring", _mask(w.project, "synth_scene_1.jpg"))
    (demo_folder / PROJECT_FILE).write_text((demo_folder / PROJECT_FILE).read_text().replace('"ring"', '"theirs"'))
    os.utime(demo_folder / PROJECT_FILE, (1, 1))
    script.append("overwrite")
    w.project.add("synth_scene_3.jpg", "star", "the star", _mask(w.project, "synth_scene_3.jpg"))
    qtbot.waitUntil(lambda: not w.project.dirty, timeout=5_000)
    assert _file_anns(demo_folder)["synth_scene_3.jpg"] == ["star"]
    [backup] = demo_folder.glob(f"{PROJECT_FILE}.backup-*")
    assert '"theirs"' in backup.read_text()


def test_failed_autosave_then_folder_switch_or_quit_never_drops_edits(qtbot, make_window, demo_folder, image_folder,
                                                                      answers, monkeypatch, tmp_path, messages):
    script, asked = answers
    from rismodel.fileio import WriteError, atomic_write_bytes

    def write(path, data, *a, **k):  # the project's folder is full / read-only; elsewhere works
        if os.path.dirname(os.path.abspath(path)) == str(demo_folder):
            raise WriteError(f"cannot write {path}: No space left on device")
        return atomic_write_bytes(path, data, *a, **k)

    monkeypatch.setattr("app.project.atomic_write_bytes", write)
    monkeypatch.setattr("app.project.model.atomic_write_bytes", write, raising=False)
    w = make_window()
    assert w.open_paths([demo_folder])
    w.project.add("synth_scene_1.jpg", "ring", "the ring", _mask(w.project, "synth_scene_1.jpg"))
    assert [t for t, _ in messages] == ["Autosave failed"] and w.project.dirty

    script.append("cancel")
    assert not w.open_paths([image_folder])  # the user switches folders: asked, Cancel stays
    assert asked[-1][0] == "Unsaved annotations" and "discard" in asked[-1][1] and "export" in asked[-1][1]
    assert w.project.folder == demo_folder and w.project.count("synth_scene_1.jpg") == 1

    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: QMessageBox.No))
    script.extend(["discard", "cancel"])  # Discard needs a confirmation; No goes back to the question
    assert not w.open_paths([image_folder]) and w.project.count("synth_scene_1.jpg") == 1

    saved = tmp_path / "elsewhere.project.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(saved), "")))
    script.append("save_as")
    assert w.open_paths([image_folder]) and w.project.folder == image_folder
    back = Project.open([demo_folder], project_file=saved)
    assert [a.label for a in back.annotations("synth_scene_1.jpg")] == ["ring"]

    # Quitting after a failed autosave: Cancel keeps the window; Export then quits.
    w.open_paths([demo_folder])
    w.project.add("synth_scene_3.jpg", "star", "the star", _mask(w.project, "synth_scene_3.jpg"))
    script.append("cancel")
    w.close()
    assert w.isVisible() and asked[-1][0] == "Unsaved annotations"
    coco = tmp_path / "export.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(coco), "")))
    script.append("export")
    w.close()
    assert not w.isVisible()
    assert {a["category_id"] for a in json.loads(coco.read_text())["annotations"]}


def test_batch_undo_and_redo_refresh_every_image_count(qtbot, make_window, demo_folder):
    w = make_window()
    assert w.open_paths([demo_folder])
    p = w.project
    keys = [e.key for e in p.images]
    p.add_many([(k, p.new_annotation(k, "thing", "the thing", _mask(p, k), source="batch")) for k in keys])
    assert all(w.files.count_text(k).endswith("(1)") for k in keys)
    w.actions["undo"].trigger()
    assert [w.files.count_text(k) for k in keys] == [f"{k}  (0)" for k in keys]
    w.actions["redo"].trigger()
    assert [w.files.count_text(k) for k in keys] == [f"{k}  (1)" for k in keys]


def test_file_save_project_as_writes_elsewhere_and_autosave_follows(qtbot, make_window, demo_folder, tmp_path,
                                                                    monkeypatch):
    w = make_window()
    assert w.open_paths([demo_folder])
    target = tmp_path / "copy.project.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), "")))
    w.actions["save_as"].trigger()  # File > Save project as...
    assert w.project.file == target and target.exists()
    w.project.add("synth_scene_1.jpg", "ring", "the ring", _mask(w.project, "synth_scene_1.jpg"))
    again = Project.open([demo_folder], project_file=target)
    assert [a.label for a in again.annotations("synth_scene_1.jpg")] == ["ring"]
