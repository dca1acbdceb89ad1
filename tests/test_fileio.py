"""rismodel.fileio: atomic writes through symlinks, refused special files, checked and fsynced
writes, strict JSON, and the clean-up of temp files left by killed writers."""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
import textwrap

import pytest

from rismodel import fileio
from rismodel.fileio import WriteError, atomic_write, atomic_write_bytes, atomic_write_json


@pytest.fixture(autouse=True)
def _fresh_cleanup_cache(monkeypatch):
    monkeypatch.setattr(fileio, "_cleaned", set(), raising=False)


def device_node(folder) -> str:
    """A character device to write to: our own copy of /dev/full where we may create one (root),
    else /dev/null itself (without root a regressed writer cannot replace it: /dev is not ours).
    Never the system's /dev/full as root: a writer that replaced it would break the machine."""
    path = os.path.join(folder, "full")
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 7))
        return path
    except (PermissionError, OSError):
        return "/dev/null"


def _temps(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_a_symlink_is_written_through_and_stays_a_link(tmp_path):
    target = tmp_path / "real" / "project.json"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    atomic_write_bytes(link, b"new")
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes() == b"new"
    assert _temps(tmp_path) == [] and _temps(target.parent) == []


def test_the_mode_of_the_replaced_file_is_kept(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"x")
    path.chmod(0o600)
    atomic_write_bytes(path, b"y")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    atomic_write_bytes(tmp_path / "new.bin", b"z")
    assert stat.S_IMODE((tmp_path / "new.bin").stat().st_mode) == 0o644


@pytest.mark.parametrize("kind", ["fifo", "device", "folder"])
def test_special_files_are_refused_and_left_as_they_are(tmp_path, kind):
    if kind == "fifo":
        path = tmp_path / "pipe"
        os.mkfifo(path)
    elif kind == "device":
        path = device_node(tmp_path)
    else:
        path = tmp_path / "dir"
        path.mkdir()
    before = os.stat(path).st_mode
    with pytest.raises(WriteError, match="not a regular file"):
        atomic_write_bytes(path, b"data")
    assert os.stat(path).st_mode == before  # still a FIFO / device / folder


def test_a_full_disk_keeps_the_previous_file_and_says_so(tmp_path):
    path = tmp_path / "ckpt.bin"
    path.write_bytes(b"previous good")

    def write(f):
        f.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(WriteError, match="no space left on the disk"):
        atomic_write(path, write)
    assert path.read_bytes() == b"previous good"
    assert _temps(tmp_path) == []


def test_a_short_write_is_an_error(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    real_fstat = os.fstat

    class Short:
        def __init__(self, st):
            self.st_size = st.st_size - 1
            self.st_mode = st.st_mode

    monkeypatch.setattr(fileio.os, "fstat", lambda fd: Short(real_fstat(fd)))
    with pytest.raises(WriteError, match="short write"):
        atomic_write_bytes(path, b"12345")
    assert not path.exists()


def test_the_file_and_then_its_folder_are_fsynced_after_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append("fsync-dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync-file")
        real_fsync(fd)

    def replace(a, b):
        events.append("replace")
        real_replace(a, b)

    monkeypatch.setattr(fileio.os, "fsync", fsync)
    monkeypatch.setattr(fileio.os, "replace", replace)
    atomic_write_bytes(tmp_path / "a.bin", b"x")
    assert events == ["fsync-file", "replace", "fsync-dir"]


def test_json_is_strict_nan_is_refused_and_nothing_is_replaced(tmp_path):
    path = tmp_path / "m.json"
    atomic_write_json(path, {"a": 1.5})
    with pytest.raises(WriteError, match="JSON compliant"):
        atomic_write_json(path, {"a": float("nan")})
    assert json.loads(path.read_text()) == {"a": 1.5}
    assert _temps(tmp_path) == []


def test_stale_temps_of_dead_writers_are_removed_and_live_or_foreign_ones_kept(tmp_path):
    import fcntl

    dead = tmp_path / ".ckpt.bin.999999999.abcdefgh.tmp"  # a pid that cannot be running
    dead.write_bytes(b"x" * 100)
    live = tmp_path / f".ckpt.bin.{os.getpid()}.zyxwvuts.tmp"
    live.write_bytes(b"y")
    fd = os.open(live, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a writer (this process) still holds it
    foreign = [tmp_path / "notes.tmp", tmp_path / ".vimswap.tmp", tmp_path / "ckpt.bin"]
    for p in foreign:
        p.write_bytes(b"keep")
    try:
        atomic_write_bytes(tmp_path / "other.bin", b"z")
    finally:
        os.close(fd)
    assert not dead.exists()
    assert live.exists() and all(p.exists() for p in foreign)


def test_a_writer_killed_mid_save_leaves_a_temp_that_the_next_save_removes(tmp_path):
    path = tmp_path / "project.json"
    path.write_text('{"v": 1}')
    script = textwrap.dedent(f"""
        import os, signal, sys
        from rismodel.fileio import atomic_write
        def write(f):
            f.write(b'{{"v": 2, "half": ')
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)  # dies mid-save, as kill -9 would
        atomic_write({str(path)!r}, write)
    """)
    proc = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    assert len(_temps(tmp_path)) == 1  # the killed save's leftover
    assert json.loads(path.read_text()) == {"v": 1}  # the previous good file is intact
    atomic_write_json(path, {"v": 3})
    assert _temps(tmp_path) == [] and json.loads(path.read_text()) == {"v": 3}
