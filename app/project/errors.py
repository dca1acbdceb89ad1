"""The project layer's errors: each message is one clear line a window can show as is."""

from __future__ import annotations

import os
from pathlib import Path


def shown(path) -> str:
    """A path as text a window can show: bytes that are not UTF-8 become U+FFFD (a lone
    surrogate from the file system would make the message itself fail to display)."""
    return os.fsencode(os.fspath(path)).decode("utf-8", "replace")


class ProjectError(RuntimeError):
    """A project file or image list the app cannot use; the message says why."""


class ProjectFileError(ProjectError):
    """The project file cannot be read or is invalid; it is left as it is.

    ``file``: the project file; ``problem``: what is wrong (without the file name);
    ``backup``: a timestamped copy written for the user, or None.
    """

    def __init__(self, file: Path, problem: str, backup: Path | None = None):
        self.file, self.problem, self.backup = Path(file), problem, backup
        where = f" A copy was kept at {shown(backup)}." if backup else ""
        super().__init__(f"cannot read the project file {shown(file)}: {problem}. The file was not changed.{where}")


class ProjectLockedError(ProjectError):
    """Another live instance holds the project's lock; ``holder`` is its :class:`LockInfo`."""

    def __init__(self, file: Path, holder):
        self.file, self.holder = Path(file), holder
        super().__init__(f"{shown(self.file.parent)} is open in another RIS Studio ({holder.describe()}); "
                         "open it read-only, or close the other window first")


class ProjectChangedError(ProjectError):
    """The project file changed on disk since this project loaded or saved it (another program
    or instance wrote it): saving would overwrite that. ``save(force=True)`` overwrites after a
    timestamped backup; ``save_as`` writes elsewhere; reopening reloads."""

    def __init__(self, file: Path):
        self.file = Path(file)
        super().__init__(f"the project file {shown(file)} was changed on disk by another program since it "
                         "was loaded; not overwritten (reload it, save elsewhere, or overwrite)")


class ProjectReadOnlyError(ProjectError):
    """The project was opened read-only: edits and saves to its own file are refused."""
