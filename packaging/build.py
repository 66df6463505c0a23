"""Build the one-folder bundle on this platform, and on Linux a .deb from it.

    python packaging/build.py            # dist/trading-terminal/ (+ dist/*.deb on Linux)
    python packaging/build.py --smoke    # then start the bundle with --screenshot, offscreen
    python packaging/build.py --no-deb

Windows: then compile packaging/windows/trading-terminal.iss with Inno Setup.
macOS: the spec also makes "dist/Trading Terminal.app"; packaging/macos/make-dmg.sh wraps it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bundle_config as cfg  # noqa: E402

ROOT = cfg.ROOT
DIST = ROOT / "dist"
# Run-time libraries the Qt xcb platform needs that a minimal desktop may lack (Debian names).
DEB_DEPENDS = [
    "libc6", "libgl1", "libegl1", "libfontconfig1", "libfreetype6", "libdbus-1-3", "libglib2.0-0",
    "libxkbcommon0", "libxkbcommon-x11-0", "libxcb-cursor0", "libxcb-icccm4", "libxcb-image0",
    "libxcb-keysyms1", "libxcb-randr0", "libxcb-render-util0", "libxcb-shape0", "libxcb-xinerama0",
    "libxcb-xkb1", "libx11-xcb1",
]


def folder_size(path: Path) -> int:
    """Bytes of every file under ``path`` (symlinks not followed)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def build_bundle(dist: Path = DIST) -> float:
    """Run PyInstaller on the spec into ``dist``; returns the seconds it took."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
                    "--distpath", str(dist), "--workpath", str(dist.parent / "build" / "pyinstaller"
                                                              if dist != DIST else ROOT / "build" / "pyinstaller"),
                    str(HERE / "trading-terminal.spec")], check=True, cwd=ROOT)
    return time.monotonic() - started


def missing_libraries(bundle: Path) -> list[str]:
    """Linux: shared libraries of the bundle's Qt files that ldd cannot resolve."""
    if not sys.platform.startswith("linux") or shutil.which("ldd") is None:
        return []
    missing: set[str] = set()
    candidates = [bundle / cfg.APP_NAME, *bundle.rglob("*.so*")]
    env = dict(os.environ, LD_LIBRARY_PATH=os.pathsep.join(
        str(p) for p in {bundle / "_internal", *(f.parent for f in candidates)}))
    for path in candidates:
        if not path.is_file() or "plugins" not in str(path) and "Qt6" not in path.name:
            continue
        out = subprocess.run(["ldd", str(path)], capture_output=True, text=True, env=env).stdout
        for line in out.splitlines():
            if "not found" in line:
                missing.add(f"{path.relative_to(bundle)}: {line.split()[0]}")
    return sorted(missing)


def desktop_entry(exec_path: str) -> str:
    return "\n".join([
        "[Desktop Entry]", "Type=Application", f"Name={cfg.DISPLAY_NAME}",
        "Comment=Keyboard-first trading terminal for Indian F&O markets",
        f"Exec={exec_path} %U", f"Icon={cfg.APP_NAME}", "Terminal=false",
        "Categories=Office;Finance;", "StartupWMClass=trading-terminal", "",
    ])


def build_deb(bundle: Path) -> Path:
    """A .deb that installs the bundle under /opt with a menu entry, icons and /usr/bin link."""
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()
    version = cfg.version()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "pkg"
        shutil.copytree(bundle, root / "opt" / cfg.APP_NAME, symlinks=True)
        (root / "usr" / "bin").mkdir(parents=True)
        (root / "usr" / "bin" / cfg.APP_NAME).symlink_to(f"/opt/{cfg.APP_NAME}/{cfg.APP_NAME}")
        apps = root / "usr" / "share" / "applications"
        apps.mkdir(parents=True)
        (apps / f"{cfg.APP_NAME}.desktop").write_text(desktop_entry(f"/opt/{cfg.APP_NAME}/{cfg.APP_NAME}"))
        for png in sorted((ROOT / "resources" / "icons").glob("app-*.png")):
            size = png.stem.split("-")[1]
            target = root / "usr" / "share" / "icons" / "hicolor" / f"{size}x{size}" / "apps"
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(png, target / f"{cfg.APP_NAME}.png")
        scalable = root / "usr" / "share" / "icons" / "hicolor" / "scalable" / "apps"
        scalable.mkdir(parents=True)
        shutil.copy2(ROOT / "resources" / "icons" / "app.svg", scalable / f"{cfg.APP_NAME}.svg")
        control = root / "DEBIAN"
        control.mkdir()
        installed_kb = folder_size(root) // 1024
        (control / "control").write_text("\n".join([
            f"Package: {cfg.APP_NAME}", f"Version: {version}", f"Architecture: {arch}",
            f"Maintainer: {cfg.PUBLISHER} <noreply@localhost>", f"Installed-Size: {installed_kb}",
            f"Depends: {', '.join(DEB_DEPENDS)}", "Section: misc", "Priority: optional",
            "Description: Keyboard-first desktop trading terminal for Indian F&O markets",
            " Trades through Flattrade and Angel One, or a built-in simulated exchange.", "",
        ]))
        for path in root.rglob("*"):  # dpkg-deb refuses group/world-writable control files
            if not path.is_symlink():
                path.chmod(0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644)
        output = bundle.parent / f"{cfg.APP_NAME}_{version}_{arch}.deb"
        subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(root), str(output)], check=True)
    return output


def smoke(bundle: Path, timeout: float = 120.0) -> Path:
    """Start the bundle with --screenshot on the offscreen platform; raises unless it exits 0."""
    executable = bundle / (cfg.APP_NAME + (".exe" if sys.platform == "win32" else ""))
    shot = ROOT / "build" / "package-smoke.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    shot.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", TRADING_TERMINAL_HOME=home)
        started = time.monotonic()
        result = subprocess.run([str(executable), "--screenshot", str(shot), "--after", "3"], env=env,
                                timeout=timeout, capture_output=True, text=True)
        took = time.monotonic() - started
    print(result.stdout.strip())
    if result.returncode != 0 or not shot.is_file():
        print(result.stderr[-4000:], file=sys.stderr)
        raise SystemExit(f"smoke test failed: exit code {result.returncode}, screenshot written: {shot.is_file()}")
    print(f"smoke test passed in {took:.1f} s (3 s of it is --after); screenshot {shot}")
    return shot


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="start the built bundle with --screenshot")
    parser.add_argument("--no-deb", action="store_true", help="Linux: skip the .deb")
    parser.add_argument("--dist", type=Path, default=DIST, help="where the bundle goes (default dist/)")
    args = parser.parse_args(argv)
    seconds = build_bundle(args.dist)
    bundle = args.dist / cfg.APP_NAME
    size = folder_size(bundle)
    print(f"bundle {bundle}: {size / 1e6:.1f} MB ({size / 2**20:.1f} MiB) unpacked, built in {seconds:.0f} s")
    missing = missing_libraries(bundle)
    for line in missing:
        print(f"warning: unresolved library {line}", file=sys.stderr)
    if sys.platform.startswith("linux") and not args.no_deb:
        if shutil.which("dpkg-deb"):
            deb = build_deb(bundle)
            print(f"package {deb}: {deb.stat().st_size / 1e6:.1f} MB")
        else:
            print("dpkg-deb not found: no .deb (apt-get install dpkg)", file=sys.stderr)
    if args.smoke:
        smoke(bundle)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
