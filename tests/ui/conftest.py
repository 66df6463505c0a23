"""A whole TerminalContext for panel tests: real stores, real services, the terminal's own broker.

The broker is the default one, ``PaperBroker`` over a ``SimulatedExchange``: orders are validated,
matched, rested, modified and cancelled by the production simulator. Each test gets its own
exchange (about 30 ms to build), so no order or position leaks from one test into the next.

``ctx`` runs the exchange on a frozen clock at ``TRADING_DAY``: contract tokens are the ones the
tests name (NIFTY25NOVFUT is NFO:436130), quotes are the same in every run, and the market does not
move, so a limit order away from the touch stays open. ``paper_ctx`` runs on the wall clock (today's
contracts, a moving market). Neither starts the feed thread; a test that wants live ticks starts it
with ``run_async(paper_ctx.session.start())``, and the fixture's teardown stops it.
"""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from terminal.domain import DepthLevel, Tick
from terminal.domain.catalog import InstrumentCatalog

IST = ZoneInfo("Asia/Kolkata")
TRADING_DAY = datetime(2025, 11, 20, 10, 0, tzinfo=IST)  # a Thursday, mid-session
ACCOUNT = "paper:SIM001"  # PaperBroker(exchange, account_id="SIM001")


def make_context(broker, tmp_path):
    """A TerminalContext over ``broker``, logged in (catalog loaded) without starting the feed."""
    from terminal.services.account_session import AccountSession
    from terminal.services.background import BackgroundRunner
    from terminal.services.market_store import MarketStore
    from terminal.services.messages import MessageLog
    from terminal.services.order_service import OrderService
    from terminal.services.portfolio_store import PortfolioStore
    from terminal.storage.journal import OrderJournal
    from terminal.storage.settings import Settings
    from terminal.ui.context import TerminalContext

    broker.login()
    market = MarketStore(InstrumentCatalog(broker.instruments()))
    portfolio, messages, runner = PortfolioStore(), MessageLog(), BackgroundRunner(workers=2)
    journal = OrderJournal(tmp_path / "journal.sqlite")
    context = TerminalContext(market, portfolio, messages, OrderService(broker, market, journal, runner, messages),
                              AccountSession(broker, market, portfolio, runner, messages),
                              Settings(tmp_path / "settings.json"), runner)
    return context, runner, journal


def close_context(context, runner, journal) -> None:
    context.session.stop()  # a no-op unless the test started the feed
    runner.shutdown()
    journal.close()


@pytest.fixture
def exchange():
    """This test's own simulated exchange, frozen at TRADING_DAY (seeded: the same books every run)."""
    from terminal.sim.exchange import SimulatedExchange

    return SimulatedExchange(seed=7, clock=lambda: TRADING_DAY)


@pytest.fixture
def broker(exchange):
    """The paper account ``paper:SIM001`` at this test's exchange."""
    from terminal.brokers.paper.broker import PaperBroker

    return PaperBroker(exchange, account_id="SIM001")


@pytest.fixture
def ctx(qapp, tmp_path, broker):
    """A TerminalContext on real stores and services over the paper broker; logged in, feed not started."""
    context, runner, journal = make_context(broker, tmp_path)
    yield context
    close_context(context, runner, journal)


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
    """A TerminalContext on a PaperBroker whose exchange runs on the wall clock (today's contracts), logged in."""
    from terminal.brokers.paper.broker import PaperBroker

    context, runner, journal = make_context(PaperBroker(seed=7), tmp_path)
    yield context
    close_context(context, runner, journal)
