"""The prompt panel: expression box (debounced), threshold (value shown), edge snapping, overlay look,
tools, model verdict."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QColorDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

DEBOUNCE_MS = 250


class PromptPanel(QWidget):
    expressionChanged = Signal(str)  # after the user paused typing for DEBOUNCE_MS
    keepRequested = Signal()  # Enter in the expression box
    thresholdChanged = Signal(float)
    overlayChanged = Signal(tuple, float)  # rgb, opacity
    toolChanged = Signal(str)
    radiusChanged = Signal(int)
    snapChanged = Signal(bool)  # "Snap to edges" of the live mask
    showRejectedChanged = Signal(bool)  # "Show rejected mask": draw a no-target result's mask anyway

    TOOLS = (("pan", "Pan (V)"), ("brush", "Brush (B)"), ("erase", "Eraser (E)"),
             ("polygon", "Polygon (P)"), ("box", "Box (R)"), ("edit", "Vertices (J)"))

    def __init__(self, parent=None):
        super().__init__(parent)
        self.colour = (30, 144, 255)
        self.expression = QLineEdit()
        self.expression.setPlaceholderText("Describe the region, e.g. \u201cthe large red circle on the left\u201d")
        self.expression.setClearButtonEnabled(True)
        self._debounce = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._debounce.timeout.connect(lambda: self.expressionChanged.emit(self.expression.text()))
        self.expression.textEdited.connect(lambda _t: self._debounce.start())
        self.expression.returnPressed.connect(self._keep)
        self.verdict = QLabel("Type an expression to see its mask.")
        self.verdict.setWordWrap(True)
        self.show_rejected = QCheckBox("Show rejected mask")
        self.show_rejected.setToolTip(
            "The model's presence score can say that nothing in the image matches the expression "
            "(no target); its mask is then hidden and not kept. Tick this to show that mask anyway "
            "(Enter then keeps it). Only models with a presence head reject: LQMFormer, or an "
            "LGFormer trained with one.")
        self.show_rejected.setEnabled(False)  # until a model that rejects is loaded
        self.show_rejected.toggled.connect(self.showRejectedChanged)
        self._show_rejected_action = None  # its View menu mirror (bind_show_rejected)

        self.threshold = QSlider(Qt.Horizontal, minimum=1, maximum=99, value=50)
        self.threshold_label = QLabel("0.50")
        self.threshold.valueChanged.connect(lambda v: self.threshold_label.setText(f"{v / 100:.2f}"))
        self.threshold.valueChanged.connect(lambda v: self.thresholdChanged.emit(v / 100))
        self.snap = QCheckBox("Snap to edges")
        self.snap.setToolTip("Refine the live mask along the image's edges (guided filter on the "
                             "probability map); Edit > Snap selected annotation to edges does it for a kept one.")
        self.snap.toggled.connect(self.snapChanged)
        self.opacity = QSlider(Qt.Horizontal, minimum=0, maximum=100, value=50)
        self.opacity.valueChanged.connect(lambda _v: self._overlay())
        self.colour_button = QPushButton()
        self.colour_button.clicked.connect(self._pick_colour)
        self.radius = QSpinBox(minimum=1, maximum=500, value=8, suffix=" px")
        self.radius.valueChanged.connect(self.radiusChanged)

        tools = QGridLayout()
        self.tool_group = QButtonGroup(self)
        for i, (name, text) in enumerate(self.TOOLS):
            b = QToolButton(text=text, checkable=True)
            b.setObjectName(f"tool_{name}")
            b.setFocusPolicy(Qt.NoFocus)  # a click on a tool must not take the keys from the canvas
            b.clicked.connect(lambda _=False, n=name: self.set_tool(n))
            self.tool_group.addButton(b)
            tools.addWidget(b, i // 3, i % 3)
        self.tool_group.buttons()[0].setChecked(True)

        form = QFormLayout()
        row = QHBoxLayout()
        row.addWidget(self.threshold)
        row.addWidget(self.threshold_label)
        form.addRow("Threshold", row)
        form.addRow("", self.snap)
        form.addRow("Overlay colour", self.colour_button)
        form.addRow("Opacity", self.opacity)
        form.addRow("Brush size", self.radius)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Referring expression (Enter keeps the mask):"))
        layout.addWidget(self.expression)
        layout.addWidget(self.verdict)
        layout.addWidget(self.show_rejected)
        layout.addLayout(form)
        layout.addLayout(tools)
        self._paint_button()

    # ----- state --------------------------------------------------------------------------
    def text(self) -> str:
        return self.expression.text()

    def threshold_value(self) -> float:
        return self.threshold.value() / 100

    def opacity_value(self) -> float:
        return self.opacity.value() / 100

    def set_overlay(self, rgb, opacity: float) -> None:
        self.colour = tuple(int(c) for c in rgb)
        self.opacity.setValue(round(opacity * 100))
        self._paint_button()
        self._overlay()

    def tool(self) -> str:
        return next((b.objectName()[5:] for b in self.tool_group.buttons() if b.isChecked()), "pan")

    def set_tool(self, name: str) -> None:
        for b in self.tool_group.buttons():
            b.setChecked(b.objectName() == f"tool_{name}")
        self.toolChanged.emit(name)

    def set_verdict(self, text: str, level: str = "ok") -> None:
        colours = {"ok": "", "warn": "color: #b36b00;", "none": "color: #c0392b; font-weight: bold;"}
        self.verdict.setStyleSheet(colours[level])
        self.verdict.setText(text)

    def bind_show_rejected(self, action) -> None:
        """Keep a checkable menu action in step with the "Show rejected mask" box (the box is the
        one state; the action only mirrors and toggles it)."""
        self._show_rejected_action = action
        action.setCheckable(True)
        action.setChecked(self.show_rejected.isChecked())
        action.setEnabled(self.show_rejected.isEnabled())
        action.toggled.connect(self.show_rejected.setChecked)
        self.show_rejected.toggled.connect(action.setChecked)

    def set_rejects_absent(self, on: bool) -> None:
        """Whether the loaded model can reject a result (its presence score empties the mask): the
        "Show rejected mask" box (and its menu action) means something only then. The choice
        itself stays as the user left it."""
        self.show_rejected.setEnabled(bool(on))
        if self._show_rejected_action is not None:
            self._show_rejected_action.setEnabled(bool(on))

    def clear_expression(self) -> None:
        """Empty the box and tell the live segmenter at once (Esc): the live mask goes away."""
        self._debounce.stop()
        self.expression.clear()
        self.expressionChanged.emit("")

    def flush(self) -> None:
        """Emit the pending debounced expression now (tests, Enter before the pause ends)."""
        if self._debounce.isActive():
            self._debounce.stop()
            self.expressionChanged.emit(self.expression.text())

    # ----- internals ----------------------------------------------------------------------
    def _keep(self):
        self.flush()
        self.keepRequested.emit()

    def _pick_colour(self):
        c = QColorDialog.getColor(QColor(*self.colour), self, "Overlay colour")
        if c.isValid():
            self.set_overlay((c.red(), c.green(), c.blue()), self.opacity_value())

    def _paint_button(self):
        self.colour_button.setStyleSheet(f"background-color: rgb{self.colour}; min-height: 18px;")

    def _overlay(self):
        self.overlayChanged.emit(self.colour, self.opacity_value())
