"""Side panels: the image list (with annotation counts) and the annotation list of one image.

Both only display what they are given and report the user's intent through signals; the main
window turns intents into project edits.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget


def colour_icon(rgb) -> QIcon:
    pm = QPixmap(14, 14)
    pm.fill(QColor(*rgb))
    return QIcon(pm)


def annotation_text(a) -> str:
    """``label  #id  "first expression" (+n)``; a batch result not yet reviewed starts with its
    score (first, so that a narrow panel still shows it)."""
    text = f"{a.label}  #{a.id}"
    if a.expressions:
        text += f"  \u201c{a.expressions[0]}\u201d" + (f" (+{len(a.expressions) - 1})" if len(a.expressions) > 1 else "")
    if getattr(a, "review", "accepted") == "to_review":
        score = getattr(a, "score", None)
        text = "to review" + ("" if score is None else f" {score:.2f}") + " \u00b7 " + text
    return text


class FilePanel(QListWidget):
    """One row per image: ``name  (n)``; emits the key of the chosen image."""

    imageChosen = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.currentItemChanged.connect(self._changed)

    def set_images(self, rows: list[tuple[str, int]]) -> None:
        self.blockSignals(True)
        self.clear()
        for key, n in rows:
            item = QListWidgetItem()
            item.setData(Qt.UserRole, key)
            self.addItem(item)
            self._label(item, n)
        self.blockSignals(False)

    def _label(self, item, n):
        missing = "  \u2014 missing" if item.data(Qt.UserRole + 7) else ""  # set by app/safety.py
        item.setText(f"{item.data(Qt.UserRole)}  ({n}){missing}")

    def set_count(self, key: str, n: int) -> None:
        item = self._item(key)
        if item is not None:
            self._label(item, n)

    def count_text(self, key: str) -> str:
        item = self._item(key)
        return "" if item is None else item.text()

    def _item(self, key):
        return next((self.item(i) for i in range(self.count()) if self.item(i).data(Qt.UserRole) == key), None)

    def select(self, key: str) -> None:
        item = self._item(key)
        if item is not None and item is not self.currentItem():
            self.blockSignals(True)
            self.setCurrentItem(item)
            self.blockSignals(False)

    def step(self, delta: int) -> None:
        if self.count():
            self.setCurrentRow((max(self.currentRow(), 0) + delta) % self.count())

    def _changed(self, item, _previous):
        if item is not None:
            self.imageChosen.emit(item.data(Qt.UserRole))


class AnnotationPanel(QWidget):
    """The annotations of the current image: select, rename, recolour, hide (checkbox), delete."""

    selected = Signal(int)  # annotation id, -1 for none
    renameRequested = Signal(int)
    recolourRequested = Signal(int)
    deleteRequested = Signal(int)
    visibilityToggled = Signal(int, bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.list = QListWidget()
        self.list.currentItemChanged.connect(self._current)
        self.list.itemChanged.connect(self._item_changed)
        self.list.itemDoubleClicked.connect(lambda it: self.renameRequested.emit(it.data(Qt.UserRole)))
        buttons = QHBoxLayout()
        for text, signal in (("Rename", self.renameRequested), ("Colour", self.recolourRequested),
                             ("Delete", self.deleteRequested)):
            b = QPushButton(text)
            b.clicked.connect(lambda _=False, s=signal: self._emit_current(s))
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)
        layout.addLayout(buttons)

    def set_annotations(self, anns, selected_id: int = -1) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for a in anns:
            item = QListWidgetItem(colour_icon(a.color), annotation_text(a))
            if getattr(a, "review", "accepted") == "to_review":
                item.setForeground(QColor(179, 107, 0))  # the verdict line's "unsure" orange
            item.setData(Qt.UserRole, a.id)
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            item.setCheckState(Qt.Checked if a.visible else Qt.Unchecked)
            item.setToolTip("\n".join(a.expressions) or a.label)
            self.list.addItem(item)
            if a.id == selected_id:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)

    def current_id(self) -> int:
        item = self.list.currentItem()
        return -1 if item is None else int(item.data(Qt.UserRole))

    def select(self, ann_id: int) -> None:
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.UserRole) == ann_id:
                self.list.setCurrentRow(i)

    def _emit_current(self, signal):
        if self.current_id() >= 0:
            signal.emit(self.current_id())

    def _current(self, item, _previous):
        self.selected.emit(-1 if item is None else int(item.data(Qt.UserRole)))

    def _item_changed(self, item):
        self.visibilityToggled.emit(int(item.data(Qt.UserRole)), item.checkState() == Qt.Checked)
