"""Labels and expressions: the label panel (per-label colours, counts, the predefined list of
``ris-studio --labels FILE``), and the selected annotation's expressions (add, edit, remove).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QColorDialog, QDockWidget, QInputDialog

from .. import dialogs
from ..widgets.expressions import ExpressionPanel
from ..widgets.labels import LabelPanel


class Labels:
    def __init__(self, window):
        self.w = window
        self.predefined: list[str] = []  # from --labels, applied to every project opened
        self.restrict = False
        self.panel = LabelPanel()
        self.expressions = ExpressionPanel()
        for title, widget in (("Labels", self.panel), ("Expressions", self.expressions)):
            dock = QDockWidget(title, window)
            dock.setObjectName(title)
            dock.setWidget(widget)
            window.addDockWidget(Qt.LeftDockWidgetArea if title == "Labels" else Qt.RightDockWidgetArea, dock)
        self.panel.recolourRequested.connect(self.recolour)
        self.expressions.addRequested.connect(self.add_expression)
        self.expressions.editRequested.connect(self.edit_expression)
        self.expressions.removeRequested.connect(self.remove_expression)
        window.annotations.selected.connect(self._show_expressions)  # may run before the window's own slot

    # ----- labels ---------------------------------------------------------------------------
    def set_predefined(self, labels: list[str], restrict: bool = False) -> None:
        self.predefined, self.restrict = list(labels), restrict
        if self.w.project is not None:
            self.w.project.set_predefined_labels(self.predefined, restrict)
        self.refresh()

    def project_opened(self, project) -> None:
        if self.predefined:
            project.set_predefined_labels(self.predefined, self.restrict)
        self.refresh()

    def current_label(self) -> str | None:
        return self.panel.current() or None

    def refresh(self) -> None:
        p = self.w.project
        if p is None:
            self.panel.set_labels([])
            self._show_expressions()
            return
        counts: dict[str, int] = {}
        for _e, a in p.all_annotations():
            counts[a.label] = counts.get(a.label, 0) + 1
        predefined = set(p.predefined_labels)
        # A label no annotation uses any more leaves the panel (and the exports) unless predefined.
        rows = [(lab, p.label_color(lab), counts.get(lab, 0), lab in predefined) for lab in p.labels()
                if counts.get(lab) or lab in predefined]
        self.panel.set_labels(rows)
        self._show_expressions()

    def recolour(self, label: str) -> None:
        p = self.w.project
        if p is None or not label:
            return
        c = QColorDialog.getColor(QColor(*p.label_color(label)), self.w, f"Colour of \u201c{label}\u201d")
        if c.isValid():
            self.w._edit(p.set_label_color, label, (c.red(), c.green(), c.blue()))

    # ----- expressions of the selected annotation -------------------------------------------
    def _selected(self, ann_id: int | None = None):
        w = self.w
        ann_id = w.selected if ann_id is None else ann_id
        if w.project is None or w.key is None or ann_id < 0:
            return None
        try:
            return w.project.get(w.key, ann_id)
        except KeyError:
            return None

    def show_selected(self) -> None:
        """After the window changed image or selection: the selected annotation's expressions, or
        none (never the previous image's)."""
        self._show_expressions()

    def _show_expressions(self, ann_id: int | None = None) -> None:
        ann = self._selected(ann_id)
        self.expressions.set_expressions(None if ann is None else list(ann.expressions))

    def _ask(self, title: str, text: str = "") -> str | None:
        value, ok = QInputDialog.getText(self.w, title, "Referring expression:", text=text)
        return " ".join(value.split()) if ok and value.strip() else None

    def add_expression(self, text: str | None = None) -> bool:
        ann = self._selected()
        if ann is None:
            dialogs.show_error(self.w, "Expressions", "Select an annotation first.")
            return False
        text = text if text is not None else self._ask("Add an expression", self.w.prompt.text())
        if not text:
            return False
        before = len(ann.expressions)
        self.w._edit(self.w.project.add_expression, self.w.key, ann.id, text)
        return len(self.w.project.get(self.w.key, ann.id).expressions) > before

    def edit_expression(self, index: int, text: str | None = None) -> None:
        ann = self._selected()
        if ann is None or not 0 <= index < len(ann.expressions):
            return
        text = text if text is not None else self._ask("Edit the expression", ann.expressions[index])
        if text:
            self.w._edit(self.w.project.edit_expression, self.w.key, ann.id, index, text)

    def remove_expression(self, index: int) -> None:
        ann = self._selected()
        if ann is not None and 0 <= index < len(ann.expressions):
            self.w._edit(self.w.project.remove_expression, self.w.key, ann.id, index)
