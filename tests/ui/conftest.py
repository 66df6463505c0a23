"""A whole TerminalContext for panel tests: real stores, real order service, a broker at the edge.

The broker is the terminal's PaperBroker when it is importable; otherwise ``BookBroker``, an
in-memory order book that accepts, modifies and cancels orders the way a broker's REST API does
(it is the edge of the machine: everything behind it is the production code).
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from terminal.brokers.base import Broker, OrderRejectedError, SessionInfo
from terminal.domain import (
    DepthLevel, Funds, Order, OrderModification, OrderRequest, OrderStatus, Tick,
)
from terminal.domain.catalog import InstrumentCatalog

IST = ZoneInfo("Asia/Kolkata")
ACCOUNT = "paper:TEST01"


class BookBroker(Broker):
    """Accepts every valid order as OPEN; keeps the order book in memory. Thread-safe."""

    name = "paper"

    def __init__(self, instruments):
        self._instruments = list(instruments)
        self._lock = threading.Lock()
        self._orders: dict[str, Order] = {}
        self._ids = itertools.count(1)
        self.placed: list[OrderRequest] = []
        self.cancelled: list[str] = []
        self.modified: list[tuple[str, OrderModification]] = []

    @property
    def account(self) -> str:
        return ACCOUNT

    def login(self) -> SessionInfo:
        return SessionInfo(ACCOUNT, "Test Trader")

    def logout(self) -> None:
        pass

    def instruments(self):
        return list(self._instruments)

    def quotes(self, keys):
        return []

    def history(self, key, interval_minutes, start, end):
        return []

    def connect_feed(self, sink) -> None:
        pass

    def disconnect_feed(self) -> None:
        pass

    def subscribe(self, keys) -> None:
        pass

    def unsubscribe(self, keys) -> None:
        pass

    def place_order(self, request: OrderRequest) -> str:
        with self._lock:
            order_id = f"T{next(self._ids):05d}"
            self.placed.append(request)
            by_key = {i.key: i for i in self._instruments}
            self._orders[order_id] = Order(
                ACCOUNT, order_id, request.instrument_key, by_key[request.instrument_key].trading_symbol,
                request.side, request.quantity, request.order_type, request.product, request.validity,
                OrderStatus.OPEN, request.price, request.trigger_price, tag=request.tag,
                placed_at=time.time(), updated_at=time.time())
            return order_id

    def modify_order(self, order_id: str, modification: OrderModification) -> None:
        with self._lock:
            order = self._orders.get(order_id)
            if order is None or not order.is_open:
                raise OrderRejectedError(f"order {order_id} is not open")
            self.modified.append((order_id, modification))
            changes = {k: v for k, v in (("quantity", modification.quantity), ("price", modification.price),
                                         ("trigger_price", modification.trigger_price),
                                         ("order_type", modification.order_type)) if v is not None}
            self._orders[order_id] = replace(order, updated_at=time.time(), **changes)

    def cancel_order(self, order_id: str) -> None:
        with self._lock:
            order = self._orders.get(order_id)
            if order is None or not order.is_open:
                raise OrderRejectedError(f"order {order_id} is not open")
            self.cancelled.append(order_id)
            self._orders[order_id] = replace(order, status=OrderStatus.CANCELLED, updated_at=time.time())

    def order_book(self):
        with self._lock:
            return list(self._orders.values())

    def trade_book(self):
        return []

    def positions(self):
        return []

    def holdings(self):
        return []

    def funds(self):
        return Funds(ACCOUNT, opening_balance=10_00_000_00, available_cash=10_00_000_00)


@pytest.fixture(scope="session")
def instruments():
    from terminal.sim.instruments import build_instrument_master

    return build_instrument_master(datetime(2025, 11, 20, 10, 0, tzinfo=IST), strikes_each_side=5).instruments


@pytest.fixture(scope="session")
def catalog(instruments):
    return InstrumentCatalog(instruments)


@pytest.fixture
def broker(instruments):
    return BookBroker(instruments)


@pytest.fixture
def ctx(qapp, tmp_path, broker, catalog):
    """A TerminalContext on real stores and services; the session is 'logged in' (catalog set)."""
    from terminal.services.account_session import AccountSession
    from terminal.services.background import BackgroundRunner
    from terminal.services.market_store import MarketStore
    from terminal.services.messages import MessageLog
    from terminal.services.order_service import OrderService
    from terminal.services.portfolio_store import PortfolioStore
    from terminal.storage.journal import OrderJournal
    from terminal.storage.settings import Settings
    from terminal.ui.context import TerminalContext

    market = MarketStore(catalog)
    portfolio = PortfolioStore()
    messages = MessageLog()
    runner = BackgroundRunner(workers=2)
    journal = OrderJournal(tmp_path / "journal.sqlite")
    orders = OrderService(broker, market, journal, runner, messages)
    session = AccountSession(broker, market, portfolio, runner, messages)
    settings = Settings(tmp_path / "settings.json")
    context = TerminalContext(market, portfolio, messages, orders, session, settings, runner)
    yield context
    runner.shutdown()
    journal.close()


def make_tick(key: str, ltp: int, close: int = 0, *, spread: int = 5, volume: int = 1000, oi: int = 0,
              levels: int = 5, at: float | None = None) -> Tick:
    """A tick with ``levels`` of depth around ``ltp`` (paise), one tick of spread."""
    bids = tuple(DepthLevel(ltp - spread * (i + 1) + spread, 100 * (i + 1), i + 1) for i in range(levels))
    asks = tuple(DepthLevel(ltp + spread * (i + 1), 150 * (i + 1), i + 2) for i in range(levels))
    return Tick(key, ltp, at or time.time(), volume=volume, open=close or ltp, high=max(ltp, close or ltp),
                low=min(ltp, close or ltp), close=close, open_interest=oi, bids=bids, asks=asks,
                total_buy_quantity=sum(b.quantity for b in bids), total_sell_quantity=sum(a.quantity for a in asks))


class ModelSpy:
    """Counts a model's change signals: (first row, last row) per dataChanged, and resets."""

    def __init__(self, model):
        self.changed: list[tuple[int, int]] = []
        self.resets = 0
        model.dataChanged.connect(lambda a, b, roles=(): self.changed.append((a.row(), b.row())))
        model.modelReset.connect(self._reset)

    def _reset(self) -> None:
        self.resets += 1

    def clear(self) -> None:
        self.changed.clear()
        self.resets = 0


