"""One instance per project: an ``O_EXCL`` lock file beside the project file (Qt-free).

The lock file holds ``{"pid", "host", "started", "proc_start", "token"}``. A lock is stale, and is
taken over, when its holder is on this host and its process is gone (or the pid now belongs to a
process started at another time), or when it is held by this very process but by a project
object that no longer exists. A lock from another host cannot be checked and counts as held
(``break_lock`` removes it when the user says so). A folder where no lock file can be created
(read-only media) gives no lock: the project can still be read, and saving fails as it would.
"""

from __future__ import annotations

import gc
import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

_HELD: dict[str, str] = {}  # lock path -> token, for the locks this process holds
_held_lock = threading.Lock()


@dataclass
class LockInfo:
    pid: int
    host: str
    started: float  # time.time() when the lock was taken
    proc_start: str = ""
    token: str = ""

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.started)) if self.started else "?"
        return f"process {self.pid} on {self.host}, since {when}"


def _proc_start(pid: int) -> str:
    """The kernel's start time of ``pid`` (Linux), so a reused pid is not mistaken for the holder."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # EPERM: another user's live process
    return True


def read_lock(path: Path) -> LockInfo | None:
    """The holder written in ``path``, or None when the file is missing or unreadable."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return LockInfo(int(data["pid"]), str(data["host"]), float(data["started"]),
                        str(data.get("proc_start", "")), str(data.get("token", "")))
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None


class ProjectLock:
    """``acquire()`` -> None, or the :class:`LockInfo` of the live holder; ``release()``."""

    STALE_UNREADABLE_S = 10.0  # an unreadable lock younger than this may be mid-write

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.token = uuid.uuid4().hex
        self.held = False
        self.error: str | None = None  # why no lock could be taken (read-only folder ...)

    def _stale(self, info: LockInfo | None) -> bool:
        if info is None:
            try:
                age = time.time() - self.path.stat().st_mtime
            except OSError:
                return True
            return age > self.STALE_UNREADABLE_S
        if info.host != socket.gethostname():
            return False
        if info.pid == os.getpid():
            with _held_lock:
                return _HELD.get(str(self.path)) != info.token
        if not _alive(info.pid):
            return True
        return bool(info.proc_start) and _proc_start(info.pid) not in ("", info.proc_start)

    def acquire(self) -> LockInfo | None:
        if self.held:
            return None
        self.error = None
        payload = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
                              "proc_start": _proc_start(os.getpid()), "token": self.token}).encode()
        for attempt in range(3):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                info = read_lock(self.path)
                if not self._stale(info):
                    if info is not None and info.pid == os.getpid() and attempt == 0:
                        gc.collect()  # a dropped project of this process releases on collection
                        continue
                    return info or LockInfo(0, "?", 0.0)
                try:
                    os.unlink(self.path)
                except FileNotFoundError:
                    pass
                except OSError as e:
                    self.error = f"cannot remove the stale lock {self.path}: {e.strerror or e}"
                    return None
                continue
            except OSError as e:  # read-only folder: no lock is possible (nor any save)
                self.error = f"cannot create the lock file {self.path}: {e.strerror or e}"
                return None
            try:
                os.write(fd, payload)
                os.fsync(fd)
            finally:
                os.close(fd)
            with _held_lock:
                _HELD[str(self.path)] = self.token
            self.held = True
            return None
        return read_lock(self.path) or LockInfo(0, "?", 0.0)

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        with _held_lock:
            if _HELD.get(str(self.path)) == self.token:
                del _HELD[str(self.path)]
        info = read_lock(self.path)
        if info is not None and info.token == self.token:  # never remove someone else's lock
            try:
                os.unlink(self.path)
            except OSError:
                pass

    def break_lock(self) -> None:
        """Remove the lock whoever holds it (the user said the other instance is gone)."""
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
