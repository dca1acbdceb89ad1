"""The last-resort handler: an exception nothing else caught is logged and shown, never lost.

Every expected failure already becomes a message where it happens (bad image, bad checkpoint,
unwritable folder...). What is left, a bug, would otherwise print a traceback to a console the
user does not see and leave the app in an unknown state. :func:`install` routes uncaught
exceptions (``sys.excepthook``, which PySide6 calls for exceptions raised in slots) and Qt's own
critical messages to an append-only log in the per-user data folder, and shows one message with
the log's path. Annotations are autosaved after every edit, so the message can say that.
"""

from __future__ import annotations

import sys
import time
import traceback
from pathlib import Path

from PySide6.QtCore import QStandardPaths, QtMsgType, qInstallMessageHandler

MAX_LOG_BYTES = 1_000_000  # the log is cut to its newer half past this size


def log_path() -> Path:
    """``<per-user app data>/logs/ris-studio.log`` (``QStandardPaths.AppLocalDataLocation``)."""
    base = QStandardPaths.writableLocation(QStandardPaths.AppLocalDataLocation) or str(Path.home() / ".ris-studio")
    return Path(base) / "logs" / "ris-studio.log"


def write_log(text: str) -> Path | None:
    """Append ``text`` with a timestamp; the path written, or None when even that failed."""
    path = log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and path.stat().st_size > MAX_LOG_BYTES:
            data = path.read_bytes()
            path.write_bytes(data[len(data) // 2:])
        with path.open("a", encoding="utf-8") as f:
            f.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')}\n{text.rstrip()}\n")
        return path
    except OSError:
        return None


def handle_exception(exc_type, exc, tb) -> None:
    """``sys.excepthook``: log the traceback, print it, show one message; the app goes on."""
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    details = "".join(traceback.format_exception(exc_type, exc, tb))
    sys.stderr.write(details)
    path = write_log(details)
    where = f"The details were written to {path}." if path else "The details could not be written to a log file."
    try:
        from PySide6.QtWidgets import QApplication, QMessageBox

        if QApplication.instance() is not None:
            QMessageBox.critical(QApplication.activeWindow(), "Unexpected error",
                                 f"Something went wrong: {exc_type.__name__}: {exc}\n\n{where}\n"
                                 "Your annotations are saved after every change; please report this with the log.")
    except Exception:  # noqa: BLE001 - the handler itself must never raise
        traceback.print_exc()


def _qt_message(kind, context, message) -> None:
    if kind in (QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg):
        write_log(f"Qt: {message} ({context.file}:{context.line})")
    sys.stderr.write(f"{message}\n")


def install() -> None:
    """Install the handlers (once, after the QApplication exists so its name sets the log folder)."""
    sys.excepthook = handle_exception
    qInstallMessageHandler(_qt_message)
