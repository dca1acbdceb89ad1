"""Opening and window state: the recent-folders menu, reopening the last folder at start, showing the
image that was opened, window geometry / dock layout / brush size, the zoom percentage.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtWidgets import QDockWidget, QLabel

RECENT_MAX = 10


class Opening:
    def __init__(self, window):
        self.w = window
        s = window.settings
        self.zoom_label = QLabel("")
        self.zoom_label.setToolTip("Zoom (screen pixels per image pixel)")
        window.statusBar().addPermanentWidget(self.zoom_label)
        window.canvas.zoomChanged.connect(self._zoom)
        self.recent_menu = window.actions["recent"].menu()
        docks = window.actions["docks"].menu()
        for dock in window.findChildren(QDockWidget):
            docks.addAction(dock.toggleViewAction())
        self._fill_recent()
        geometry, state = s.value("geometry"), s.value("window_state")
        if geometry is not None:
            window.restoreGeometry(geometry)
        if state is not None:
            window.restoreState(state)
        window.actions["cutout_crop"].setChecked(s.value("cutout_crop", "false") == "true")
        try:
            window.prompt.radius.setValue(int(s.value("brush_size", window.prompt.radius.value())))
            window.canvas.set_radius(window.prompt.radius.value())  # radiusChanged is wired later
        except (TypeError, ValueError):
            pass  # a hand-edited settings file: keep the default

    def save(self) -> None:
        s = self.w.settings
        s.setValue("geometry", self.w.saveGeometry())
        s.setValue("window_state", self.w.saveState())
        s.setValue("brush_size", self.w.prompt.radius.value())
        s.setValue("cutout_crop", "true" if self.w.actions["cutout_crop"].isChecked() else "false")

    def _zoom(self, zoom: float) -> None:
        self.zoom_label.setText(f"{round(100 * zoom)} %")

    # ----- recent folders -------------------------------------------------------------------
    def recent(self) -> list[str]:
        value = self.w.settings.value("recent_folders", [])
        if isinstance(value, str):  # QSettings gives a lone string for a one-item list
            value = [value]
        return [str(v) for v in value or []]

    def _fill_recent(self) -> None:
        menu = self.recent_menu
        menu.clear()
        folders = self.recent()
        for i, folder in enumerate(folders):
            act = menu.addAction(f"&{i + 1 if i < 9 else 0} {folder}")
            act.setEnabled(Path(folder).is_dir())
            act.triggered.connect(lambda _=False, f=folder: self.w.open_paths([f]))
        if folders:
            menu.addSeparator()
            menu.addAction("Clear the list", self._clear_recent)
        else:
            menu.addAction("(none yet)").setEnabled(False)

    def _clear_recent(self) -> None:
        self.w.settings.setValue("recent_folders", [])
        self._fill_recent()

    def opened(self, project, paths) -> None:
        """Remember the folder first in the recent list, and show the image that was opened (the
        first file given), or the first image of a folder."""
        folder = str(project.folder)
        self.w.settings.setValue("recent_folders", ([folder] + [f for f in self.recent() if f != folder])[:RECENT_MAX])
        self._fill_recent()
        key = first_opened_key(project, paths)
        if key is not None:
            self.w.files.select(key)
            self.w.show_image(key)
        else:
            self.w.files.setCurrentRow(0)

    def reopen_last(self) -> bool:
        """At start without paths: reopen the last folder if it still exists."""
        folder = self.recent()[0] if self.recent() else None
        if folder and Path(folder).is_dir():
            return self.w.open_paths([folder])
        return False


def first_opened_key(project, paths) -> str | None:
    """The project key of the first image file among ``paths`` (None for a folder)."""
    for p in paths:
        p = Path(p).resolve()
        if p.is_file():
            key = Path(os.path.relpath(p, project.folder)).as_posix()
            if project.entry(key) is not None:
                return key
    return None
