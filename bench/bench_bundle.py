"""Bundle: size of the one-folder bundle and start-up to a rendered main window, from source and bundle.

Run: ``QT_QPA_PLATFORM=offscreen python -m bench.bench_bundle``. ``run()`` returns the rows.

Two one-folder bundles are built with PyInstaller: the terminal from packaging/trading-terminal.spec,
and a plain PySide6 hello-world (a QMainWindow with a QLabel) from a spec that applies the same
rules (bundle_config's excludes, Qt plugin and translation trimming, debug-data stripping, no UPX).
Both are kept under build/bench-bundles/ with a fingerprint of what went into them (the spec, the
terminal's sources and resources, the versions of Python, PyInstaller, PySide6 and numpy) and are
rebuilt only when that changes or they are missing; the output says which happened.

Start-up is timed the same way for all four programs (terminal and hello-world, from source and
from the bundle): each launch is a new process with a fresh TRADING_TERMINAL_HOME and
``--screenshot PATH --after 0``, which renders the whole main window once (``QWidget.grab``) at
the first turn of the event loop and saves it; the figure is launch → the PNG's modification time.
That includes encoding the PNG (a few ms more for the busy terminal than for the plain hello-world
window), so it is a little pessimistic against a bare first-paint probe (bench_startup's figure).
The file cache is warm (one unmeasured start first): this is a trader's second start of the day,
not the first after a reboot, which dropping the page cache on a shared machine cannot measure fairly.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, fmt, median, row  # noqa: E402

PACKAGING = REPO / "packaging"
CACHE = REPO / "build" / "bench-bundles"
SIZE_GOAL_MB = 220.0
START_GOAL_S = 1.5

HELLO = '''"""A plain PySide6 hello-world: the reference the terminal's bundle is compared with."""
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow

app = QApplication(sys.argv[:1])
window = QMainWindow()
window.setWindowTitle("Hello")
window.setCentralWidget(QLabel("Hello, world"))
window.resize(1600, 900)
window.show()
if "--screenshot" in sys.argv:  # same meaning as the terminal's --screenshot PATH --after 0
    path = sys.argv[sys.argv.index("--screenshot") + 1]

    def take_screenshot():
        window.grab().save(path)
        app.quit()

    QTimer.singleShot(0, take_screenshot)
sys.exit(app.exec())
'''

HELLO_SPEC = '''# The hello-world bundle, built by the same rules as trading-terminal.spec (bench/bench_bundle.py writes it).
import sys
from pathlib import Path

sys.path.insert(0, {packaging!r})
import bundle_config as cfg

cfg.refuse_unused_qt_plugins()
a = Analysis([{script!r}], excludes=cfg.EXCLUDES, noarchive=False)
a.binaries = cfg.strip_debug_info(cfg.trim(a.binaries), Path(workpath) / "without-debug-info")
a.datas = cfg.trim(a.datas)
pyz = PYZ(a.pure)
pyz.dependencies = cfg.strip_debug_info(pyz.dependencies, Path(workpath) / "without-debug-info")
exe = EXE(pyz, a.scripts, [], exclude_binaries=True, name="hello", debug=False, strip=False, upx=False,
          console=False)
