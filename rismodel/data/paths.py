"""Names read from data files that become paths: they stay inside the folder they belong to.

A COCO ``file_name`` (or a refer ``instances.json`` one) of ``../../home/x/photo.jpg`` or
``/etc/...`` would make training, evaluation and the app read a file outside the data folder.
:func:`path_inside` refuses absolute names, drive names and ``..`` parts (in both POSIX and Windows
spelling), unless the caller explicitly allows leaving the folder.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath

from rismodel.data.errors import DatasetError


def path_inside(root: str | Path, name: object, where: str, allow_outside: bool = False) -> Path:
    """``root / name``, or a :class:`DatasetError` when ``name`` is not a plain relative path."""
    if not isinstance(name, str) or not name or "\x00" in name:
        raise DatasetError(f"{where}: file name must be a non-empty string, got {name!r}"[:300])
    if not allow_outside:
        win = PureWindowsPath(name)
        if (PurePosixPath(name).is_absolute() or win.is_absolute() or win.drive or win.root
                or ".." in PurePosixPath(name).parts or ".." in win.parts):
            raise DatasetError(f"{where}: file name {name!r} leaves the images folder (absolute or "
                               f"'..'); only paths inside it are read")
    return Path(root) / name
