"""Atomic file writes: a crash or a full disk never leaves a half-written file behind.

Write to a temporary file in the same folder, flush and fsync it, then ``os.replace`` it over
the target (atomic on POSIX and Windows). Errors are raised as :class:`WriteError` naming the path.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


class WriteError(OSError):
    """A file could not be written; the previous version (if any) is untouched."""


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], binary: bool = True) -> None:
    """Call ``write(fileobj)`` on a temporary file, then move it over ``path``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise WriteError(f"cannot write {path}: {e.strerror or e}") from e
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a saved file should read like any other
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise WriteError(f"cannot write {path}: {e.strerror or e}") from e
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write(path, lambda f: f.write(text), binary=False)


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int | None = None) -> None:
    atomic_write(path, lambda f: json.dump(obj, f, indent=indent, ensure_ascii=False), binary=False)