coll = COLLECT(exe, a.binaries, a.datas, strip=False, upx=False, name="hello")
'''

_NOTES: list[str] = []
_SIZES: dict[str, dict[str, float]] = {}
_SAMPLES: dict[str, list[float]] = {}


def _build_module():
    sys.path.insert(0, str(PACKAGING))
    try:
        import build
    finally:
        sys.path.remove(str(PACKAGING))
    return build


def fingerprint(extra: str, with_terminal: bool) -> str:
    """A hash of what decides a bundle's content: ``extra``, the packaging rules, tool versions, the sources."""
    digest = hashlib.sha256(extra.encode())
    for name in ("PyInstaller", "PySide6", "numpy"):
        try:
            digest.update(f"{name}={__import__(name).__version__}".encode())
        except ImportError:
            digest.update(f"{name}=absent".encode())
    digest.update(sys.version.encode())
    files = [PACKAGING / "bundle_config.py"]
    if with_terminal:
        files += [*PACKAGING.glob("*.py"), *PACKAGING.glob("*.spec"), *(REPO / "terminal").rglob("*.py"),
                  *(REPO / "resources").rglob("*")]
    for path in sorted(set(files)):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(REPO)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _cached(name: str, executable: Path, key: str) -> bool:
    stamp = CACHE / f"{name}.stamp"
    return executable.is_file() and stamp.is_file() and json.loads(stamp.read_text()).get("key") == key


def _remember(name: str, key: str, seconds: float) -> None:
    (CACHE / f"{name}.stamp").write_text(json.dumps({"key": key, "built": time.strftime("%Y-%m-%d %H:%M"),
                                                     "seconds": round(seconds, 1)}))


def terminal_bundle() -> Path:
    """build/bench-bundles/terminal/trading-terminal/, built from the spec unless already current."""
    build = _build_module()
    dist = CACHE / "terminal"
    executable = dist / build.cfg.APP_NAME / build.cfg.APP_NAME
    key = fingerprint("terminal", with_terminal=True)
    if _cached("terminal", executable, key):
        _NOTES.append("terminal bundle: cached in build/bench-bundles/terminal (its inputs are unchanged)")
    else:
        CACHE.mkdir(parents=True, exist_ok=True)
        seconds = build.build_bundle(dist)
        _remember("terminal", key, seconds)
        _NOTES.append(f"terminal bundle: built now in {seconds:.0f} s (PyInstaller)")
    return executable


def hello_bundle() -> tuple[Path, Path]:
    """(hello.py, the hello-world bundle's executable), built unless already current."""
    source_dir = CACHE / "hello-src"
    source_dir.mkdir(parents=True, exist_ok=True)
    script, spec = source_dir / "hello.py", source_dir / "hello.spec"
    script.write_text(HELLO, encoding="utf-8")
    spec.write_text(HELLO_SPEC.format(packaging=str(PACKAGING), script=str(script)), encoding="utf-8")
    dist = CACHE / "hello"
    executable = dist / "hello" / "hello"
    key = fingerprint(HELLO + HELLO_SPEC, with_terminal=False)
    if _cached("hello", executable, key):
        _NOTES.append("hello-world bundle: cached in build/bench-bundles/hello")
        return script, executable
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
                    "--distpath", str(dist), "--workpath", str(CACHE / "hello-work"), str(spec)],
                   check=True, cwd=source_dir, capture_output=True)
    seconds = time.monotonic() - started
    _remember("hello", key, seconds)
    _NOTES.append(f"hello-world bundle: built now in {seconds:.0f} s")
    return script, executable


def folder_mb(path: Path) -> float:
    """Megabytes (10^6 bytes) of every file under ``path``; symlinks not followed."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6


def launch_to_window(command: list[str], timeout_s: float = 60.0) -> float:
    """Seconds from starting ``command + ['--screenshot', PNG, '--after', '0']`` to the PNG being written."""
    with tempfile.TemporaryDirectory(prefix="terminal-bundle-start-") as home:
        shot = Path(home) / "window.png"
        env = dict(os.environ, TRADING_TERMINAL_HOME=home, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM",
                                                                                             "offscreen"))
        if command[0] == sys.executable:  # from source; a bundle must find nothing of the repository
            env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
        else:
            env.pop("PYTHONPATH", None)
        started = time.time()
        done = subprocess.run([*command, "--screenshot", str(shot), "--after", "0"], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=timeout_s)
        if done.returncode != 0 or not shot.is_file():
            raise RuntimeError(f"{command[-1]} exited {done.returncode} without a screenshot: {done.stderr[-800:]}")
        return shot.stat().st_mtime_ns / 1e9 - started


def starts(command: list[str], count: int) -> list[float]:
    launch_to_window(command)  # warms the file cache; not counted
    return [launch_to_window(command) for _ in range(count)]


def run(count: int = 5) -> list[dict]:
    _NOTES.clear()
    hello_script = CACHE / "hello-src" / "hello.py"
    if importlib.util.find_spec("PyInstaller") is None:
        _NOTES.append("PyInstaller is not installed (`pip install -e '.[package]'`, or `make package` once), "
                      "so no bundle was built and the bundle figures are not measured")
        hello_script.parent.mkdir(parents=True, exist_ok=True)
        hello_script.write_text(HELLO, encoding="utf-8")
        terminal = hello = None
    else:
        terminal = terminal_bundle()
        hello_script, hello = hello_bundle()
    sizes = {"terminal": None, "hello": None}
    if terminal and hello:
        sizes = {"terminal": folder_mb(terminal.parent), "hello": folder_mb(hello.parent)}
        _SIZES.update({name: _largest(path.parent) for name, path in (("terminal", terminal), ("hello", hello))})
        _SAMPLES.update({"terminal, bundle": starts([str(terminal)], count),
                         "hello-world, bundle": starts([str(hello)], count)})
    _SAMPLES.update({
        "terminal, source": starts([sys.executable, "-m", "terminal"], count),
        "hello-world, source": starts([sys.executable, str(hello_script)], count),
    })
    times = {name: median(samples) for name, samples in _SAMPLES.items()}
    times.setdefault("terminal, bundle", None)
    times.setdefault("hello-world, bundle", None)
    reference = "PySide6 hello-world bundle, same rules"
    return [
        row("one-folder bundle, unpacked", sizes["terminal"], "MB", reference, sizes["hello"],
            goal=f"≤ {SIZE_GOAL_MB:.0f} MB", met=None if terminal is None else sizes["terminal"] <= SIZE_GOAL_MB),
        row("launch → main window rendered, from the bundle (median)", times["terminal, bundle"], "s",
            "hello-world, from its bundle", times["hello-world, bundle"], goal=f"≤ {START_GOAL_S} s",
            met=None if terminal is None else times["terminal, bundle"] <= START_GOAL_S),
        row("launch → main window rendered, from source (median)", times["terminal, source"], "s",
            "hello-world, from source", times["hello-world, source"], goal=f"≤ {START_GOAL_S} s",
            met=times["terminal, source"] <= START_GOAL_S),
    ]


def _largest(bundle: Path, top: int = 8) -> dict[str, float]:
    """MB by top-level entry of the bundle's _internal folder, the ``top`` largest."""
    internal = bundle / "_internal"
    sizes = {}
    for entry in internal.iterdir():
        if entry.is_symlink():
            continue
        sizes[entry.name] = folder_mb(entry) if entry.is_dir() else entry.stat().st_size / 1e6
    return dict(sorted(sizes.items(), key=lambda item: item[1], reverse=True)[:top])


def details() -> str:
    lines = ["Bundles: " + "; ".join(_NOTES) + ". Delete build/bench-bundles/ to force a rebuild.", "",
             "Every start (s), after one unmeasured start of each program:", ""]
    lines += [f"- {name}: " + ", ".join(f"{s:.3f}" for s in samples) for name, samples in _SAMPLES.items()]
    if not _SIZES:
        return "\n".join(lines)
    lines += ["", "Largest parts of each bundle's `_internal/` folder (MB):", "",
             "| terminal | MB | hello-world | MB |", "|---|---:|---|---:|"]
    ours, hello = list(_SIZES.get("terminal", {}).items()), list(_SIZES.get("hello", {}).items())
    for at in range(max(len(ours), len(hello))):
        left = f"`{ours[at][0]}` | {ours[at][1]:,.1f}" if at < len(ours) else " | "
        right = f"`{hello[at][0]}` | {hello[at][1]:,.1f}" if at < len(hello) else " | "
        lines.append(f"| {left} | {right} |")
    return "\n".join(lines)


if __name__ == "__main__":
    for r in run():
        print(f"{r['name']:<62} {fmt(r['value'], 3)} {r['unit']} ref {fmt(r['reference_value'], 3)} {r['goal']}")
    print(details())
