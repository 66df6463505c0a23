"""Named workspaces (save, switch, delete) and crash-safe layout saving.

A workspace is what the trader arranged: the dock layout (QMainWindow state), the open charts
(their ChartPanel states) and the watchlist. They are kept in settings["workspaces"] as
{name: {"state": base64, "charts": [...], "watchlist": [...]}} with the current one's name in
settings["workspace"].

``LayoutAutosave`` saves the window's layout every N seconds, so a crash or a power cut loses at
most that much arranging; Settings.save writes atomically on its own thread, so the UI never
waits on the disk.

The window is duck-typed (the MainWindow): saveState/restoreState, ``charts`` (ChartDocks:
``charts`` dict, ``open(key, state)``, ``close(key)``), ``panels["market_watch"]`` (``keys()``,
``add_instrument``, ``remove_instrument``) and ``save_layout()`` for the autosave.
"""

from __future__ import annotations

import base64
import logging

from PySide6.QtCore import QByteArray, QObject, QTimer, Signal

log = logging.getLogger(__name__)

WORKSPACES_KEY = "workspaces"
CURRENT_KEY = "workspace"
DEFAULT_NAME = "Default"
AUTOSAVE_SECONDS = 30


class WorkspaceError(ValueError):
    """A workspace name that cannot be used, or one that does not exist."""


