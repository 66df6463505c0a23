"""User settings in one JSON file under the config dir, written atomically off the UI thread.

Reading happens once at start-up. ``save()`` hands a snapshot to a writer thread, so the
caller (usually the UI thread) never waits on the disk; ``flush()`` waits for it at exit.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from terminal.storage.paths import config_dir

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "theme": "dark",
    "hotkeys": {},  # action id -> key sequence text, only where the user changed the default
    "layout": {},  # main window geometry and dock state, base64
    "watchlist": [
        "NSE:26000", "NSE:26009", "NSE:26037", "NSE:2885", "NSE:1333", "NSE:4963", "NSE:1594",
        "NSE:11536", "NSE:3045",
    ],
    "order_defaults": {"product": "MIS", "order_type": "LIMIT", "validity": "DAY"},
    "confirm": {"square_off": True, "cancel_all": True, "modify_from_chart": True},
    "broker": "paper",
    "log_level": "INFO",
    "sim": {"ticks_per_second": 4.0, "seed": None},
}


class Settings:
    def __init__(self, path: Path | None = None):
        self.path = path or config_dir() / "settings.json"
        self._data: dict[str, Any] = copy.deepcopy(DEFAULTS)
        self._lock = threading.Lock()
        self._pending: dict[str, Any] | None = None
        self._wake = threading.Condition(self._lock)
        self._writer: threading.Thread | None = None
        self._load()

    def _load(self) -> None:
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning("Settings file %s is unreadable (%s); starting from defaults.", self.path, exc)
            return
        if isinstance(loaded, dict):
            for key, value in loaded.items():
                self._data[key] = value

    def get(self, key: str, default: Any = None) -> Any:
        with self._lock:
            value = self._data.get(key, default)
            return copy.deepcopy(value)

    def set(self, key: str, value: Any) -> None:
        with self._lock:
            self._data[key] = copy.deepcopy(value)

    def save(self) -> None:
        """Write in the background; the newest snapshot wins if saves pile up."""
        with self._lock:
            self._pending = copy.deepcopy(self._data)
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(target=self._write_loop, name="settings-writer", daemon=True)
                self._writer.start()
            self._wake.notify_all()

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until everything saved so far is on disk."""
        with self._lock:
            self._wake.wait_for(lambda: self._pending is None, timeout=timeout)

    def _write_loop(self) -> None:
        while True:
            with self._lock:
                if self._pending is None:
                    self._writer = None
                    return
                snapshot = self._pending
            try:
                write_atomically(self.path, json.dumps(snapshot, indent=2, sort_keys=True))
            except OSError as exc:
                log.error("Could not save settings to %s: %s", self.path, exc)
            with self._lock:
                if self._pending is snapshot:
                    self._pending = None
                    self._wake.notify_all()


def write_atomically(path: Path, text: str) -> None:
    """Write to a temporary file, fsync, then rename over ``path``: a crash leaves old or new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
