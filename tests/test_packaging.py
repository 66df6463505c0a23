"""The PyInstaller spec and what it bundles; the real build runs when PyInstaller is installed."""

from __future__ import annotations

import ast
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "trading-terminal.spec"


def load_config():
    spec = importlib.util.spec_from_file_location("bundle_config", PACKAGING / "bundle_config.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cfg = load_config()


def test_spec_parses_and_uses_the_shared_lists():
    tree = ast.parse(SPEC.read_text(encoding="utf-8"))
    calls = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert {"Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE"} <= calls
    text = SPEC.read_text(encoding="utf-8")
    for name in ("cfg.DATAS", "cfg.HIDDEN_IMPORTS", "cfg.EXCLUDES", "cfg.trim", "cfg.METADATA", "exclude_binaries=True"):
        assert name in text, name


def test_bundled_data_exists_and_includes_the_icons():
    dests = {dest for _src, dest in cfg.DATAS}
    assert "resources/icons" in dests  # where terminal/resources.py looks under sys._MEIPASS
    for src, _dest in cfg.DATAS:
        assert (ROOT / src).exists(), src
    for icon in ("app.ico", "app.icns", "app.svg", "app-256.png"):
        assert (ROOT / "resources" / "icons" / icon).is_file(), icon


def test_hidden_imports_exist():
    for module in cfg.HIDDEN_IMPORTS:
        if module.startswith("keyring.backends."):
            continue  # per-OS backends: each imports only on its own platform
        assert importlib.util.find_spec(module) is not None, module


def test_about_dialog_components_have_their_metadata_bundled():
    from terminal.ui.dialogs.about_dialog import BUNDLED

    assert {c.distribution for c in BUNDLED if c.distribution} == set(cfg.METADATA)


def test_version_matches_the_package():
    from terminal import __version__

    assert cfg.version() == __version__
    assert cfg.version_tuple()[:3] == tuple(int(p) for p in __version__.split(".")[:3])
    info = cfg.windows_version_info()
    ast.parse(info)  # PyInstaller evaluates it as Python
    assert f"'ProductVersion', '{__version__}'" in info


@pytest.mark.parametrize("dest, kept", [
    ("PySide6/Qt/plugins/platforms/libqxcb.so", True),
    ("PySide6/Qt/plugins/platforms/libqoffscreen.so", True),
    ("PySide6/Qt/plugins/platforms/qwindows.dll", True),
    ("PySide6/Qt/plugins/platforms/libqeglfs.so", False),
    ("PySide6/Qt/plugins/platforms/libqvnc.so", False),
    ("PySide6/Qt/plugins/imageformats/libqsvg.so", True),
    ("PySide6/Qt/plugins/imageformats/libqtiff.so", False),
    ("PySide6/Qt/plugins/iconengines/libqsvgicon.so", True),
    ("PySide6/Qt/plugins/platformthemes/libqgtk3.so", False),
    ("PySide6/Qt/plugins/platformthemes/libqxdgdesktopportal.so", True),
    ("PySide6/Qt/plugins/qmltooling/libqmldbg_debugger.so", False),
    ("PySide6/Qt/plugins/sqldrivers/libqsqlite.so", False),
    ("PySide6/Qt/translations/qtbase_de.qm", False),
    ("PySide6/Qt/qml/QtQuick/Controls/libqtquickcontrols2plugin.so", False),
    ("PySide6/Qt/lib/libQt6Qml.so.6", False),
    ("PySide6/Qt/lib/libQt6Widgets.so.6", True),
    ("PySide6/Qt/lib/libQt6Svg.so.6", True),
    ("numpy/_core/_multiarray_umath.cpython-311-x86_64-linux-gnu.so", True),
    ("resources/icons/app.svg", True),
])
def test_trim_keeps_what_the_terminal_uses(dest, kept):
    assert cfg.keep_file(dest) is kept
    assert cfg.keep_file(dest.replace("/", "\\")) is kept  # Windows paths in the TOC


def test_trim_filters_toc_entries():
    toc = [("PySide6/Qt/translations/qt_fr.qm", "/x", "DATA"), ("resources/icons/app.svg", "/y", "DATA")]
    assert cfg.trim(toc) == [toc[1]]


def test_installer_scripts_agree_with_the_spec():
    iss = (PACKAGING / "windows" / "trading-terminal.iss").read_text(encoding="utf-8")
    assert f"{cfg.APP_NAME}.exe" in iss and f"dist\\{cfg.APP_NAME}" in iss and "{uninstallexe}" in iss
    assert "{group}" in iss  # start-menu entry
    dmg = (PACKAGING / "macos" / "make-dmg.sh").read_text(encoding="utf-8")
    assert f"{cfg.DISPLAY_NAME}.app" in dmg and "hdiutil create" in dmg
    readme = (PACKAGING / "README.md").read_text(encoding="utf-8")
    assert "make package" in readme and "make package-smoke" in readme


def test_desktop_entry_and_deb_layout(tmp_path):
    sys.path.insert(0, str(PACKAGING))
    try:
        import build
    finally:
        sys.path.remove(str(PACKAGING))
    entry = build.desktop_entry("/opt/trading-terminal/trading-terminal")
    assert "Exec=/opt/trading-terminal/trading-terminal" in entry and f"Icon={cfg.APP_NAME}" in entry
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not installed")
    bundle = tmp_path / cfg.APP_NAME
    bundle.mkdir()
    (bundle / cfg.APP_NAME).write_text("#!/bin/sh\n")
    (bundle / cfg.APP_NAME).chmod(0o755)
    deb = build.build_deb(bundle)
    listing = subprocess.run(["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True, check=True).stdout
    for path in (f"./opt/{cfg.APP_NAME}/{cfg.APP_NAME}", f"./usr/share/applications/{cfg.APP_NAME}.desktop",
                 f"./usr/share/icons/hicolor/256x256/apps/{cfg.APP_NAME}.png", f"./usr/bin/{cfg.APP_NAME}"):
        assert path in listing, path
    fields = subprocess.run(["dpkg-deb", "--field", str(deb), "Version", "Depends"], capture_output=True, text=True,
                            check=True).stdout
    assert cfg.version() in fields and "libxcb-cursor0" in fields


def test_debug_info_is_detected_only_in_elf_files_that_carry_it(tmp_path):
    (tmp_path / "notes.txt").write_text("\x7fELF but not really")
    assert not cfg.has_debug_info(tmp_path / "notes.txt")
    assert not cfg.has_debug_info(tmp_path / "missing.so")


@pytest.mark.skipif(not sys.platform.startswith("linux") or not (shutil.which("gcc") and shutil.which("strip")),
                    reason="needs Linux with gcc and binutils' strip")
def test_strip_debug_info_copies_and_strips_only_files_with_dwarf(tmp_path):
    source = tmp_path / "lib.c"
    source.write_text("int price_in_paise(int rupees) { return rupees * 100; }\n")
    with_debug, without_debug = tmp_path / "libdebug.so", tmp_path / "libplain.so"
    subprocess.run(["gcc", "-g", "-shared", "-fPIC", "-o", str(with_debug), str(source)], check=True)
    subprocess.run(["gcc", "-s", "-shared", "-fPIC", "-o", str(without_debug), str(source)], check=True)
    assert cfg.has_debug_info(with_debug) and not cfg.has_debug_info(without_debug)
    size_before = with_debug.stat().st_size
    toc = [("lib/libdebug.so", str(with_debug), "BINARY"), ("lib/libplain.so", str(without_debug), "BINARY"),
           ("resources/icons/app.svg", str(ROOT / "resources" / "icons" / "app.svg"), "DATA")]
    out = cfg.strip_debug_info(toc, tmp_path / "work")
    assert [entry[0] for entry in out] == [entry[0] for entry in toc]
    stripped = Path(out[0][1])
    assert stripped == tmp_path / "work" / "lib" / "libdebug.so"
    assert not cfg.has_debug_info(stripped) and stripped.stat().st_size < size_before
    assert cfg.has_debug_info(with_debug) and with_debug.stat().st_size == size_before  # the original is untouched
    assert out[1:] == toc[1:]
    symbols = subprocess.run(["nm", "-D", str(stripped)], capture_output=True, text=True).stdout
    assert "price_in_paise" in symbols  # only DWARF went, the dynamic symbols stay


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("PyInstaller") is None,
                    reason="PyInstaller is not installed (pip install -e '.[package]'); `make package-smoke` builds it")
@pytest.mark.timeout(600)
def test_bundle_builds_and_starts(tmp_path):
    """The real thing: ~30 s of PyInstaller, then the bundle takes a screenshot offscreen and exits 0."""
    dist = tmp_path / "dist"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run([sys.executable, str(PACKAGING / "build.py"), "--no-deb", "--smoke", "--dist", str(dist)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert "smoke test passed" in result.stdout
    assert (dist / cfg.APP_NAME / "_internal" / "resources" / "icons" / "app.svg").is_file()
    assert not list((dist / cfg.APP_NAME).rglob("translations/*.qm"))
    bundle = dist / cfg.APP_NAME
    assert not [p for p in bundle.rglob("*.so*") if p.is_file() and cfg.has_debug_info(p)]
    size = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file() and not p.is_symlink())
    assert size <= 220e6, f"the bundle is {size / 1e6:.1f} MB unpacked; the limit is 220 MB"
