"""A pickle reader that can only build plain data.

The refer toolkit ships its referring expressions as ``refs(<splitBy>).p`` pickles. A pickle is a
program: loading one with :func:`pickle.load` can import and call anything (``os.system``).
:class:`RestrictedUnpickler` refuses every global lookup, so only what the pickle opcodes build
directly can load: dict, list, tuple, set, frozenset, str, bytes, int, float, bool and None. That
is all the refer files contain.

The RefCOCO pickles were written by Python 2 (protocol 2), whose byte strings arrive here as
``bytes`` (``encoding="bytes"``); :func:`load_plain_pickle` turns them into ``str`` (UTF-8, with
Latin-1 as the fallback for the odd non-UTF-8 byte), keys included.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle asked for a Python object (class or function) and was refused."""


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler whose ``find_class`` refuses everything: no imports, no calls."""

    def find_class(self, module: str, name: str) -> Any:
        raise UnsafePickleError(
            f"refusing to load {module}.{name}: this pickle would create Python objects or run "
            "code; only plain containers, strings and numbers are allowed")

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("refusing a pickle with persistent ids")


def _to_str(value: Any) -> Any:
    """Recursively decode Python 2 byte strings (``encoding='bytes'``) to ``str``."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value.decode("latin-1")
    if isinstance(value, dict):
        return {_to_str(k): _to_str(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_str(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_to_str(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return type(value)(_to_str(v) for v in value)
    return value


def loads_plain_pickle(data: bytes) -> Any:
    """Unpickle ``data`` that may only contain plain containers, strings and numbers."""
    obj = RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    return _to_str(obj)


def load_plain_pickle(path: str | os.PathLike) -> Any:
    """Read a plain-data pickle file; errors name the file.

    Raises :class:`UnsafePickleError` for a pickle that needs a class or function (nothing of it
    runs), ``FileNotFoundError`` for a missing file and ``ValueError`` for a damaged one.
    """
    path = Path(path)
    data = path.read_bytes()
    try:
        return loads_plain_pickle(data)
    except UnsafePickleError as e:
        raise UnsafePickleError(f"{path}: {e}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, IndexError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a readable pickle ({type(e).__name__}: {e})") from None
