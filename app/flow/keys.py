"""Keys and focus: Esc, the Edit menu's undo/redo names, sliders and spin boxes that must not eat
(or must keep) keys, "next image without annotations".

Qt sends a ShortcutOverride to the focused widget before a window shortcut fires; a QLineEdit
accepts it for every key it types, which is why B, E, D, A ... type letters in the expression box
and act everywhere else. Two kinds of focused widgets need help:

- a slider accepts no override, so PgUp/PgDown (next/previous image) would switch images while the
  user moves the threshold: the filter claims the slider's own keys for it;
- a spin box's line edit claims every printable key, so after changing the brush size B or E
  would do nothing: the filter lets letters through to the shortcuts (digits still edit the box).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractSlider, QAbstractSpinBox

SLIDER_KEYS = {Qt.Key_PageUp, Qt.Key_PageDown, Qt.Key_Home, Qt.Key_End, Qt.Key_Left, Qt.Key_Right,
               Qt.Key_Up, Qt.Key_Down}


class _KeyFilter(QObject):
    def eventFilter(self, obj, event):
        if event.type() != QEvent.ShortcutOverride:
            return False
        if isinstance(obj, QAbstractSlider) and event.key() in SLIDER_KEYS \
                and not event.modifiers() & ~Qt.KeypadModifier:
            event.accept()  # the slider's key, not the window's
            return True
        if isinstance(obj, QAbstractSpinBox):
            text = event.text()
            if text and text.isprintable() and not (text.isdigit() or text in "+-.,") \
                    and not event.modifiers() & ~(Qt.ShiftModifier | Qt.KeypadModifier):
                event.ignore()  # a letter: let the window's shortcut have it
                return True
        return False


class Keys:
    def __init__(self, window):
        self.w = window
        self.filter = _KeyFilter(window)
        for widget in window.findChildren(QAbstractSlider) + window.findChildren(QAbstractSpinBox):
            self.watch(widget)
        self.refresh_undo()

    def watch(self, widget) -> None:
        widget.installEventFilter(self.filter)

    # ----- Esc ------------------------------------------------------------------------------
    def cancel(self) -> None:
        """Esc: drop the polygon or box being drawn; otherwise clear the expression and the live
        mask. Either way the keys go back to the canvas."""
        w = self.w
        if w.canvas.drawing():
            w.canvas.cancel_shape()
        else:
            w.prompt.clear_expression()
        w.canvas.setFocus()

    # ----- undo / redo in the Edit menu -----------------------------------------------------
    def refresh_undo(self) -> None:
        history = self.w.project.history if self.w.project is not None else None
        for name, verb, peek in (("undo", "Undo", "undo_text"), ("redo", "Redo", "redo_text")):
            text = _peek(history, peek) if history is not None else None
            act = self.w.actions[name]
            act.setEnabled(text is not None)
            act.setText(f"&{verb} {text}" if text else f"&{verb}")

    # ----- navigation -----------------------------------------------------------------------
    def next_unannotated(self) -> str | None:
        """Select the next image (after the current one, wrapping) that has no annotation."""
        w = self.w
        if w.project is None or not w.project.images:
            return None
        keys = [e.key for e in w.project.images]
        start = keys.index(w.key) + 1 if w.key in keys else 0
        for key in keys[start:] + keys[:start]:
            if key != w.key and w.project.count(key) == 0:
                w.show_image(key)
                return key
        w.statusBar().showMessage("Every image has at least one annotation.", 5000)
        return None


def _peek(history, name: str) -> str | None:
    fn = getattr(history, name, None)
    if fn is not None:
        return fn()
    stack = history._done if name == "undo_text" else history._undone  # before undo_text() existed
    return stack[-1].text if stack else None
