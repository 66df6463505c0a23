"""Where the terminal keeps its files. TRADING_TERMINAL_HOME overrides everything (tests, portable use)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "TradingTerminal"


def data_dir() -> Path:
    override = os.environ.get("TRADING_TERMINAL_HOME")
    path = Path(override) / "data" if override else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_dir() -> Path:
    override = os.environ.get("TRADING_TERMINAL_HOME")
    path = Path(override) / "config" if override else Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_dir() -> Path:
    override = os.environ.get("TRADING_TERMINAL_HOME")
    path = Path(override) / "logs" if override else Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path
