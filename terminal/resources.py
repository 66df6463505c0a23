"""Icons and other bundled files, found the same way from a source checkout and a frozen bundle.

From source the files live in ``resources/`` at the top of the repository; in a PyInstaller
bundle they are unpacked to ``sys._MEIPASS/resources`` (the spec puts them there). The
``TRADING_TERMINAL_RESOURCES`` variable points elsewhere (packagers, tests).

Toolbar icons are line drawings with ``stroke="currentColor"``; ``icon()`` paints them in the
colour asked for (the theme's text colour by default), so one set of files serves both themes.
The path helpers import no Qt; ``icon()``, ``app_icon()`` and ``pixmap()`` need a QApplication.
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from pathlib import Path

ENV_OVERRIDE = "TRADING_TERMINAL_RESOURCES"
APP_ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)  # pixels; PNGs made from app.svg


class ResourceMissing(FileNotFoundError):
    """A bundled file is not where the terminal looks for it (a broken install or bundle)."""


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False)) and hasattr(sys, "_MEIPASS")


def resource_root() -> Path:
    """The folder that holds ``icons/``: the bundle's, the override's, or the checkout's."""
    override = os.environ.get(ENV_OVERRIDE)
    if override:
        return Path(override)
    if is_frozen():
        return Path(sys._MEIPASS) / "resources"  # type: ignore[attr-defined]
    return Path(__file__).resolve().parent.parent / "resources"


def resource_path(relative: str) -> Path:
    """The file ``relative`` (e.g. "icons/app.svg") under the resource root; raises if absent."""
    path = resource_root() / relative
    if not path.is_file():
        raise ResourceMissing(f"Bundled file {relative!r} is missing (looked in {resource_root()}). "
                              "Reinstall the terminal, or run it from a complete source checkout.")
    return path


def toolbar_icon_names() -> list[str]:
    """Names of the toolbar icons shipped, e.g. ["about", "buy", ...]."""
    folder = resource_root() / "icons" / "toolbar"
    return sorted(p.stem for p in folder.glob("*.svg"))


@lru_cache(maxsize=None)
def _svg_text(relative: str) -> str:
    return resource_path(relative).read_text(encoding="utf-8")


def tinted_svg(name: str, colour: str) -> bytes:
    """The toolbar icon ``name`` with its line colour set to ``colour`` ("#rrggbb")."""
    return _svg_text(f"icons/toolbar/{name}.svg").replace("currentColor", colour).encode("utf-8")


def icon(name: str, colour: str | None = None, sizes: tuple[int, ...] = (16, 20, 24, 32, 48)):
    """A QIcon of the toolbar icon ``name``, drawn in ``colour`` (default: the theme's text)."""
    from PySide6.QtGui import QIcon

    if colour is None:
        from terminal.ui import theme

        colour = theme.current().text
    icon_ = QIcon()
    for size in sizes:
        icon_.addPixmap(_render(tinted_svg(name, colour), size))
    return icon_


def pixmap(relative: str, size: int):
    """A square QPixmap of the SVG ``relative`` at ``size`` pixels."""
    return _render(_svg_text(relative).encode("utf-8"), size)


def app_icon():
    """The application icon (window, task bar, dialogs), from the PNG sizes when present."""
    from PySide6.QtGui import QIcon

    icon_ = QIcon()
    folder = resource_root() / "icons"
    for size in APP_ICON_SIZES:
        png = folder / f"app-{size}.png"
        if png.is_file():
            icon_.addFile(str(png))
    if icon_.isNull():  # PNGs not generated (fresh checkout): draw from the SVG
        for size in APP_ICON_SIZES:
            icon_.addPixmap(pixmap("icons/app.svg", size))
    return icon_


def _render(svg: bytes, size: int):
    from PySide6.QtCore import QByteArray, Qt
    from PySide6.QtGui import QPainter, QPixmap
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(QByteArray(svg))
    if not renderer.isValid():
        raise ValueError("not a valid SVG image")
    image = QPixmap(size, size)
    image.fill(Qt.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.Antialiasing)
    renderer.render(painter)
    painter.end()
    return image
