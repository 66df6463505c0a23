"""Start-up: launch to the first painted main window, and import time by module, from source.

Run: ``QT_QPA_PLATFORM=offscreen python -m bench.bench_startup``. ``run()`` returns the rows.

Each start is a fresh interpreter (``python -c``) with a fresh TRADING_TERMINAL_HOME. The
terminal runs through its real entry point, ``terminal.app.main`` with ``--screenshot`` (which
picks the paper broker and an in-memory journal, so nothing is left behind); an application
event filter notes the first Paint event of a widget inside the main window and a zero-delay
timer marks the moment that paint pass is over, which ends the run. The reference is a bare
QApplication with an empty QMainWindow, launched and timed the same way.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, fmt, median, row  # noqa: E402

FIRST_PAINT_PROBE = r"""
import sys, time
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow

class FirstPaint(QObject):
    seen = False
    def eventFilter(self, watched, event):
        if not self.seen and event.type() == QEvent.Type.Paint and hasattr(watched, "window") \
                and isinstance(watched.window(), QMainWindow):
            self.seen = True
            QTimer.singleShot(0, self.done)
        return False
    def done(self):
        print(f"FIRST_PAINT {time.time():.6f}", flush=True)
        QApplication.instance().quit()

app = QApplication(sys.argv[:1])
probe = FirstPaint()
app.installEventFilter(probe)
"""

TERMINAL = FIRST_PAINT_PROBE + r"""
from terminal.app import main
main(["--screenshot", sys.argv[1], "--after", "30"])
"""

BARE = FIRST_PAINT_PROBE + r"""
window = QMainWindow()
window.resize(1600, 900)
window.show()
app.exec()
"""

IMPORTS = ("import qasync, PySide6.QtWidgets, terminal.app, terminal.ui.main_window, "
           "terminal.brokers.paper.broker, terminal.sim.exchange, terminal.services.account_session")


def _environment(home: str) -> dict[str, str]:
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = env.get("QT_QPA_PLATFORM", "offscreen")
    env["TRADING_TERMINAL_HOME"] = home
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def launch_to_first_paint(code: str, timeout_s: float = 60.0) -> float:
    """Seconds from launching a fresh interpreter running ``code`` to its first painted main window."""
    with tempfile.TemporaryDirectory(prefix="terminal-start-") as home:
        start = time.time()
        done = subprocess.run([sys.executable, "-c", code, str(Path(home) / "shot.png")], cwd=REPO,
                              env=_environment(home), capture_output=True, text=True, timeout=timeout_s)
    for line in done.stdout.splitlines():
        if line.startswith("FIRST_PAINT "):
            return float(line.split()[1]) - start
    raise RuntimeError(f"no first paint reported (exit {done.returncode}): {done.stderr[-800:]}")


def import_times(timeout_s: float = 60.0) -> tuple[float, list[tuple[str, int, int]]]:
    """(total import seconds, [(module, self µs, cumulative µs)]) from ``python -X importtime``."""
    with tempfile.TemporaryDirectory(prefix="terminal-import-") as home:
        done = subprocess.run([sys.executable, "-X", "importtime", "-c", IMPORTS], cwd=REPO, env=_environment(home),
                              capture_output=True, text=True, timeout=timeout_s)
    if done.returncode:
        raise RuntimeError(f"the import run failed: {done.stderr[-800:]}")
    modules = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, total, name = line[len("import time:"):].split("|")
        modules.append((name.strip(), int(own), int(total)))
    total = sum(own for _, own, _ in modules) / 1e6
    return total, modules


_IMPORTS: list[tuple[str, int, int]] = []
_TOTAL_IMPORT_S = 0.0
_STARTS = 0


def run(starts: int = 3) -> list[dict]:
    global _IMPORTS, _TOTAL_IMPORT_S, _STARTS
    launch_to_first_paint(BARE)  # warm the file cache for both, so the first sample is not an outlier
    ours = [launch_to_first_paint(TERMINAL) for _ in range(starts)]
    bare = [launch_to_first_paint(BARE) for _ in range(starts)]
    _TOTAL_IMPORT_S, _IMPORTS = import_times()
    _STARTS = starts
    terminal_own = sum(own for name, own, _ in _IMPORTS if name.split(".")[0] == "terminal") / 1e6
    return [
        row("launch → first painted main window (median)", median(ours), "s", "bare QApplication + empty QMainWindow",
            median(bare)),
        row("launch → first painted main window (slowest)", max(ours), "s", "bare QApplication + empty QMainWindow",
            max(bare)),
        row("imports of the terminal, all modules (-X importtime, self times summed)", _TOTAL_IMPORT_S, "s", "", None),
        row("…of which the terminal's own modules", terminal_own, "s", "all imports", _TOTAL_IMPORT_S),
    ]


def details() -> str:
    top = sorted(_IMPORTS, key=lambda m: m[1], reverse=True)[:15]
    lines = [f"{_STARTS} starts each, medians and worst shown. Import time by module: `python -X importtime -c "
             f"\"{IMPORTS}\"`, the 15 modules with the largest own (self) time, with their cumulative time "
             "(which includes what they import).", "",
             "| module | self ms | cumulative ms |", "|---|---:|---:|"]
    lines += [f"| `{name}` | {own / 1000:,.1f} | {total / 1000:,.1f} |" for name, own, total in top]
    return "\n".join(lines)


if __name__ == "__main__":
    for r in run():
        print(f"{r['name']:<70} {fmt(r['value'], 3)} {r['unit']} ref {fmt(r['reference_value'], 3)}")
    print(details())
