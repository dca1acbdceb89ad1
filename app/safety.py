"""The window's data-safety rules: nothing the user made is lost or overwritten without asking.

- Opening takes the project's lock (app.project.ProjectLock): a folder already open in another
  RIS Studio is refused or opened read-only; a stale lock (crashed instance) is taken over by the
  project layer; an unreadable project file can be set aside (kept as a backup) for a new project.
- Images listed in the project but missing on disk are shown as missing; their annotations stay
  in the file untouched and come back when the image does.
- When autosave fails (read-only folder, full disk), switching folders or quitting offers Save
  elsewhere / Export / Discard (confirmed) / Cancel: in-memory edits are never dropped silently.
- When the project file was changed on disk by someone else, autosave stops (the project layer
  refuses to write over it) and the user chooses: save theirs elsewhere, overwrite (the other
  version is kept as a backup) or reload (discarding theirs, named on the button).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QFileDialog, QMessageBox

from . import dialogs
from .project import Project, ProjectChangedError, ProjectError, ProjectFileError, ProjectLockedError

MISSING_ROLE = Qt.UserRole + 7  # file-list item flag: the image is missing on disk


def choose(parent, title: str, text: str, options: list[tuple[str, str]], default: str) -> str:
    """A question with named answers: ``options`` are (key, button text); returns the key pressed.
    Esc (or closing the box) answers ``cancel``."""
    box = QMessageBox(QMessageBox.Warning, title, text, QMessageBox.NoButton, parent)
    keys = {}
    for key, label in options:
        button = box.addButton(label, QMessageBox.RejectRole if key == "cancel" else QMessageBox.AcceptRole)
        keys[button] = key
        if key == default:
            box.setDefaultButton(button)
        if key == "cancel":
            box.setEscapeButton(button)
    box.exec()
    return keys.get(box.clickedButton(), "cancel")


def confirm(parent, title: str, text: str) -> bool:
    """Yes/No with No as the default (Enter or a typed space does not confirm a loss)."""
    return QMessageBox.question(parent, title, text, QMessageBox.Yes | QMessageBox.No,
                                QMessageBox.No) == QMessageBox.Yes


class Safety(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self._discarding = False  # the user chose to drop the edits: leaving needs no more questions
        self._save_error_shown = False
        self._changed_asked = False

    def discard_unsaved(self) -> None:
        """Leave without asking from now on (the user chose to drop the edits; test teardown)."""
        self._discarding = True

    # ----- opening ----------------------------------------------------------------------------
    def open_project(self, paths) -> Project | None:
        """``Project.open`` with the lock; None (after saying why) when it cannot or should not open."""
        old = self.w.project
        if old is not None:
            old.close()  # reopening the same folder must not find our own lock
        project = self._open(paths)
        if project is None and old is not None and old.lock is not None:
            old.lock.acquire()  # staying on the old project: hold its lock again
        return project

    def _open(self, paths) -> Project | None:
        w = self.w
        try:
            return Project.open(paths, lock=True)
        except ProjectLockedError as e:
            answer = choose(w, "Already open", f"{e}.\n\nTwo windows on one folder would overwrite each "
                            "other's annotations.", [("read_only", "Open read-only"), ("cancel", "Cancel")],
                            "read_only")
            if answer != "read_only":
                return None
            try:
                return Project.open(paths, read_only=True)
            except ProjectError as e2:
                dialogs.show_error(w, "Cannot open", str(e2))
                return None
        except ProjectFileError as e:
            answer = choose(w, "Cannot read the project file", str(e),
                            [("recover", "Start a new project (the old file is kept as a backup)"),
                             ("cancel", "Cancel")], "cancel")
            if answer != "recover":
                return None
            try:
                return Project.open(paths, lock=True, recover=True)
            except ProjectError as e2:
                dialogs.show_error(w, "Cannot open", str(e2))
                return None
        except ProjectError as e:
            dialogs.show_error(w, "Cannot open", str(e))
            return None

    def opened(self, project: Project) -> None:
        """After the window took ``project``: reset, mark missing images, say what needs saying."""
        self._discarding = self._save_error_shown = self._changed_asked = False
        project.error_listeners.append(self.autosave_failed)
        self.mark_missing(project.missing())
        notes = list(project.notices)
        missing = project.missing()
        if missing:
            n = sum(project.count(k) for k in missing)
            notes.append(f"{len(missing)} image(s) listed in the project are missing on disk "
                         f"({', '.join(missing[:5])}{'...' if len(missing) > 5 else ''}); their {n} "
                         "annotation(s) are kept in the project file and come back with the images.")
        if project.read_only:
            notes.append(f"{project.folder} is open read-only: edits are not possible here; exports work.")
        if notes:
            dialogs.show_error(self.w, "Project", "\n\n".join(notes))

    def title_suffix(self) -> str:
        p = self.w.project
        return " [read-only]" if p is not None and p.read_only else ""

    # ----- missing images ---------------------------------------------------------------------
    def mark_missing(self, keys) -> None:
        p, files = self.w.project, self.w.files
        for key in keys:
            item = files._item(key)
            entry = p.entry(key)
            if item is None or entry is None:
                continue
            item.setData(MISSING_ROLE, entry.missing)
            files.set_count(key, p.count(key))  # the label adds "missing" (panels.FilePanel._label)
            item.setForeground(QBrush(QColor(150, 150, 150)) if entry.missing else QBrush())
            item.setToolTip(f"{entry.path} is missing; its annotations are kept" if entry.missing else "")

    def image_missing(self, key: str) -> bool:
        """Re-check the disk; True (and the canvas says so) when ``key``'s image is missing."""
        p = self.w.project
        self.mark_missing(p.refresh_missing())
        entry = p.entry(key)
        if entry is None or not entry.missing:
            return False
        w = self.w
        w.canvas.set_image(None)
        w.annotations.set_annotations([])
        w.statusBar().showMessage(f"{key} is missing on disk: its {p.count(key)} annotation(s) are kept in "
                                  "the project and come back when the image does.", 10000)
        return True

    # ----- saving problems --------------------------------------------------------------------
    def autosave_failed(self, message: str) -> None:
        p = self.w.project
        if p is not None and isinstance(p.last_save_error, ProjectChangedError):
            if not self._changed_asked:  # once; quitting or switching asks again (confirm_leave)
                self._changed_asked = True
                QTimer.singleShot(0, self.resolve_changed_on_disk)  # not inside the edit that failed
            return
        if not self._save_error_shown:  # once per project, not on every edit
            self._save_error_shown = True
            dialogs.show_error(self.w, "Autosave failed", message)
        self.w.statusBar().showMessage("Not saved: autosave failed (File > Save project as\u2026, or export).", 10000)

    def resolve_changed_on_disk(self) -> str:
        """Ask what to do about a project file someone else changed; returns the answer's key."""
        w, p = self.w, self.w.project
        if p is None or not p.dirty:
            return "cancel"
        answer = choose(w, "Project changed on disk",
                        f"{p.file} was changed by another program or RIS Studio window since it was opened "
                        "here, so your latest edits were NOT written over it.",
                        [("save_as", "Save mine elsewhere\u2026"), ("overwrite", "Overwrite it (a backup is kept)"),
                         ("reload", "Reload it (discard my edits)"), ("cancel", "Decide later")], "save_as")
        if answer == "save_as" and not self.save_as():
            answer = "cancel"
        elif answer == "overwrite":
            try:
                backup = p.save(force=True)
                w.statusBar().showMessage(f"Saved; the other version was kept as {backup}.", 10000)
            except (OSError, ProjectError) as e:
                dialogs.show_error(w, "Cannot save", str(e))
                answer = "cancel"
        elif answer == "reload":
            self.discard_unsaved()
            w.open_paths([p.folder])
        if answer == "cancel":
            w.statusBar().showMessage("Autosave is stopped: the project file changed on disk. Your edits are "
                                      "in memory; you are asked again before they could be lost.", 15000)
        else:
            self._changed_asked = False
        return answer

    def save_as(self) -> bool:
        """Save the project to a file the user picks (later autosaves go there)."""
        w, p = self.w, self.w.project
        if p is None:
            dialogs.show_error(w, "No project", "Open images or a folder first.")
            return False
        path, _ = QFileDialog.getSaveFileName(w, "Save project as", str(p.file), "RIS Studio project (*.json)")
        if not path:
            return False
        try:
            p.save_as(path)
        except (OSError, ProjectError) as e:
            dialogs.show_error(w, "Cannot save the project there", str(e))
            return False
        self._save_error_shown = False
        w.statusBar().showMessage(f"Project saved to {path}; autosave now writes there.", 10000)
        return True

    def confirm_leave(self, doing: str) -> bool:
        """Before switching folders or quitting: True when nothing unsaved would be lost."""
        w, p = self.w, self.w.project
        if self._discarding or p is None or p.read_only or not p.dirty:
            return True
        try:
            p.save()  # the folder may be writable again
            return True
        except ProjectChangedError as e:
            reason = str(e)
            keep = [("save_as", "Save mine elsewhere\u2026"), ("overwrite", "Overwrite it (a backup is kept)")]
        except (OSError, ProjectError) as e:
            reason = str(e)
            keep = [("save_as", "Save project elsewhere\u2026"), ("export", "Export COCO\u2026")]
        while True:
            answer = choose(w, "Unsaved annotations", f"Your latest edits are not saved: {reason}\n\nIf you "
                            f"{doing} now, they are lost. Save them first?",
                            keep + [("discard", "Discard my edits\u2026"), ("cancel", "Cancel")], "save_as")
            if answer == "cancel":
                return False
            if answer == "save_as" and self.save_as():
                return True
            if answer == "export" and w.tasks.export_coco():
                return True
            if answer == "overwrite":
                try:
                    p.save(force=True)
                    return True
                except (OSError, ProjectError) as e:
                    dialogs.show_error(w, "Cannot save", str(e))
            if answer == "discard" and confirm(w, "Discard edits?", "Discard the edits that are not saved? "
                                               "This cannot be undone."):
                return True
