"""The kill switch: cancel every open order, square off every position, lock new entries for the day.

It is engaged by the trader (a hotkey, after a confirmation) or by itself when the day's MTM
breaches the daily loss limit. The entry lock is written to disk first, so that even a crash in
the middle leaves new entries refused until the next trading day (IST); exits stay allowed.
Every step is written to the order journal's event log (kind "kill_switch.*").
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from PySide6.QtCore import QObject, Signal

from terminal.brokers.base import BrokerError
from terminal.domain.money import PAISE_PER_RUPEE, format_rupees
from terminal.services.background import spawn
from terminal.services.risk import day_mtm
from terminal.storage.paths import data_dir
from terminal.storage.redaction import redact
from terminal.storage.settings import write_atomically

log = logging.getLogger(__name__)

IST = ZoneInfo("Asia/Kolkata")
FLAT_CHECKS_S = (0.2, 0.5, 1.0, 2.0)  # waits while confirming the square-off filled


def ist_today() -> date:
    return datetime.now(IST).date()


class EntryLock:
    """Accounts whose new entries are locked until the end of an IST trading day, kept on disk.

    Thread-safe. The file holds ``{account: {"day": "YYYY-MM-DD", "reason": text}}``; a lock of
    an earlier day has lapsed.
    """

    def __init__(self, path: Path | None = None, today: Callable[[], date] = ist_today):
        self.path = path or data_dir() / "entry_lock.json"
        self._today = today
        self._lock = threading.Lock()
        self._locks: dict[str, dict] = self._load()

    def _load(self) -> dict[str, dict]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            # Refusing every entry would be safer than ignoring a lock we cannot read, but an
            # unreadable file cannot tell us which account; say so loudly and start unlocked.
            log.error("Entry lock file %s is unreadable (%s); no account is locked.", self.path, exc)
            return {}
        return {k: v for k, v in data.items() if isinstance(v, dict) and "day" in v} if isinstance(data, dict) else {}

    def lock(self, account: str, reason: str) -> None:
        """Lock new entries of ``account`` for the rest of today (IST); on disk before it returns."""
        with self._lock:
            self._locks[account] = {"day": self._today().isoformat(), "reason": redact(reason)}
            write_atomically(self.path, json.dumps(self._locks, indent=2, sort_keys=True))

    def is_locked(self, account: str) -> bool:
        with self._lock:
            entry = self._locks.get(account)
            return entry is not None and entry["day"] == self._today().isoformat()

    def reason(self, account: str) -> str:
        with self._lock:
            entry = self._locks.get(account)
            return entry.get("reason", "") if entry else ""


class KillSwitch(QObject):
    """Engage with ``await engage(reason)``; ``watch_daily_loss()`` makes it engage by itself.

    ``orders`` is the OrderService (its journal, broker, runner, messages and entry lock are used),
    ``portfolio`` and ``market`` give positions and LTPs for the day's MTM.
    """

    engaged = Signal(str)  # reason; entries are locked from this moment
    finished = Signal(bool)  # True: no open orders and every position flat
    mtm_changed = Signal(int)  # day MTM in paise, while watching the loss limit

    def __init__(self, orders, portfolio, market, parent=None):
        super().__init__(parent)
        self.orders = orders
        self.portfolio = portfolio
        self.market = market
        self.lock: EntryLock = orders.risk.lock
        self._running: asyncio.Task | None = None
        self._watching = False

    @property
    def account(self) -> str:
        return self.orders.broker.account

    @property
    def is_locked(self) -> bool:
        return self.lock.is_locked(self.account)

    # --- the trader's button ---------------------------------------------------------------
    async def request(self) -> bool:
        """The hotkey: ask the trader (through ``orders.confirm``) and engage. True if engaged."""
        text = ("KILL SWITCH: cancel every open order, square off every position at market, and lock new "
                "entries for the rest of the day?")
        confirm = self.orders.confirm
        if confirm is not None and not await confirm(text):
            self.orders.messages.info("Kill switch not engaged.")
            return False
        await self.engage("engaged by the trader")
        return True

    # --- the switch ------------------------------------------------------------------------
    async def engage(self, reason: str) -> bool:
        """Lock, cancel all, square off all, verify. Returns True when the account ended flat.

        A second call while one runs waits for the first instead of sending everything twice.
        """
        if self._running is not None and not self._running.done():
            return await asyncio.shield(self._running)
        self._running = asyncio.ensure_future(self._engage(reason))
        return await asyncio.shield(self._running)

    async def _engage(self, reason: str) -> bool:
        orders = self.orders
        await orders.runner.run(self.lock.lock, self.account, f"kill switch at {datetime.now(IST):%H:%M} ({reason})")
        await self._event("kill_switch.engaged", reason)
        self.orders.messages.warning(f"Kill switch engaged ({reason}): new entries are locked for today.",
                                     "Cancelling open orders and squaring off positions now.")
        self.engaged.emit(reason)

        cancelled, failed = await self._cancel_open_orders()
        await self._event("kill_switch.cancelled",
                         f"{cancelled} open orders cancelled, {failed} failed")
        outcomes = await self._square_off()
        accepted = sum(o.accepted for o in outcomes)
        await self._event("kill_switch.squared_off",
                         f"{accepted} of {len(outcomes)} square-off orders accepted: "
                         + ", ".join(f"{o.tag}={o.state.value}" for o in outcomes))
        flat, detail = await self._verify()
        await self._event("kill_switch.done" if flat else "kill_switch.incomplete",
                         detail)
        if flat:
            orders.messages.info(f"Kill switch done: {detail}.")
        else:
            orders.messages.error(f"Kill switch incomplete: {detail}.",
                                  "Check the order book and positions, and close what is left by hand.")
        self.finished.emit(flat)
        return flat

    async def _event(self, kind: str, detail: str) -> None:
        """One audit line in the journal (free text is redacted: it reaches the disk)."""
        await self.orders.runner.run(self.orders.journal.record_event, self.account, kind, redact(detail))

    async def _cancel_open_orders(self) -> tuple[int, int]:
        try:
            book = await self.orders.runner.run(self.orders.broker.order_book)
        except BrokerError as exc:  # fall back on the last known book rather than doing nothing
            log.warning("Kill switch: order book unavailable (%s); using the last known one.", exc)
            book = self.portfolio.open_orders(self.account)
        open_orders = [o for o in book if o.is_open]
        cancelled = await self.orders.cancel_all(open_orders)
        return cancelled, len(open_orders) - cancelled

    async def _square_off(self):
        try:
            positions = await self.orders.runner.run(self.orders.broker.positions)
        except BrokerError as exc:
            log.warning("Kill switch: positions unavailable (%s); using the last known ones.", exc)
            positions = self.portfolio.positions(self.account)
        return await self.orders.square_off([p for p in positions if p.is_open])

    async def _verify(self) -> tuple[bool, str]:
        """Read the broker's books until nothing is open (market orders fill in moments)."""
        detail = "could not read the order book and positions"
        for delay in FLAT_CHECKS_S:
            try:
                book = await self.orders.runner.run(self.orders.broker.order_book)
                positions = await self.orders.runner.run(self.orders.broker.positions)
            except BrokerError as exc:
                detail = f"could not read the books: {exc}"
            else:
                still_open = [o.order_id for o in book if o.is_open]
                not_flat = [f"{p.trading_symbol} {p.net_quantity:+d}" for p in positions if p.is_open]
                if not still_open and not not_flat:
                    return True, "no open orders, every position flat"
                detail = (f"open orders {', '.join(still_open) or 'none'}; "
                          f"open positions {', '.join(not_flat) or 'none'}")
            await asyncio.sleep(delay)
        return False, detail

    # --- the automatic trigger -------------------------------------------------------------
    def watch_daily_loss(self) -> None:
        """Engage by itself when the day's MTM falls to minus the daily loss limit."""
        if self._watching:
            return
        self._watching = True
        self.market.ticks_updated.connect(self._check_loss)
        self.portfolio.positions_changed.connect(self._check_loss)

    def day_mtm(self) -> int:
        """Realised plus unrealised P&L of today's positions (paise)."""
        return day_mtm(self.portfolio.positions(self.account), self.market.ltp)

    def _check_loss(self, *_args) -> None:
        limit = self.orders.risk.limits.daily_loss_limit_rupees * PAISE_PER_RUPEE
        positions = self.portfolio.positions(self.account)
        if not limit or not positions:
            return
        mtm = day_mtm(positions, self.market.ltp)
        self.mtm_changed.emit(mtm)
        if mtm > -limit or self.is_locked or (self._running is not None and not self._running.done()):
            return
        reason = f"daily loss limit: MTM {format_rupees(mtm)} breached {format_rupees(-limit)}"
        log.warning("Kill switch: %s", reason)
        spawn(self.engage(reason))
