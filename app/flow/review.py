"""Review of batch results: they arrive "to review" with their score (the model's presence
probability); Y accepts, N rejects (deletes) the selected one and moves to the next to review;
"Reject below..." drops every one under a score or a size. Absent targets (LQMFormer's no-object
head) and empty masks are never kept. Each action is one undo step.
"""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QSpinBox

from ..project import TO_REVIEW, BatchResult


class Review:
    def __init__(self, window):
        self.w = window

    def add_batch(self, items, errors: str = "") -> tuple[int, int, str]:
        """Batch items ``(key, expression, mask, score)`` -> project annotations "to review"
        (a proposal's expression is ``(label, [expressions])``).

        Returns (kept, dropped, errors)."""
        w = self.w
        rejects = bool((w.model_info or {}).get("rejects_absent"))  # the presence score can say "no target"
        results, keys = [], {e.key for e in w.project.images}
        for key, text, mask, score in items:
            if key not in keys:
                errors += f"\n{key}: no longer in the project"
                continue
            label = None
            if not isinstance(text, str):  # a photo-coco proposal: (class name, its expressions)
                label, text = text
            results.append(BatchResult(key, text, mask, score, no_target=rejects and score < 0.5, label=label))
        try:
            kept, dropped = w.project.add_batch_results(results)
        except Exception as e:  # noqa: BLE001 - a bad item must not lose the whole run silently
            return 0, len(results), f"{errors}\n{e}"
        return kept, dropped, errors

    # ----- per item -------------------------------------------------------------------------
    def _selected(self):
        w = self.w
        if w.project is None or w.key is None or w.selected < 0:
            w.statusBar().showMessage("Select an annotation to review.", 4000)
            return None
        return w.key, w.selected

    def accept(self) -> None:
        item = self._selected()
        if item is not None:
            self.w._edit(self.w.project.accept, [item])
            self.next_to_review()

    def reject(self) -> None:
        item = self._selected()
        if item is not None:
            self.w._edit(self.w.project.reject, [item])
            self.next_to_review()

    def accept_image(self) -> None:
        w = self.w
        if w.project is None or w.key is None:
            return
        items = [(w.key, a.id) for a in w.project.annotations(w.key) if a.review == TO_REVIEW]
        if items:
            w._edit(w.project.accept, items)
        self.next_to_review()

    def next_to_review(self) -> tuple[str, int] | None:
        """Select the next annotation still to review: on this image first, then on the next ones."""
        w = self.w
        if w.project is None:
            return None
        todo = [(k, a.id) for k, a in w.project.to_review()]
        if not todo:
            w.statusBar().showMessage("Nothing left to review.", 5000)
            return None
        keys = [e.key for e in w.project.images]
        here = keys.index(w.key) if w.key in keys else 0
        todo.sort(key=lambda t: ((keys.index(t[0]) - here) % len(keys), t[1]))
        key, ann_id = todo[0]
        if key == w.key:
            w.annotations.select(ann_id)
        else:
            w.show_image(key)
            w.selected = ann_id  # selected in the list once the image has loaded
        return key, ann_id

    def reject_below(self, score: float | None = None, min_area: int | None = None,
                     this_image: bool | None = None) -> int:
        """Reject the annotations to review below a score or a size (asks when not given)."""
        w = self.w
        if w.project is None:
            return 0
        if score is None and min_area is None:
            asked = self._ask()
            if asked is None:
                return 0
            score, min_area, this_image = asked
        keys = [w.key] if this_image and w.key else None
        n = w._edit(w.project.reject_below, score, min_area, keys) or 0
        w.statusBar().showMessage(f"Rejected {n} annotation(s) to review.", 6000)
        return n

    def _ask(self):
        d = QDialog(self.w)
        d.setWindowTitle("Reject below a score or size")
        score = QDoubleSpinBox(minimum=0.0, maximum=1.0, singleStep=0.05, decimals=2, value=0.5)
        area = QSpinBox(minimum=0, maximum=100_000_000, value=0, suffix=" px")
        scope = QComboBox()
        scope.addItems(["every image", "this image"])
        form = QFormLayout(d)
        form.addRow("Score below", score)
        form.addRow("or mask smaller than", area)
        form.addRow("On", scope)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(d.accept)
        buttons.rejected.connect(d.reject)
        form.addRow(buttons)
        if d.exec() != QDialog.Accepted:
            return None
        return score.value(), (area.value() or None), scope.currentIndex() == 1
