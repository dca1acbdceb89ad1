"""Small dialogs: label entry with completion, model information, keyboard shortcuts, messages."""

from __future__ import annotations

import html
import os

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import (
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QTextBrowser,
    QVBoxLayout,
)

SYNTHETIC_NOTE = ("The shipped default models were trained on the project's synthetic dataset of "
                  "coloured shapes (rismodel synth); their only outside weights are the frozen all-MiniLM-L6-v2 "
                  "text encoder. They know only that vocabulary: "
                  "shapes, colours, sizes, textures, positions, relations and ordinals. Within it, both "
                  "also find a shape named alone, less reliably than a colour (see the README's results). "
                  "On real photos their masks mean little; fine-tune on your own annotations or train a "
                  "paper-sized model.")


def settings() -> QSettings:
    """Persistent settings; ``RIS_STUDIO_SETTINGS`` points tests (or portable installs) at an INI file."""
    path = os.environ.get("RIS_STUDIO_SETTINGS")
    return QSettings(path, QSettings.IniFormat) if path else QSettings("RIS Studio", "ris-studio")


def show_error(parent, title: str, message: str) -> None:
    QMessageBox.warning(parent, title, message)


def ask_label(parent, labels: list[str], default: str) -> str | None:
    """A label for a kept mask, completing from the labels already in the project."""
    dialog = QDialog(parent)
    dialog.setWindowTitle("Keep mask")
    edit = QLineEdit(default)
    edit.selectAll()
    completer = QCompleter(labels, dialog)
    completer.setCaseSensitivity(Qt.CaseInsensitive)
    edit.setCompleter(completer)
    buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    layout = QVBoxLayout(dialog)
    layout.addWidget(QLabel("Label for this mask (the expression is stored with it):"))
    layout.addWidget(edit)
    layout.addWidget(buttons)
    if dialog.exec() != QDialog.Accepted:
        return None
    return " ".join(edit.text().split()) or None


def ask_expressions(parent) -> list[str]:
    text, ok = QInputDialog.getMultiLineText(
        parent, "Batch segmentation", "One expression per line; each is run on every image of the folder:")
    return [line.strip() for line in text.splitlines() if line.strip()] if ok else []


def model_info_html(info: dict) -> str:
    params = info.get("parameters", {})
    rows = [("Name", info.get("name")), ("Architecture", info.get("architecture")),
            ("Weights", info.get("source")), ("Device", str(info.get("device", "")).upper()),
            ("Input size", f"{info.get('image_size')} px"), ("Text encoder", info.get("text_encoder")),
            ("Max tokens", info.get("max_tokens")),
            ("Parameters", f"{params.get('total', 0) / 1e6:.2f} M"),
            ("Trained on", info.get("trained_on"))]
    training = info.get("training") or {}
    rows += [(f"training: {k}", v) for k, v in training.items() if k != "trained_on" and not isinstance(v, dict)]
    body = "".join(f"<tr><td><b>{html.escape(str(k))}</b></td><td>{html.escape(str(v))}</td></tr>"
                   for k, v in rows)
    note = info.get("note") or SYNTHETIC_NOTE  # photo-coco brings its own (vocabulary, limits)
    if info.get("source") == "random":
        note = "These are RANDOM weights (no trained checkpoint found): the masks are meaningless."
    return f"<table cellpadding='3'>{body}</table><p><i>{html.escape(note)}</i></p>"


def show_text(parent, title: str, html_text: str) -> QDialog:
    dialog = QDialog(parent)
    dialog.setWindowTitle(title)
    view = QTextBrowser()
    view.setHtml(html_text)
    buttons = QDialogButtonBox(QDialogButtonBox.Close)
    buttons.rejected.connect(dialog.reject)
    layout = QVBoxLayout(dialog)
    layout.addWidget(view)
    layout.addWidget(buttons)
    dialog.resize(560, 440)
    dialog.open()
    return dialog


def shortcuts_html(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><td><b>{html.escape(k)}</b></td><td>{html.escape(v)}</td></tr>" for k, v in rows)
    extra = ("<p>Mouse: wheel zooms around the pointer; drag pans (Pan tool) or middle-drag pans in any "
             "tool; with Brush/Eraser, drag paints on the selected annotation.</p>")
    return f"<table cellpadding='3'>{body}</table>{extra}"
