"""The annotator's flow (issue 11, section 2), kept out of mainwindow.py so the window only wires:
keys and focus, opening and window state, hand-drawn shapes and edge snapping, labels and
expressions, batch review, imports and exports. :class:`Flow` builds the parts; each part talks to
the window through its public attributes (project, key, image, selected, canvas, prompt, ...).
"""

from __future__ import annotations

from .interop import Interop
from .keys import Keys
from .labels import Labels
from .opening import Opening
from .review import Review
from .shapes import Shapes
from .snap import LiveSnap


class Flow:
    def __init__(self, window):
        self.w = window
        self.labels = Labels(window)  # before Opening: its docks must exist when the layout is restored
        self.keys = Keys(window)
        self.opening = Opening(window)
        self.snap = LiveSnap(window)
        self.shapes = Shapes(window, self.snap)
        self.review = Review(window)
        self.interop = Interop(window)

    def project_opened(self, project, paths) -> None:
        """After the window opened a project: listen to it, remember the folder, show the image."""
        project.listeners.append(self._changed)
        self.opening.opened(project, paths)
        self.labels.project_opened(project)
        self.keys.refresh_undo()

    def _changed(self, event: str, key: str) -> None:
        self.keys.refresh_undo()
        self.labels.refresh()
        if self.w.canvas.tool == "edit":
            self.shapes.show_vertices()

    def save_settings(self) -> None:
        self.opening.save()
        self.snap.save()
