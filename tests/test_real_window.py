"""The real application in a real X window: Xvfb, Qt's xcb platform (not offscreen), synthetic keys.

``python -m terminal`` runs as a subprocess, exactly as a trader starts it, on a private Xvfb
display. The test waits for the main window through the X server (xdotool), presses F8 (trade
book to the front) and F3 (order book back) with XTEST key events, and checks each effect on
screenshots of the X root window taken by a separate X client: the bottom-left dock changes on F8
and returns on F3. Ctrl+Q must then close the terminal with exit code 0.

Set TRADING_TERMINAL_EXECUTABLE to a built bundle's executable to run the same test on the bundle.
Skips with the reason where Xvfb or xdotool are missing (``apt-get install xvfb xdotool``;
.ci/run installs them). If they are present but the terminal cannot open its window, it fails
with the terminal's own error output: that is what a trader's desktop would show.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
TITLE = "^Trading Terminal [0-9]"  # the main window's title starts with the version ("Trading Terminal 0.1.0 — …")

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Xvfb and the xcb platform are Linux/X11 only"),
    pytest.mark.skipif(shutil.which("Xvfb") is None,
                       reason="Xvfb is not installed (apt-get install xvfb xdotool; .ci/run installs both)"),
    pytest.mark.skipif(shutil.which("xdotool") is None,
                       reason="xdotool is not installed (apt-get install xdotool; .ci/run installs it)"),
    pytest.mark.timeout(180),
]

# A separate X client that copies the root window to a PNG: what is on the X screen, not what the
# terminal thinks it painted.
GRAB_ROOT = """
import sys
from PySide6.QtGui import QGuiApplication
app = QGuiApplication(sys.argv[:1])
sys.exit(0 if app.primaryScreen().grabWindow(0).save(sys.argv[1]) else 1)
"""


class XServer:
    """A private Xvfb display; the number is picked by Xvfb itself (-displayfd), so it is free."""

    def __init__(self, width: int = 1920, height: int = 1080):
        read_end, write_end = os.pipe()
        self.process = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_end), "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
            pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(write_end)
        self._number_pipe = read_end  # open while Xvfb runs: it dies if its write finds the pipe closed
        text = b""
        deadline = time.monotonic() + 30
        while not text.endswith(b"\n") and time.monotonic() < deadline:
            ready, _, _ = select.select([read_end], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(read_end, 16) if ready else b""
            if not chunk:
                break  # Xvfb exited, or the deadline passed
            text += chunk
        number = text.decode().strip()
        if not number:
            self.stop()
            raise RuntimeError(f"Xvfb did not start: {self.process.stderr.read().decode()[-1000:]}")
        self.display = f":{number}"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
        env.update(DISPLAY=self.display, QT_QPA_PLATFORM="xcb", **extra)
        return env

    def run(self, *args: str, timeout: float = 30) -> str:
        done = subprocess.run(args, env=self.env(), capture_output=True, text=True, timeout=timeout)
        return done.stdout.strip() if done.returncode == 0 else ""

    def screenshot(self, path: Path) -> np.ndarray:
        """The whole X screen as an (height, width, 3) uint8 array, also saved at ``path``."""
        subprocess.run([sys.executable, "-c", GRAB_ROOT, str(path)], env=self.env(), check=True, timeout=60,
                       capture_output=True)
        from PySide6.QtGui import QImage

        image = QImage(str(path)).convertToFormat(QImage.Format.Format_RGB32)
        pixels = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine() // 4, 4)
        return pixels[:, :image.width(), 2::-1].copy()  # BGRA in memory -> RGB

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self._number_pipe is not None:
            os.close(self._number_pipe)
            self._number_pipe = None


def wait_for(condition, timeout: float, every: float = 0.25):
    """The first value of ``condition()`` that is not None within ``timeout`` seconds, else None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value is not None:
            return value
        time.sleep(every)
    return None


def changed_share(a: np.ndarray, b: np.ndarray) -> float:
    """Share of pixels (0..1) that differ between two pictures of the same size."""
    return float(np.any(a != b, axis=2).mean())


def is_populated(window: np.ndarray) -> bool:
    """A painted terminal, not a blank or single-colour window: many colours, none covering 90 %."""
    flat = window.reshape(-1, 3)
    colours, counts = np.unique(flat, axis=0, return_counts=True)
    return len(colours) > 50 and counts.max() < 0.9 * len(flat)


@pytest.fixture
def xserver():
    server = XServer()
    yield server
    server.stop()


def test_terminal_in_a_real_x_window_answers_hotkeys(xserver, tmp_path, isolated_home):
    config = isolated_home / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "settings.json").write_text(json.dumps({"welcome_done": True, "broker": "paper"}), encoding="utf-8")
    log = (tmp_path / "terminal.log").open("w+")
    env = xserver.env(TRADING_TERMINAL_HOME=str(isolated_home), PYTHONPATH=str(ROOT))
    # TRADING_TERMINAL_EXECUTABLE=dist/trading-terminal/trading-terminal runs the same test on a built bundle.
    program = os.environ.get("TRADING_TERMINAL_EXECUTABLE")
    command = [program] if program else [sys.executable, "-m", "terminal"]
    terminal = subprocess.Popen([*command, "--seed", "7"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def output() -> str:
        log.flush()
        log.seek(0)
        return log.read()[-3000:]

    try:
        def main_window() -> str:
            assert terminal.poll() is None, f"the terminal exited with {terminal.returncode}:\n{output()}"
            return xserver.run("xdotool", "search", "--onlyvisible", "--name", TITLE).split("\n")[0] or None

        window_id = wait_for(main_window, timeout=90)
        assert window_id, f"no main window on {xserver.display} within 90 s:\n{output()}"
        geometry = dict(line.split("=") for line in
                        xserver.run("xdotool", "getwindowgeometry", "--shell", window_id).splitlines())
        x, y, width, height = (int(geometry[k]) for k in ("X", "Y", "WIDTH", "HEIGHT"))
        assert width >= 800 and height >= 500, geometry

        def window_picture(name: str, wanted) -> np.ndarray | None:
            """The main window's part of a new screenshot, if ``wanted(picture)``; else None."""
            picture = xserver.screenshot(tmp_path / f"{name}.png")[y:y + height, x:x + width]
            return picture if wanted(picture) else None

        before = wait_for(lambda: window_picture("before", is_populated), timeout=60)
        assert before is not None, f"the main window never looked painted (see {tmp_path / 'before.png'})"

        # The bottom-left dock of the default layout, where the order book and the trade book are tabbed.
        docks = np.s_[int(height * 0.68):int(height * 0.97), 0:int(width * 0.45)]
        xserver.run("xdotool", "windowfocus", "--sync", window_id)  # no window manager: give it the keyboard
        xserver.run("xdotool", "key", "F8")
        after_f8 = wait_for(lambda: window_picture(
            "after_f8", lambda w: changed_share(w[docks], before[docks]) > 0.05), timeout=20)
        assert after_f8 is not None, "F8 did not bring the trade book to the front (the dock area did not change)"

        xserver.run("xdotool", "key", "F3")
        after_f3 = wait_for(lambda: window_picture(
            "after_f3", lambda w: changed_share(w[docks], before[docks]) < 0.03), timeout=20)
        assert after_f3 is not None, "F3 did not bring the order book back to the front"
        assert is_populated(after_f3)

        xserver.run("xdotool", "key", "ctrl+q")
        assert terminal.wait(30) == 0, output()
    finally:
        if terminal.poll() is None:
            terminal.kill()
            terminal.wait(10)
        log.close()
