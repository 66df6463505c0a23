"""Dark (default) and light themes: a palette plus a small style sheet, applied app-wide."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication


@dataclass(frozen=True)
class Theme:
    name: str
    window: str
    base: str
    alt_base: str
    text: str
    muted: str
    highlight: str
    border: str
    positive: str
    negative: str
    buy: str
    sell: str


DARK = Theme("dark", window="#15191f", base="#1b2027", alt_base="#20262e", text="#d8dee6", muted="#8a94a3",
             highlight="#2d5b8a", border="#2c333d", positive="#26a69a", negative="#ef5350",
             buy="#1e5fb4", sell="#c62828")
LIGHT = Theme("light", window="#f3f4f6", base="#ffffff", alt_base="#f6f8fa", text="#1f2328", muted="#5f6b7a",
              highlight="#b6d4fb", border="#d0d7de", positive="#0f7b6c", negative="#c62828",
              buy="#1e5fb4", sell="#c62828")
THEMES = {"dark": DARK, "light": LIGHT}

_current: Theme = DARK


def current() -> Theme:
    return _current


def apply_theme(app: QApplication, name: str) -> Theme:
    global _current
    theme = THEMES.get(name, DARK)
    _current = theme
    app.setStyle("Fusion")
    palette = QPalette()
    roles = {
        QPalette.Window: theme.window, QPalette.WindowText: theme.text, QPalette.Base: theme.base,
        QPalette.AlternateBase: theme.alt_base, QPalette.Text: theme.text, QPalette.Button: theme.alt_base,
        QPalette.ButtonText: theme.text, QPalette.Highlight: theme.highlight, QPalette.ToolTipBase: theme.base,
        QPalette.ToolTipText: theme.text, QPalette.PlaceholderText: theme.muted,
        QPalette.HighlightedText: "#ffffff" if theme.name == "dark" else "#000000",
    }
    for role, colour in roles.items():
        palette.setColor(role, QColor(colour))
    palette.setColor(QPalette.Disabled, QPalette.Text, QColor(theme.muted))
    palette.setColor(QPalette.Disabled, QPalette.ButtonText, QColor(theme.muted))
    app.setPalette(palette)
    font = QFont(app.font())
    font.setPointSize(9)
    app.setFont(font)
    app.setStyleSheet(style_sheet(theme))
    return theme


def style_sheet(theme: Theme) -> str:
    return f"""
QMainWindow::separator {{ background: {theme.border}; width: 3px; height: 3px; }}
QDockWidget {{ titlebar-close-icon: none; font-weight: 600; }}
QDockWidget::title {{ background: {theme.alt_base}; padding: 3px 6px; border-bottom: 1px solid {theme.border}; }}
QTableView {{ gridline-color: {theme.border}; selection-background-color: {theme.highlight}; border: none; }}
QHeaderView::section {{ background: {theme.alt_base}; color: {theme.muted}; border: none;
    border-right: 1px solid {theme.border}; border-bottom: 1px solid {theme.border}; padding: 2px 4px; }}
QStatusBar {{ background: {theme.alt_base}; color: {theme.muted}; border-top: 1px solid {theme.border}; }}
QStatusBar QLabel {{ padding: 0 6px; }}
QTabBar::tab {{ background: {theme.alt_base}; color: {theme.muted}; padding: 3px 10px; border: 1px solid {theme.border}; }}
QTabBar::tab:selected {{ background: {theme.base}; color: {theme.text}; }}
QLineEdit, QComboBox {{ background: {theme.base}; border: 1px solid {theme.border};
    padding: 2px 4px; border-radius: 2px; }}
/* Spin boxes keep Fusion's own look: any style rule on them makes Qt drop the arrows. */
QLineEdit:focus, QComboBox:focus {{ border: 1px solid {theme.highlight}; }}
QPushButton {{ background: {theme.alt_base}; border: 1px solid {theme.border}; padding: 3px 10px; border-radius: 2px; }}
QPushButton:hover {{ border-color: {theme.highlight}; }}
QToolTip {{ background: {theme.base}; color: {theme.text}; border: 1px solid {theme.border}; }}
"""
