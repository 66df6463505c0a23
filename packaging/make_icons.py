"""Render resources/icons/app.svg to the PNG sizes, a Windows .ico and a macOS .icns, with Qt.

Run after changing app.svg:  python packaging/make_icons.py   (the outputs are committed).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    from PySide6.QtGui import QGuiApplication, QImageWriter

    from terminal.resources import APP_ICON_SIZES, pixmap

    app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841 (needed for QPixmap)
    folder = ROOT / "resources" / "icons"
    for size in APP_ICON_SIZES:
        target = folder / f"app-{size}.png"
        if not pixmap("icons/app.svg", size).save(str(target), "PNG"):
            print(f"could not write {target}", file=sys.stderr)
            return 1
    formats = {bytes(f).decode() for f in QImageWriter.supportedImageFormats()}
    # One image per file: Qt's ico/icns writers take the largest size they support.
    for suffix, size in (("ico", 256), ("icns", 512)):
        if suffix not in formats:
            print(f"Qt cannot write .{suffix} here; skipped", file=sys.stderr)
            continue
        target = folder / f"app.{suffix}"
        if not pixmap("icons/app.svg", size).save(str(target), suffix):
            print(f"could not write {target}", file=sys.stderr)
            return 1
    print(f"icons written to {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
