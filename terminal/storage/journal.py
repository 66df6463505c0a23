"""The order journal: every order intent is written (and fsync'd) before it is sent.

One row per intent, keyed by the client tag sent with the order. The row moves through
INTENT -> SENT (the broker answered with an order id) or REJECTED / FAILED, or UNKNOWN when
the reply was lost; UNKNOWN rows are reconciled against the broker's order book by tag, at
once and again on the next start, so a crash mid-placement neither loses nor doubles an order.
Modify and cancel requests are journaled the same way (action column).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path

from terminal.domain import OrderModification, OrderRequest


class JournalState(str, Enum):
    INTENT = "INTENT"  # written, not yet known to have left the machine
    SENT = "SENT"  # the broker acknowledged it with an order id
    REJECTED = "REJECTED"  # the broker refused it
    FAILED = "FAILED"  # it provably never reached the broker
    UNKNOWN = "UNKNOWN"  # the reply was lost: must be reconciled by tag, never resent
    NOT_FOUND = "NOT_FOUND"  # reconciled: the broker has no order with this tag


OPEN_STATES = (JournalState.INTENT, JournalState.UNKNOWN)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    tag: str
    account: str
    action: str  # place, modify, cancel
    state: JournalState
    order_id: str
    payload: dict
    detail: str
    created_at: float
    updated_at: float


_SCHEMA = """
CREATE TABLE IF NOT EXISTS order_journal (
    tag        TEXT PRIMARY KEY,
    account    TEXT NOT NULL,
    action     TEXT NOT NULL,
    state      TEXT NOT NULL,
    order_id   TEXT NOT NULL DEFAULT '',
    payload    TEXT NOT NULL,
    detail     TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS order_journal_state ON order_journal(state);
CREATE TABLE IF NOT EXISTS journal_events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      REAL NOT NULL,
    account TEXT NOT NULL,
    kind    TEXT NOT NULL,
    detail  TEXT NOT NULL
);
"""


def _jsonable(value):
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"cannot journal {type(value).__name__}")


class OrderJournal:
    """Thread-safe SQLite journal (WAL, synchronous=FULL so each commit reaches the disk)."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- writes -----------------------------------------------------------------------------
    def record_intent(self, request: OrderRequest) -> None:
        """Journal a placement before it is sent. A tag can be journaled once only."""
        payload = json.dumps(asdict(request), default=_jsonable)
        self._insert(request.tag, request.account, "place", payload)

    def record_change_intent(self, tag: str, account: str, action: str, order_id: str,
                             modification: OrderModification | None = None) -> None:
        """Journal a modify or cancel of ``order_id`` before it is sent."""
        payload = json.dumps(asdict(modification) if modification else {}, default=_jsonable)
        self._insert(tag, account, action, payload, order_id)

    def _insert(self, tag: str, account: str, action: str, payload: str, order_id: str = "") -> None:
        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT INTO order_journal(tag, account, action, state, order_id, payload, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (tag, account, action, JournalState.INTENT.value, order_id, payload, now, now),
            )

    def record_outcome(self, tag: str, state: JournalState, order_id: str = "", detail: str = "") -> None:
        with self._lock:
            cursor = self._db.execute(
                "UPDATE order_journal SET state = ?, order_id = CASE WHEN ? = '' THEN order_id ELSE ? END,"
                " detail = ?, updated_at = ? WHERE tag = ?",
                (state.value, order_id, order_id, detail, time.time(), tag),
            )
            if cursor.rowcount != 1:
                raise KeyError(f"no journal row for tag {tag}")

    def record_event(self, account: str, kind: str, detail: str) -> None:
        """A free-form audit line: kill switch steps, reconciliations, logins."""
        with self._lock:
            self._db.execute("INSERT INTO journal_events(at, account, kind, detail) VALUES (?, ?, ?, ?)",
                             (time.time(), account, kind, detail))

    # --- reads ------------------------------------------------------------------------------
    def entry(self, tag: str) -> JournalEntry | None:
        rows = self._select("WHERE tag = ?", (tag,))
        return rows[0] if rows else None

    def unresolved(self, account: str | None = None) -> list[JournalEntry]:
        """Intents whose outcome is not known: to reconcile with the broker by tag."""
        marks = ",".join("?" for _ in OPEN_STATES)
        where = f"WHERE state IN ({marks})"
        params: tuple = tuple(s.value for s in OPEN_STATES)
        if account is not None:
            where += " AND account = ?"
            params += (account,)
        return self._select(where, params)

    def entries(self, account: str | None = None, limit: int = 1000) -> list[JournalEntry]:
        if account is None:
            return self._select("ORDER BY created_at DESC LIMIT ?", (limit,))
        return self._select("WHERE account = ? ORDER BY created_at DESC LIMIT ?", (account, limit))

    def events(self, account: str | None = None) -> list[tuple[float, str, str, str]]:
        with self._lock:
            if account is None:
                return list(self._db.execute("SELECT at, account, kind, detail FROM journal_events ORDER BY id"))
            return list(self._db.execute(
                "SELECT at, account, kind, detail FROM journal_events WHERE account = ? ORDER BY id", (account,)))

    def _select(self, clause: str, params: tuple) -> list[JournalEntry]:
        with self._lock:
            rows = list(self._db.execute(
                "SELECT tag, account, action, state, order_id, payload, detail, created_at, updated_at"
                f" FROM order_journal {clause}", params))
        return [JournalEntry(tag, account, action, JournalState(state), order_id, json.loads(payload), detail,
                             created, updated)
                for tag, account, action, state, order_id, payload, detail, created, updated in rows]