class Workspaces(QObject):
    changed = Signal()  # the list of names or the current one changed
    switched = Signal(str)

    def __init__(self, window, settings, parent: QObject | None = None):
        super().__init__(parent or window)
        self.window = window
        self.settings = settings

    # --- reading --------------------------------------------------------------------------------
    def _all(self) -> dict:
        stored = self.settings.get(WORKSPACES_KEY, {}) or {}
        return stored if isinstance(stored, dict) else {}

    def names(self) -> list[str]:
        return sorted(self._all(), key=str.casefold)

    def current(self) -> str:
        return self.settings.get(CURRENT_KEY) or DEFAULT_NAME

    # --- capture and apply ----------------------------------------------------------------------
    def capture(self) -> dict:
        """The window as it is now."""
        charts = getattr(self.window, "charts", None)
        return {
            "state": base64.b64encode(bytes(self.window.saveState())).decode(),
            "charts": [panel.state() for panel in charts.charts.values()] if charts is not None else [],
            "watchlist": list(self.window.panels["market_watch"].keys()),
        }

    def apply(self, workspace: dict) -> None:
        """Make the window look like ``workspace``: watchlist, then charts, then the dock layout."""
        watch = self.window.panels["market_watch"]
        wanted = [k for k in workspace.get("watchlist", []) if isinstance(k, str)]
        for key in list(watch.keys()):
            if key not in wanted:
                watch.remove_instrument(key)
        for key in wanted:
            if key not in watch.keys():
                watch.add_instrument(key)
        charts = getattr(self.window, "charts", None)
        if charts is not None:
            states = {s.get("instrument_key"): s for s in workspace.get("charts", []) if isinstance(s, dict)}
            for key in list(charts.charts):
                if key not in states:
                    charts.close(key)
            for key, state in states.items():
                if key and key not in charts.charts:
                    charts.open(key, state)
        state = workspace.get("state")
        if state:
            try:
                self.window.restoreState(QByteArray(base64.b64decode(state)))
            except (ValueError, TypeError) as exc:
                log.warning("Workspace layout ignored: %s", exc)

    # --- commands -------------------------------------------------------------------------------
    def save(self, name: str | None = None) -> str:
        """Save the window as workspace ``name`` (default: the current one) and make it current."""
        name = _clean(name if name is not None else self.current())
        workspaces = self._all()
        workspaces[name] = self.capture()
        self.settings.set(WORKSPACES_KEY, workspaces)
        self.settings.set(CURRENT_KEY, name)
        self.settings.save()
        self.changed.emit()
        return name

    def switch(self, name: str) -> None:
        """Keep the current workspace as it is now, then show ``name``."""
        workspaces = self._all()
        if name not in workspaces:
            raise WorkspaceError(f"There is no workspace called “{name}”.")
        if name == self.current():
            return
        self.save()  # what the trader arranged in the one being left is not lost
        self.apply(workspaces[name])
        self.settings.set(CURRENT_KEY, name)
        self.settings.save()
        self.switched.emit(name)
        self.changed.emit()

    def delete(self, name: str) -> None:
        workspaces = self._all()
        if name not in workspaces:
            raise WorkspaceError(f"There is no workspace called “{name}”.")
        if name == self.current():
            raise WorkspaceError("The workspace in use cannot be deleted: switch to another first.")
        del workspaces[name]
        self.settings.set(WORKSPACES_KEY, workspaces)
        self.settings.save()
        self.changed.emit()

    def rename(self, old: str, new: str) -> str:
        workspaces = self._all()
        new = _clean(new)
        if old not in workspaces:
            raise WorkspaceError(f"There is no workspace called “{old}”.")
        if new in workspaces and new != old:
            raise WorkspaceError(f"A workspace called “{new}” exists already.")
        workspaces[new] = workspaces.pop(old)
        self.settings.set(WORKSPACES_KEY, workspaces)
        if self.current() == old:
            self.settings.set(CURRENT_KEY, new)
        self.settings.save()
        self.changed.emit()
        return new

    # --- menu -----------------------------------------------------------------------------------
    def fill_menu(self, menu) -> None:
        """Rebuild ``menu`` (a QMenu): one checkable entry per workspace, then save/delete commands.

        Connect ``menu.aboutToShow`` to this so the menu is current each time it opens.
        """
        from PySide6.QtGui import QActionGroup
        from PySide6.QtWidgets import QInputDialog, QMessageBox

        menu.clear()
        group = QActionGroup(menu)
        for name in self.names() or [self.current()]:
            action = menu.addAction(name)
            action.setCheckable(True)
            action.setChecked(name == self.current())
            action.setActionGroup(group)
            action.triggered.connect(lambda _=False, n=name: self._guarded(lambda: self.switch(n)))
        menu.addSeparator()
        menu.addAction("Save workspace", lambda: self._guarded(self.save))

        def save_as() -> None:
            name, ok = QInputDialog.getText(self.window, "Save workspace as", "Name:")
            if ok and name.strip():
                self._guarded(lambda: self.save(name))

        def delete() -> None:
            others = [n for n in self.names() if n != self.current()]
            if not others:
                QMessageBox.information(self.window, "Delete workspace", "Only the workspace in use exists.")
                return
            name, ok = QInputDialog.getItem(self.window, "Delete workspace", "Workspace:", others, 0, False)
            if ok:
                self._guarded(lambda: self.delete(name))

        menu.addAction("Save workspace as…", save_as)
        menu.addAction("Delete workspace…", delete)

    def _guarded(self, command) -> None:
        from PySide6.QtWidgets import QMessageBox

        try:
            command()
        except WorkspaceError as exc:
            QMessageBox.warning(self.window, "Workspaces", str(exc))


def _clean(name: str) -> str:
    name = " ".join(str(name).split())
    if not name:
        raise WorkspaceError("A workspace needs a name.")
    if len(name) > 40:
        raise WorkspaceError("Keep the workspace name under 40 characters.")
    return name


class LayoutAutosave(QObject):
    """Calls ``save()`` every ``seconds`` while the window is up (crash-safe layout)."""

    saved = Signal()

    def __init__(self, save, seconds: float = AUTOSAVE_SECONDS, parent: QObject | None = None):
        super().__init__(parent)
        if seconds <= 0:
            raise ValueError("the autosave period must be positive (seconds)")
        self._save = save
        self.timer = QTimer(self)
        self.timer.setInterval(int(seconds * 1000))
        self.timer.timeout.connect(self.save_now)
        self.timer.start()

    def save_now(self) -> None:
        try:
            self._save()
        except Exception:  # a failed autosave must never take the terminal down
            log.exception("Layout autosave failed")
            return
        self.saved.emit()

    def stop(self) -> None:
        self.timer.stop()
