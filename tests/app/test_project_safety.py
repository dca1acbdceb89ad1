"""Data safety of the project layer (issues 11 and 13): missing images, non-UTF-8 names, a second
instance, a file changed on disk, save elsewhere after a failed autosave, batch undo keys, and
kill -9 / full disk during autosave."""

import gc
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from app.export import export_coco
from app.project import (
    PROJECT_FILE,
    Project,
    ProjectChangedError,
    ProjectLockedError,
    ProjectReadOnlyError,
    WriteError,
)


def _mask(h=40, w=60, y0=5, y1=20, x0=5, x1=30):
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


# ----- item: annotations of missing images stay in the file -------------------------------------
def test_annotations_of_a_missing_image_survive_edits_and_come_back(image_folder, tmp_path):
    p = Project.open([image_folder])
    b = p.add("b.jpg", "bar", ["the bar", "left bar"], _mask(60, 40))
    p.add("a.png", "x", "e", _mask())
    del p
    (image_folder / "b.jpg").rename(tmp_path / "b.jpg")
    q = Project.open([image_folder])
    assert q.missing() == ["b.jpg"] and q.entry("b.jpg").missing
    assert [e.key for e in q.images] == ["a.png", "b.jpg", "c.png"]  # the file list can show it
    q.add("a.png", "y", "e2", _mask())  # any edit saves the project
    q.remove("a.png", q.annotations("a.png")[0].id)
    data = json.loads((image_folder / PROJECT_FILE).read_text())
    [im] = [im for im in data["images"] if im["file"] == "b.jpg"]
    assert [a["id"] for a in im["annotations"]] == [b.id] and im["size"] == [40, 60]
    skipped = export_coco(q, tmp_path / "out.json")
    assert any("b.jpg" in s and "missing" in s for s in skipped)
    (tmp_path / "b.jpg").rename(image_folder / "b.jpg")
    r = Project.open([image_folder])
    assert r.missing() == [] and r.get("b.jpg", b.id).expressions == ["the bar", "left bar"]
    assert np.array_equal(r.get("b.jpg", b.id).mask, _mask(60, 40))


# ----- item: a non-UTF-8 file name never blocks saves or exports ----------------------------------
@pytest.mark.skipif(sys.platform != "linux", reason="file names are bytes on Linux only")
def test_non_utf8_file_name_does_not_block_saves_or_exports(image_folder, tmp_path):
    import shutil

    bad = os.fsdecode(b"caf\xe9.png")  # Latin-1 bytes: not UTF-8
    shutil.copy(image_folder / "a.png", os.path.join(os.fsencode(image_folder), b"caf\xe9.png"))
    p = Project.open([image_folder])
    assert bad in [e.key for e in p.images]
    errors = []
    p.error_listeners.append(errors.append)
    p.add(bad, "x", "on the odd name", _mask())
    p.add("a.png", "y", "on a.png", _mask())
    assert errors == [] and not p.dirty
    raw = (image_folder / PROJECT_FILE).read_bytes()
    raw.decode("utf-8")  # strict UTF-8 JSON
    q = Project.open([image_folder])
    assert q.count(bad) == 1 and q.count("a.png") == 1
    assert q.entry(bad).path.exists()
    skipped = export_coco(q, tmp_path / "out.json")
    assert len(skipped) == 1 and "not valid UTF-8" in skipped[0]
    coco = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert [im["file_name"] for im in coco["images"]] == ["a.png", "b.jpg", "c.png"]


# ----- item: second instance: lock, stale lock, read-only --------------------------------------
def test_second_instance_in_this_process_is_refused_until_the_first_closes(image_folder):
    p = Project.open([image_folder], lock=True)
    with pytest.raises(ProjectLockedError, match="open in another RIS Studio") as info:
        Project.open([image_folder], lock=True)
    assert info.value.holder.pid == os.getpid()
    ro = Project.open([image_folder], read_only=True)
    with pytest.raises(ProjectReadOnlyError):
        ro.add("a.png", "x", "e", _mask())
    p.close()
    q = Project.open([image_folder], lock=True)
    del q
    gc.collect()  # a dropped project releases its lock
    Project.open([image_folder], lock=True).close()


