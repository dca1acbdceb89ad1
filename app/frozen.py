"""Helpers for running from a frozen (PyInstaller one-folder) build as well as from source.

The frozen build's folder holds ``ris-studio`` (windowed GUI; ``--run-rismodel ARGS`` runs the
CLI) and, on Windows, a console ``rismodel.exe``; elsewhere ``rismodel`` is a launcher script. Code that starts the CLI in a subprocess (fine-tuning) must not
assume a Python interpreter exists: use :func:`rismodel_command`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_DISPLAY_NAME = "RIS Studio"  # QApplication organisation and application name (app/main.py)
RUN_RISMODEL = "--run-rismodel"  # ris-studio --run-rismodel ARGS... == rismodel ARGS...


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def rismodel_command() -> list[str]:
    """The argv prefix that runs the ``rismodel`` CLI; append the subcommand and its arguments.

    Unfrozen: ``[sys.executable, "-m", "rismodel.cli"]``. Frozen: this executable with
    ``--run-rismodel``; on Windows the bundled console ``rismodel.exe`` beside it when present (a
    windowed .exe has no console streams for the trainer's output).
    """
    if not is_frozen():
        return [sys.executable, "-m", "rismodel.cli"]
    exe = Path(sys.executable)
    cli = exe.with_name("rismodel.exe")
    if sys.platform == "win32" and cli.is_file() and cli != exe:
        return [str(cli)]
    return [str(exe), RUN_RISMODEL]


def user_data_dir() -> Path:
    """A writable per-user folder outside the install folder (created): logs, runs.

    The same folder as Qt's ``QStandardPaths.AppLocalDataLocation`` for organisation and
    application "RIS Studio" (app/crashlog.py writes its log there), computed without Qt so that
    it works before the QApplication exists.
    """
    if sys.platform == "win32":
        root = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        root = Path.home() / "Library" / "Application Support"
    else:
        root = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    base = root / APP_DISPLAY_NAME / APP_DISPLAY_NAME
    base.mkdir(parents=True, exist_ok=True)
    return base


def writable_work_dir(folder: Path, name: str) -> Path:
    """``folder/name`` where the user may write there and ``folder`` is not part of a frozen
    install (the installed demo folder); else a folder of :func:`user_data_dir`. Fine-tune runs go
    here, beside the user's images when possible, never into the install folder."""
    folder = Path(folder)
    inside_install = is_frozen() and folder.resolve().is_relative_to(Path(sys.executable).resolve().parent)
    if not inside_install and os.access(folder, os.W_OK | os.X_OK):
        return folder / name
    return user_data_dir() / name / (folder.name or "project")


def ensure_std_streams() -> None:
    """A windowed build (no console) has ``sys.stdout``/``sys.stderr`` set to None; libraries
    that print (tqdm, warnings, logging) would then raise. Send them to a log file instead."""
    if sys.stdout is not None and sys.stderr is not None:
        return
    try:
        (user_data_dir() / "logs").mkdir(exist_ok=True)
        log = open(user_data_dir() / "logs" / "ris-studio.log", "a", encoding="utf-8", buffering=1)  # noqa: SIM115
    except OSError:
        log = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    if sys.stdout is None:
        sys.stdout = log
    if sys.stderr is None:
        sys.stderr = log
