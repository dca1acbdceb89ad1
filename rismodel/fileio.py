"""Atomic file writes: a crash or a full disk never leaves a half-written file behind.

Write to a temporary file in the target's folder, check its size, fsync it, ``os.replace`` it
over the target (atomic on POSIX and Windows), then fsync the folder so that the rename itself
survives a power cut. Errors are raised as :class:`WriteError` naming the path; the previous
version of the file is then untouched.

- A symlink is written through: the link's final target is replaced and the link stays a link
  (replacing the link would silently stop updating the file it points to).
- An existing target that is not a regular file (device node, FIFO, socket, folder) is refused:
  ``--out /dev/full`` must not turn the device into a regular file, nor report success.
- Temporary files are named ``.<name>.<pid>.<random>.tmp`` and held under an advisory lock while
  written. A process killed mid-save leaves one behind; the first write to a folder in a later
  process removes such leftovers (our naming only, lock free, and the writer gone or the file
  older than the current process), so repeated kills do not fill the disk.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

try:  # POSIX advisory locks; on Windows an open file cannot be deleted anyway
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

# .<name>.<pid>.<8 random chars from mkstemp>.tmp ; the pid-less form is the older naming.
_TEMP_RE = re.compile(r"^\..+?(?:\.(\d+))?\.[a-z0-9_]{8}\.tmp$")
_PROCESS_START = time.time()
_cleaned: set[str] = set()
_cleaned_lock = threading.Lock()


class WriteError(OSError):
    """A file could not be written; the previous version (if any) is untouched."""


def describe_write_error(path: str | os.PathLike, e: OSError) -> str:
    """The message of a failed write: the path, and the reason in words (a full disk says so)."""
    if e.errno == errno.ENOSPC:
        reason = "no space left on the disk"
    elif e.errno in (errno.EROFS,):
        reason = "the file system is read-only"
    else:
        reason = e.strerror or str(e)
    return f"cannot write {os.fsdecode(path)}: {reason}"


def resolve_target(path: str | os.PathLike) -> Path:
    """The file a write to ``path`` must replace: symlinks followed; a special file is refused."""
    path = Path(path)
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return target
    except OSError as e:
        raise WriteError(describe_write_error(path, e)) from e
    if not stat.S_ISREG(st.st_mode):
        kind = ("a folder" if stat.S_ISDIR(st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode)
                or stat.S_ISBLK(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode)
                else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
        raise WriteError(f"cannot write {os.fsdecode(path)}: it is {kind}, not a regular file; "
                         "give a file path")
    return target


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: someone else's live process
        return True
    return True


def clean_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Remove leftover temp files of killed writes in ``folder``; returns what was removed.

    A file is removed only if it has our naming, nobody holds its lock, and its writer is gone
    (pid not running) or it is older than this process (so no live writer of ours can own it).
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP_RE.match(entry.name)
        if not m or not entry.is_file(follow_symlinks=False):
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    continue  # a live writer holds it
            pid = int(m.group(1)) if m.group(1) else None
            old = os.fstat(fd).st_mtime < _PROCESS_START
            if (pid is not None and pid != os.getpid() and not _pid_alive(pid)) or old:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


def _clean_once(folder: Path) -> None:
    key = os.fsdecode(os.path.abspath(folder))
    with _cleaned_lock:
        if key in _cleaned:
            return
        _cleaned.add(key)
    clean_stale_temps(folder)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # Windows cannot open folders; nothing to sync there
        return
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], binary: bool = True) -> None:
    """Call ``write(fileobj)`` on a temporary file, then move it over ``path``."""
    shown = Path(path)
    target = resolve_target(shown)
    folder = target.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _clean_once(folder)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=folder)
    except OSError as e:
        raise WriteError(describe_write_error(shown, e)) from e
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)  # tells clean_stale_temps that a live writer owns it
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
            write(f)
            f.flush()
            size = getattr(f, "buffer", f).tell()  # bytes, also for a text file
            os.fsync(f.fileno())
            if os.fstat(f.fileno()).st_size != size:
                raise OSError(errno.EIO, f"short write ({os.fstat(f.fileno()).st_size} of {size} bytes)")
        try:  # keep the mode of the file being replaced; a new file reads like any other
            mode = stat.S_IMODE(os.stat(target).st_mode)
        except FileNotFoundError:
            mode = 0o644  # mkstemp creates 0600
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError) and not isinstance(e, WriteError):
            raise WriteError(describe_write_error(shown, e)) from e
        raise
    try:
        _fsync_dir(folder)
    except OSError as e:
        raise WriteError(describe_write_error(shown, e)) from e


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write(path, lambda f: f.write(text), binary=False)


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int | None = None) -> None:
    """Strict JSON: NaN and infinities are refused (strict readers reject them)."""
    try:
        atomic_write(path, lambda f: json.dump(obj, f, indent=indent, ensure_ascii=False,
                                               allow_nan=False), binary=False)
    except ValueError as e:  # json's "Out of range float values are not JSON compliant"
        raise WriteError(f"cannot write {os.fsdecode(path)}: {e}") from e