def test_lock_held_by_another_process_then_stale_after_kill(image_folder):
    code = ("import sys, time; from app.project import Project; "
            f"p = Project.open([{str(image_folder)!r}], lock=True); print('locked', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(ProjectLockedError) as info:
            Project.open([image_folder], lock=True)
        assert info.value.holder.pid == proc.pid and str(proc.pid) in str(info.value)
    finally:
        proc.kill()
        proc.wait()
    p = Project.open([image_folder], lock=True)  # the holder died: its lock is stale
    assert p.lock.held
    p.close()
    assert not (image_folder / f".{PROJECT_FILE}.lock").exists()


def test_file_changed_on_disk_is_never_silently_overwritten(image_folder):
    p1 = Project.open([image_folder])
    p2 = Project.open([image_folder])
    a1 = p1.add("a.png", "one", "first window", _mask())
    errors = []
    p2.error_listeners.append(errors.append)
    p2.add("c.png", "two", "second window", _mask())
    assert isinstance(p2.last_save_error, ProjectChangedError) and p2.dirty
    assert errors and errors[0].startswith("Autosave stopped")
    on_disk = Project.open([image_folder])
    assert on_disk.count("a.png") == 1 and on_disk.count("c.png") == 0  # p1's work is intact
    with pytest.raises(ProjectChangedError):
        p2.save()
    backup = p2.save(force=True)  # the user chose "overwrite"
    assert backup is not None and json.loads(backup.read_text())["images"][0]["annotations"][0]["id"] == a1.id
    assert not p2.dirty and Project.open([image_folder]).count("c.png") == 1


def test_project_file_appearing_after_open_counts_as_changed(image_folder):
    p = Project.open([image_folder], autosave=False)
    Project.open([image_folder]).add("a.png", "x", "other", _mask())
    p.add("c.png", "y", "mine", _mask())
    assert p.disk_changed()
    with pytest.raises(ProjectChangedError):
        p.save()


# ----- item: save elsewhere after autosave failed; dirty flag ------------------------------------
def test_autosave_failure_then_save_elsewhere(image_folder, tmp_path, monkeypatch):
    import app.project

    real = app.project.atomic_write_bytes
    target = image_folder / PROJECT_FILE

    def fail_in_folder(path, data):
        if os.path.abspath(path) == str(target):
            raise WriteError(f"cannot write {path}: no space left on the disk")
        real(path, data)

    monkeypatch.setattr("app.project.atomic_write_bytes", fail_in_folder)
    p = Project.open([image_folder])
    errors = []
    p.error_listeners.append(errors.append)
    assert not p.dirty
    a = p.add("a.png", "x", "kept in memory", _mask())
    assert p.dirty and "no space left" in errors[0] and isinstance(p.last_save_error, WriteError)
    elsewhere = tmp_path / "elsewhere" / "rescue.project.json"
    p.save_as(elsewhere)
    assert not p.dirty and p.file == elsewhere
    p.add("c.png", "y", "after the rescue", _mask())  # later autosaves go to the new file
    assert not p.dirty and len(errors) == 1
    q = Project.open([image_folder], project_file=elsewhere)
    assert q.get("a.png", a.id).expressions == ["kept in memory"] and q.count("c.png") == 1


# ----- item: undo/redo of a batch reports every image it touched --------------------------------
def test_batch_undo_and_redo_report_every_touched_image(image_folder):
    p = Project.open([image_folder], autosave=False)
    events = []
    p.listeners.append(lambda ev, key: events.append((ev, key)))
    sizes = {"a.png": (40, 60), "b.jpg": (60, 40), "c.png": (40, 60)}
    p.add_many([(k, p.new_annotation(k, "x", "e", _mask(*hw))) for k, hw in sizes.items()])
    events.clear()
    assert p.undo() == ["a.png", "b.jpg", "c.png"]
    assert events == [("undo", "a.png"), ("refresh", "b.jpg"), ("refresh", "c.png")]
    assert all(p.count(k) == 0 for k in sizes)
    assert p.redo() == ["a.png", "b.jpg", "c.png"] and all(p.count(k) == 1 for k in sizes)
    assert p.undo_text() == "batch" and p.redo_text() is None


# ----- faults: kill -9 during autosave, full disk ---------------------------------------------
def test_kill_9_during_autosave_keeps_the_last_good_file(tmp_path):
    from app.project.soak import kill_soak, make_folder

    folder = make_folder(tmp_path / "photos", n_images=3, size=(240, 160))
    fig = kill_soak(folder, kills=4, seed=1, max_delay=0.4)
    assert fig.failures == [] and fig.kills == 4 and fig.intact == 4
    assert fig.edits_confirmed > 0  # the child really was saving when it was killed


def test_full_disk_during_autosave_tells_the_user_and_keeps_the_file(tmp_path):
    from app.project.soak import full_disk, make_folder

    folder = make_folder(tmp_path / "photos", n_images=1, size=(300, 200))
    p = Project.open([folder])
    p.add("img0.png", "x", "first", np.ones((200, 300), bool))
    del p
    result = full_disk(folder)
    assert result["errors"] and "Autosave failed" in result["errors"][0]
    assert result["dirty"] and result["count"] == 2 and result["file_unchanged"]
    assert Project.open([folder]).count("img0.png") == 1


def test_lock_release_and_acquire_again(image_folder):
    p = Project.open([image_folder], lock=True)
    assert p.lock.acquire() is None  # already held: idempotent
    p.close()
    other = Project.open([image_folder], lock=True)  # the window tried another project ...
    other.close()
    assert p.lock.acquire() is None and p.lock.held  # ... and stays on this one
    with pytest.raises(ProjectLockedError):
        Project.open([image_folder], lock=True)
    p.close()


def test_a_touched_but_identical_file_is_not_a_change(image_folder):
    p = Project.open([image_folder])
    p.add("a.png", "x", "e", _mask())
    f = image_folder / PROJECT_FILE
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # backup tools, rsync -t ...
    assert not p.disk_changed()
    p.add("c.png", "y", "e", _mask())
    assert not p.dirty and p.last_save_error is None


def test_locks_from_other_hosts_or_half_written_are_judged_safely(image_folder):
    from app.project import ProjectLock

    lock = image_folder / f".{PROJECT_FILE}.lock"
    lock.write_text(json.dumps({"pid": 1, "host": "another-machine", "started": 0}))
    with pytest.raises(ProjectLockedError, match="another-machine"):
        Project.open([image_folder], lock=True)  # cannot be checked from here: held
    ProjectLock(lock).break_lock()  # the user says the other machine is gone
    Project.open([image_folder], lock=True).close()
    lock.write_text("{not json")  # a lock being written right now ...
    with pytest.raises(ProjectLockedError):
        Project.open([image_folder], lock=True)
    old = time.time() - 60
    os.utime(lock, (old, old))  # ... or the remains of a crash long ago
    Project.open([image_folder], lock=True).close()


def test_refresh_missing_follows_the_disk(image_folder, tmp_path):
    p = Project.open([image_folder])
    p.add("c.png", "x", "e", _mask())
    (image_folder / "c.png").rename(tmp_path / "c.png")
    assert p.refresh_missing() == ["c.png"] and p.missing() == ["c.png"]
    (tmp_path / "c.png").rename(image_folder / "c.png")
    assert p.refresh_missing() == ["c.png"] and p.missing() == [] and p.count("c.png") == 1
