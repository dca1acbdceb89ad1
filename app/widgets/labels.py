"""The label panel: every label of the project (the predefined ones first) with its colour and how
many annotations use it. Selecting a label makes it the default for the next annotation; a
double-click (or Colour) changes the label's colour, which every annotation of that label shares.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHBoxLayout, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from ..panels import colour_icon


class LabelPanel(QWidget):
    currentChanged = Signal(str)  # "" for none
    recolourRequested = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setObjectName("label_list")
        self.list.currentItemChanged.connect(
            lambda item, _prev: self.currentChanged.emit("" if item is None else item.data(Qt.UserRole)))
        self.list.itemDoubleClicked.connect(lambda it: self.recolourRequested.emit(it.data(Qt.UserRole)))
        colour = QPushButton("Colour\u2026")
        colour.clicked.connect(lambda: self.current() and self.recolourRequested.emit(self.current()))
        buttons = QHBoxLayout()
        buttons.addWidget(colour)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)
        layout.addLayout(buttons)

    def set_labels(self, rows: list[tuple[str, tuple[int, int, int], int, bool]]) -> None:
        """``[(label, rgb, count, predefined)]``; keeps the current label selected if still there."""
        current = self.current()
        self.list.blockSignals(True)
        self.list.clear()
        for label, rgb, count, predefined in rows:
            item = QListWidgetItem(colour_icon(rgb), f"{label}  ({count})")
            item.setData(Qt.UserRole, label)
            item.setToolTip(f"{label}: {count} annotation(s)" + (" \u00b7 predefined" if predefined else ""))
            if predefined and count == 0:
                font = QFont(item.font())
                font.setItalic(True)
                item.setFont(font)
            self.list.addItem(item)
            if label == current:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)

    def current(self) -> str:
        item = self.list.currentItem()
        return "" if item is None else str(item.data(Qt.UserRole))

    def labels(self) -> list[str]:
        return [str(self.list.item(i).data(Qt.UserRole)) for i in range(self.list.count())]

    def row_text(self, label: str) -> str:
        return next((self.list.item(i).text() for i in range(self.list.count())
                     if self.list.item(i).data(Qt.UserRole) == label), "")

    def select(self, label: str) -> None:
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.UserRole) == label:
                self.list.setCurrentRow(i)
