"""About: the version, where files are kept, and the licences of the components bundled with it."""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass
from importlib import metadata

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from terminal import __version__, resources
from terminal.ui import theme


@dataclass(frozen=True)
class Component:
    name: str
    distribution: str  # the name pip knows it by ("" for Python itself)
    licence: str  # SPDX expression, as in the distribution's metadata
    url: str


# Checked against each distribution's metadata by tests/ui/test_dialogs.py.
BUNDLED: tuple[Component, ...] = (
    Component("Python", "", "PSF-2.0", "https://www.python.org"),
    Component("Qt / PySide6", "PySide6-Essentials", "LGPL-3.0-only", "https://www.qt.io/qt-for-python"),
    Component("Shiboken6", "shiboken6", "LGPL-3.0-only", "https://www.qt.io/qt-for-python"),
    Component("pyqtgraph", "pyqtgraph", "MIT", "https://www.pyqtgraph.org"),
    Component("NumPy", "numpy", "BSD-3-Clause", "https://numpy.org"),
    Component("qasync", "qasync", "BSD-2-Clause", "https://github.com/CabbageDevelopment/qasync"),
    Component("Requests", "requests", "Apache-2.0", "https://requests.readthedocs.io"),
    Component("urllib3", "urllib3", "MIT", "https://urllib3.readthedocs.io"),
    Component("certifi", "certifi", "MPL-2.0", "https://github.com/certifi/python-certifi"),
    Component("websocket-client", "websocket-client", "Apache-2.0", "https://github.com/websocket-client"),
    Component("websockets", "websockets", "BSD-3-Clause", "https://websockets.readthedocs.io"),
    Component("PyOTP", "pyotp", "MIT", "https://github.com/pyauth/pyotp"),
    Component("keyring", "keyring", "MIT", "https://github.com/jaraco/keyring"),
    Component("platformdirs", "platformdirs", "MIT", "https://github.com/tox-dev/platformdirs"),
)
LGPL_NOTE = ("Qt and PySide6 are used under the GNU LGPL v3: they are linked dynamically and can be replaced "
             "with your own build of the same version (the libraries sit in the install folder).")


def installed_version(component: Component) -> str:
    """The version running now ("" when the metadata is not bundled)."""
    if not component.distribution:
        return platform.python_version()
    try:
        return metadata.version(component.distribution)
    except metadata.PackageNotFoundError:
        return ""


class AboutDialog(QDialog):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("About Trading Terminal")
        self.setWindowIcon(resources.app_icon())
        self.resize(620, 520)
        logo = QLabel(self)
        logo.setPixmap(resources.app_icon().pixmap(64, 64))
        muted = theme.current().muted
        text = QLabel(
            f"<h2 style='margin:0'>Trading Terminal {__version__}</h2>"
            f"<p>A keyboard-first trading terminal for Indian F&amp;O markets.<br>"
            f"<span style='color:{muted}'>Python {platform.python_version()} · Qt {qVersion()} · "
            f"PySide6 {pyside_version} · {platform.system()} {platform.machine()}"
            f"{' · bundled' if getattr(sys, 'frozen', False) else ''}</span></p>"
            f"<p>Released under the MIT licence. It comes with no warranty: check every order.</p>", self)
        text.setTextFormat(Qt.RichText)
        text.setWordWrap(True)
        text.setTextInteractionFlags(Qt.TextSelectableByMouse)
        head = QHBoxLayout()
        head.addWidget(logo, 0, Qt.AlignTop)
        head.addWidget(text, 1)

        self.table = QTableWidget(len(BUNDLED), 3, self)
        self.table.setHorizontalHeaderLabels(["Component", "Version", "Licence"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        for row, component in enumerate(BUNDLED):
            name = QTableWidgetItem(component.name)
            name.setToolTip(component.url)
            self.table.setItem(row, 0, name)
            self.table.setItem(row, 1, QTableWidgetItem(installed_version(component)))
            self.table.setItem(row, 2, QTableWidgetItem(component.licence))
        self.table.resizeColumnsToContents()
        note = QLabel(LGPL_NOTE, self)
        note.setWordWrap(True)
        note.setStyleSheet(f"color: {muted};")
        buttons = QDialogButtonBox(QDialogButtonBox.Close, self)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(QLabel("Bundled components and their licences:", self))
        layout.addWidget(self.table, 1)
        layout.addWidget(note)
        layout.addWidget(buttons)
