"""The expressions of the selected annotation: add, edit (double-click), remove. RefCOCO holds
several per object and fine-tuning trains on every one."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QPushButton, QVBoxLayout, QWidget


class ExpressionPanel(QWidget):
    addRequested = Signal()
    editRequested = Signal(int)  # index
    removeRequested = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.title = QLabel("Expressions of the selected annotation")
        self.list = QListWidget()
        self.list.setObjectName("expression_list")
        self.list.itemDoubleClicked.connect(lambda it: self.editRequested.emit(self.list.row(it)))
        buttons = QHBoxLayout()
        self.buttons = {}
        for name, text in (("add", "Add\u2026"), ("edit", "Edit\u2026"), ("remove", "Remove")):
            b = QPushButton(text)
            b.setObjectName(f"expr_{name}")
            buttons.addWidget(b)
            self.buttons[name] = b
        self.buttons["add"].clicked.connect(self.addRequested)
        self.buttons["edit"].clicked.connect(lambda: self._row_signal(self.editRequested))
        self.buttons["remove"].clicked.connect(lambda: self._row_signal(self.removeRequested))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        self.set_expressions(None)

    def set_expressions(self, expressions: list[str] | None) -> None:
        """The selected annotation's expressions, or None when no annotation is selected."""
        row = self.list.currentRow()
        self.list.clear()
        for e in expressions or []:
            self.list.addItem(e)
        if expressions:
            self.list.setCurrentRow(min(max(row, 0), len(expressions) - 1))
        self.buttons["add"].setEnabled(expressions is not None)
        self.buttons["edit"].setEnabled(bool(expressions))
        self.buttons["remove"].setEnabled(bool(expressions))

    def expressions(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]

    def _row_signal(self, signal) -> None:
        if self.list.currentRow() >= 0:
            signal.emit(self.list.currentRow())
