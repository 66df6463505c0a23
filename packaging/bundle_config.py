"""What goes into the one-folder bundle, as data: read by trading-terminal.spec and by the tests.

Kept apart from the spec so that the rules (what to bundle, what to trim) can be checked
without running PyInstaller, and so the Windows and macOS recipes use the same lists.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_NAME = "trading-terminal"  # executable and bundle folder name
DISPLAY_NAME = "Trading Terminal"
BUNDLE_ID = "in.tradingterminal.desktop"  # macOS CFBundleIdentifier
PUBLISHER = "Trading Terminal contributors"


def version() -> str:
    """The version in terminal/__init__.py, read as text (the spec must not import the app)."""
    text = (ROOT / "terminal" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__\s*=\s*"([^"]+)"', text, re.M)
    if not match:
        raise ValueError("terminal/__init__.py has no __version__ line")
    return match.group(1)


def version_tuple() -> tuple[int, int, int, int]:
    """The version as four integers for the Windows version resource ("0.1.0" -> (0, 1, 0, 0))."""
    parts = [int(p) for p in re.findall(r"\d+", version())[:4]]
    return tuple(parts + [0] * (4 - len(parts)))  # type: ignore[return-value]


# (source relative to the repository, destination folder inside the bundle)
DATAS: list[tuple[str, str]] = [
    ("resources/icons", "resources/icons"),
]

# Imported lazily by the app (inside functions), so PyInstaller's import scan would miss them.
HIDDEN_IMPORTS: list[str] = [
    "terminal.brokers.paper.broker",
    "terminal.sim.exchange",
    "terminal.sim.servers.cli",
    "terminal.analytics.candles",
    "terminal.ui.dialogs.welcome",
    "terminal.ui.dialogs.broker_setup",
    "terminal.ui.dialogs.settings_dialog",
    "terminal.ui.dialogs.about_dialog",
    "terminal.ui.dialogs.hotkeys_dialog",
    "keyring.backends.SecretService",
    "keyring.backends.Windows",
    "keyring.backends.macOS",
    "keyring.backends.kwallet",
    "keyring.backends.chainer",
    "keyring.backends.fail",
    "PySide6.QtSvg",
]
# Distributions whose metadata is bundled, so the About dialog shows their versions (its BUNDLED list).
METADATA: list[str] = [
    "PySide6-Essentials", "shiboken6", "pyqtgraph", "numpy", "qasync", "requests", "urllib3", "certifi",
    "websocket-client", "websockets", "pyotp", "keyring", "platformdirs",
]
# Packages of the terminal collected whole (adapters are picked by name at run time).
COLLECT_PACKAGES: list[str] = ["terminal"]

# Never wanted in the bundle: test tools, the test extra's reference libraries, other Qt bindings.
# (pyqtgraph imports QtOpenGL, QtOpenGLWidgets and QtTest itself, so those stay.)
EXCLUDES: list[str] = [
    "tkinter", "unittest.mock", "pydoc_data", "lib2to3",
    "pytest", "_pytest", "hypothesis", "pytestqt", "importlinter", "grimp",
    "pandas", "scipy", "matplotlib", "IPython", "jedi", "PIL",
    "vollib", "py_vollib", "lets_be_rational", "NorenRestApiPy", "SmartApi", "logzero",
    "PyQt5", "PyQt6", "PySide2",
    "pyqtgraph.opengl", "pyqtgraph.examples", "pyqtgraph.jupyter", "pyqtgraph.canvas", "pyqtgraph.flowchart",
    "PySide6.QtQml", "PySide6.QtQuick", "PySide6.QtQuickWidgets", "PySide6.QtQuickControls2",
    "PySide6.QtPdf", "PySide6.QtPdfWidgets", "PySide6.QtDesigner", "PySide6.QtHelp", "PySide6.QtUiTools",
    "PySide6.QtSql", "PySide6.QtConcurrent", "PySide6.QtXml", "PySide6.QtNetwork", "PySide6.QtPrintSupport",
    "PySide6.QtDBus",
    "PySide6.QtSvgWidgets", "PySide6.QtWebEngineCore", "PySide6.QtWebEngineWidgets",
]

# Qt plugin folders and files the terminal uses; every other plugin is trimmed.
KEEP_PLUGINS: dict[str, set[str] | None] = {
    "platforms": {"xcb", "offscreen", "minimal", "windows", "cocoa", "wayland"},
    # xdgdesktopportal gives native file dialogs through the portal; gtk3 is left out: it drags in
    # cairo, pango and glib copies that clash with the desktop's own GTK (and ~15 MB).
    "platformthemes": {"xdgdesktopportal", "windows", "macos"},
    "platforminputcontexts": None,  # compose keys and input methods
    "xcbglintegrations": None,
    "wayland-decoration-client": None,
    "wayland-graphics-integration-client": None,
    "wayland-shell-integration": None,
    "imageformats": {"svg", "ico", "icns", "jpeg", "gif"},
    "iconengines": {"svgicon"},
    "styles": None,  # windowsvista / macstyle on those platforms
    # "generic" (evdev, libinput, tuio touch) is left out: only used with -plugin, and tuio pulls QtNetwork.
}

_PLUGIN = re.compile(r"(?:^|[\\/])plugins[\\/]([^\\/]+)[\\/]([^\\/]+)$")
_TRIMMED_DIRS = ("translations", "qml", "qmltooling", "qmllint", "designer")
# Qt libraries pulled in by plugins or modules the terminal never uses (QML, PDF, Quick, virtual keyboard).
_TRIMMED_LIBS = re.compile(r"^(lib)?Qt6(Qml|Quick|Pdf|VirtualKeyboard|Designer|Help|Sql|WaylandCompositor|"
                           r"Multimedia|3D|Charts|DataVis|Graphs|WebEngine)", re.IGNORECASE)


def plugin_name(file_name: str) -> str:
    """'libqxcb.so' -> 'xcb', 'qsvg.dll' -> 'svg', 'libqsvgicon.dylib' -> 'svgicon'."""
    stem = file_name.split(".")[0]
    if stem.startswith("lib"):
        stem = stem[3:]
    if stem.startswith("q"):
        stem = stem[1:]
    return stem


def keep_file(dest: str) -> bool:
    """Whether the bundled file at ``dest`` (its path inside the bundle) stays in the bundle."""
    parts = re.split(r"[\\/]", dest)
    lowered = [p.lower() for p in parts]
    if "qt" in lowered or "pyside6" in lowered:
        for trimmed in _TRIMMED_DIRS:
            if trimmed in lowered:
                return False
    match = _PLUGIN.search(dest)
    if match:
        folder, file_name = match.groups()
        if folder not in KEEP_PLUGINS:
            return False
        wanted = KEEP_PLUGINS[folder]
        return wanted is None or plugin_name(file_name) in wanted
    if _TRIMMED_LIBS.search(parts[-1]):
        return False
    return True


def trim(entries):
    """PyInstaller TOC entries (dest, source, kind) without the files ``keep_file`` refuses."""
    return [entry for entry in entries if keep_file(entry[0])]


def refuse_unused_qt_plugins() -> None:
    """Make PyInstaller's Qt hook collect only the plugins ``keep_file`` keeps (call from a spec).

    Refused before the dependency scan, so the system libraries that only those plugins need
    (GTK's cairo, pango, glib...) are not collected either.
    """
    from PyInstaller.utils.hooks import qt as qt_hooks

    collect = qt_hooks.QtLibraryInfo.collect_plugins
    if getattr(collect, "keeps_only_used_plugins", False):
        return

    def collect_kept(self, plugin_type):
        return [(src, dst) for src, dst in collect(self, plugin_type) if keep_file(str(Path(dst) / Path(src).name))]

    collect_kept.keeps_only_used_plugins = True
    qt_hooks.QtLibraryInfo.collect_plugins = collect_kept


def has_debug_info(path: str | Path) -> bool:
    """Whether ``path`` is a 64-bit little-endian ELF file with a .debug_info section (DWARF)."""
    try:
        with open(path, "rb") as elf:
            header = elf.read(64)
            if header[:6] != b"\x7fELF\x02\x01":
                return False
            section_table, = struct.unpack_from("<Q", header, 0x28)
            entry_size, count, names_index = struct.unpack_from("<HHH", header, 0x3A)
            elf.seek(section_table + names_index * entry_size)
            names_entry = elf.read(entry_size)
            names_offset, names_size = struct.unpack_from("<QQ", names_entry, 0x18)
            elf.seek(names_offset)
            names = elf.read(names_size)
    except (OSError, struct.error):
        return False
    return b"\x00.debug_info\x00" in names


def strip_debug_info(entries, workdir: Path, strip: str | None = None):
    """TOC entries whose ELF files carry DWARF debug data, pointed at copies without it.

    A locally built interpreter (pyenv builds with -g) ships libpython and its lib-dynload
    modules with debug data: 25 MB a user never needs. ``strip --strip-debug`` removes only the
    DWARF sections, not the symbol tables; files without debug data (wheels' libraries, numpy's
    auditwheel-patched OpenBLAS, which a full strip corrupts) are left untouched. Linux only;
    without binutils' ``strip`` the entries come back unchanged.
    """
    strip = strip or shutil.which("strip")
    if not sys.platform.startswith("linux") or strip is None:
        return list(entries)
    result = []
    for dest, source, kind in entries:
        if has_debug_info(source):
            copy = workdir / dest
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy)
            subprocess.run([strip, "--strip-debug", str(copy)], check=True)
            source = str(copy)
        result.append((dest, source, kind))
    return result


def windows_version_info() -> str:
    """The Windows version resource (Properties > Details of the .exe), in PyInstaller's format."""
    numbers = version_tuple()
    text = version()
    return f"""VSVersionInfo(
  ffi=FixedFileInfo(filevers={numbers}, prodvers={numbers}, mask=0x3f, flags=0x0, OS=0x40004,
                    fileType=0x1, subtype=0x0, date=(0, 0)),
  kids=[
    StringFileInfo([StringTable('040904B0', [
      StringStruct('CompanyName', '{PUBLISHER}'),
      StringStruct('FileDescription', '{DISPLAY_NAME}'),
      StringStruct('FileVersion', '{text}'),
      StringStruct('InternalName', '{APP_NAME}'),
      StringStruct('OriginalFilename', '{APP_NAME}.exe'),
      StringStruct('ProductName', '{DISPLAY_NAME}'),
      StringStruct('ProductVersion', '{text}'),
      StringStruct('LegalCopyright', 'MIT licence; bundled components under their own licences')])]),
    VarFileInfo([VarStruct('Translation', [1033, 1200])])
  ]
)
"""
