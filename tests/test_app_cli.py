"""The terminal as a person starts it: no display, and --screenshot."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_terminal(args, home, extra_env=None, timeout=120):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["TRADING_TERMINAL_HOME"] = str(home)
    env.update(extra_env or {})
    return subprocess.run([sys.executable, "-m", "terminal", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_without_a_display_it_says_so_in_one_sentence(tmp_path):
    result = run_terminal([], tmp_path)
    assert result.returncode == 2
    assert "No display" in result.stderr and "--screenshot" in result.stderr
    assert "Traceback" not in result.stderr and "Aborted" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_screenshot_saves_a_picture_of_the_live_window(tmp_path):
    from PySide6.QtGui import QImage

    target = tmp_path / "shot.png"
    result = run_terminal(["--screenshot", str(target), "--after", "2", "--seed", "1"], tmp_path)
    assert result.returncode == 0, result.stderr
    image = QImage(str(target))
    assert image.width() >= 1200 and image.height() >= 700
    # A live, populated window is not one flat colour.
    colours = {image.pixel(x, y) for x in range(0, image.width(), 37) for y in range(0, image.height(), 23)}
    assert len(colours) > 20
    # A screenshot run does not overwrite the user's saved layout.
    settings = tmp_path / "config" / "settings.json"
    assert not settings.exists() or '"state"' not in settings.read_text()
