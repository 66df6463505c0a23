"""The README's screenshots: the main window, the welcome dialog and the settings dialog, dark theme.

    python packaging/readme_screenshots.py        # or: make screenshots

Writes docs/screenshots/main_window.png (``python -m terminal --screenshot ... --after 4``: the
simulated exchange after a few seconds of sample trading), welcome.png and settings.png (the real
dialogs rendered on the offscreen platform with a fresh settings file, so nothing of the user's
shows). Run it again after changing how those look, and commit the PNGs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"


def main_window(path: Path, after_s: float = 4.0) -> None:
    with tempfile.TemporaryDirectory(prefix="terminal-readme-") as home:
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", TRADING_TERMINAL_HOME=home)
        subprocess.run([sys.executable, "-m", "terminal", "--screenshot", str(path), "--after", str(after_s),
                        "--seed", "7"], cwd=ROOT, env=env, check=True, timeout=120)


def dialogs(welcome_path: Path, settings_path: Path) -> None:
    """Renders both dialogs in this process (offscreen, dark theme, a scratch TRADING_TERMINAL_HOME)."""
    from PySide6.QtGui import QAction, QKeySequence
    from PySide6.QtWidgets import QApplication

    from terminal.storage.settings import Settings
    from terminal.ui import theme
    from terminal.ui.dialogs.settings_dialog import SettingsDialog
    from terminal.ui.dialogs.welcome import WelcomeDialog
    from terminal.ui.hotkeys import KEYMAP

    app = QApplication.instance() or QApplication(sys.argv[:1])
    theme.apply_theme(app, "dark")
    settings = Settings()
    welcome = WelcomeDialog(settings)
    render(app, welcome, welcome_path)
    actions = {}
    for hotkey in KEYMAP:  # the default keymap, as the main window builds it
        action = QAction(hotkey.label, app)
        action.setShortcut(QKeySequence(hotkey.default))
        actions[hotkey.action_id] = action
    render(app, SettingsDialog(settings, actions), settings_path)


def render(app, dialog, path: Path) -> None:
    dialog.show()
    for _ in range(5):  # layouts and style polish settle over a few event-loop turns
        app.processEvents()
    if not dialog.grab().save(str(path)):
        raise SystemExit(f"could not write {path}")
    dialog.close()
    print(f"wrote {path}")


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    main_window(OUT / "main_window.png")
    with tempfile.TemporaryDirectory(prefix="terminal-readme-") as home:
        os.environ["TRADING_TERMINAL_HOME"] = home
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        sys.path.insert(0, str(ROOT))
        dialogs(OUT / "welcome.png", OUT / "settings.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