@pytest.fixture(name="make_tick")
def make_tick_fixture():
    return make_tick


@pytest.fixture(name="spy_model")
def spy_model_fixture():
    return ModelSpy


@pytest.fixture
def shots(tmp_path_factory):
    """Where panel screenshots go when SCREENSHOT_DIR is set (for looking at them by eye)."""
    import os
    from pathlib import Path

    folder = os.environ.get("SCREENSHOT_DIR")
    return Path(folder) if folder else tmp_path_factory.mktemp("shots")


@pytest.fixture
def dark_theme(qapp):
    """The dark theme for a screenshot, restored afterwards so other tests see plain Qt."""
    from terminal.ui import theme

    palette, sheet, font, style = qapp.palette(), qapp.styleSheet(), qapp.font(), qapp.style().name()
    theme.apply_theme(qapp, "dark")
    yield theme.current()
    qapp.setStyleSheet(sheet)
    qapp.setPalette(palette)
    qapp.setFont(font)
    qapp.setStyle(style)
    theme._current = theme.DARK


@pytest.fixture
def paper_ctx(qapp, tmp_path):
    """A TerminalContext on the terminal's own PaperBroker (simulated exchange), logged in."""
    from terminal.brokers.paper.broker import PaperBroker
    from terminal.services.account_session import AccountSession
    from terminal.services.background import BackgroundRunner
    from terminal.services.market_store import MarketStore
    from terminal.services.messages import MessageLog
    from terminal.services.order_service import OrderService
    from terminal.services.portfolio_store import PortfolioStore
    from terminal.storage.journal import OrderJournal
    from terminal.storage.settings import Settings
    from terminal.ui.context import TerminalContext

    paper = PaperBroker(seed=7)
    paper.login()
    market = MarketStore(InstrumentCatalog(paper.instruments()))
    portfolio, messages, runner = PortfolioStore(), MessageLog(), BackgroundRunner(workers=2)
    journal = OrderJournal(tmp_path / "journal.sqlite")
    context = TerminalContext(market, portfolio, messages, OrderService(paper, market, journal, runner, messages),
                              AccountSession(paper, market, portfolio, runner, messages),
                              Settings(tmp_path / "settings.json"), runner)
    yield context
    runner.shutdown()
    journal.close()
