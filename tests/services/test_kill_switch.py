"""The kill switch on the paper broker: everything cancelled, everything flat, entries locked, all journaled."""

import time
from datetime import date, datetime, timedelta

import pytest

from terminal.brokers.paper.broker import PaperBroker
from terminal.domain import OrderRequest, OrderType, Product, Side, Tick
from terminal.domain.catalog import InstrumentCatalog
from terminal.services.background import BackgroundRunner
from terminal.services.kill_switch import EntryLock, KillSwitch
from terminal.services.market_store import MarketStore
from terminal.services.messages import Level, MessageLog
from terminal.services.order_service import OrderService
from terminal.services.portfolio_store import PortfolioStore
from terminal.services.risk import RiskCheck, RiskLimits
from terminal.sim.calendar import IST
from terminal.sim.exchange import SimulatedExchange
from terminal.storage.journal import OrderJournal

TODAY = date(2025, 11, 24)  # a Monday: the nearest NIFTY weekly expires tomorrow, so options are cheap


def clock_from(day: date):
    """The exchange's clock runs from 10:00 IST on ``day``: premiums and margins do not depend on
    the date the tests run (a far expiry made the 40-lot option cost more than the account holds)."""
    start, t0 = datetime(day.year, day.month, day.day, 10, 0, tzinfo=IST), time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - t0)


class Desk:
    """A paper account with an order service, stores and a kill switch, as create_context wires them."""

    def __init__(self, exchange, home, limits=RiskLimits(confirm_above_value_rupees=0), today=lambda: TODAY):
        self.broker = PaperBroker(exchange)
        self.broker.login()
        catalog = InstrumentCatalog(self.broker.instruments())
        self.market = MarketStore(catalog)
        self.portfolio = PortfolioStore()
        self.messages = MessageLog()
        self.journal = OrderJournal(home / "journal.sqlite3")
        self.lock = EntryLock(home / "entry_lock.json", today=today)
        risk = RiskCheck(limits, self.market, self.portfolio, lock=self.lock)
        self.orders = OrderService(self.broker, self.market, self.journal, BackgroundRunner(), self.messages, risk=risk)
        self.kill = KillSwitch(self.orders, self.portfolio, self.market)
        rows = catalog.option_chain("NIFTY", catalog.expiries("NIFTY")[0])
        self.option = rows[len(rows) // 2][1]
        self.future = catalog.futures("NIFTY")[0]
        self.market.apply_ticks({t.key: t for t in self.broker.quotes([self.option.key, self.future.key])})

    def request(self, instrument, side, lots, order_type=OrderType.MARKET, price=0):
        return OrderRequest(self.broker.account, instrument.key, side, lots * instrument.lot_size, order_type,
                            Product.NRML, price=price)

    def refresh(self):
        self.portfolio.replace_orders(self.broker.account, self.broker.order_book())
        self.portfolio.replace_positions(self.broker.account, self.broker.positions())


@pytest.fixture
def exchange():
    return SimulatedExchange(seed=3, clock=clock_from(TODAY))


def open_positions_and_orders(desk, run_async):
    """A long option above the freeze limit, a short future, and two resting orders."""
    option_quote = desk.broker.quotes([desk.option.key])[0]
    low = max(option_quote.ltp * 7 // 10 // 5 * 5, 5)
    for request in (desk.request(desk.option, Side.BUY, 40), desk.request(desk.future, Side.SELL, 1),
                    desk.request(desk.option, Side.BUY, 1, OrderType.LIMIT, low),
                    desk.request(desk.option, Side.BUY, 2, OrderType.LIMIT, low - 5)):
        assert all(o.accepted for o in run_async(desk.orders.place(request)))
    desk.refresh()
    assert len(desk.portfolio.open_orders(desk.broker.account)) == 2
    assert {p.instrument_key: p.net_quantity for p in desk.broker.positions() if p.is_open} == {
        desk.option.key: 40 * desk.option.lot_size, desk.future.key: -desk.future.lot_size}


def test_kill_switch_cancels_squares_off_and_locks(exchange, tmp_path, run_async):
    desk = Desk(exchange, tmp_path)
    open_positions_and_orders(desk, run_async)

    assert run_async(desk.kill.engage("test")) is True

    book = desk.broker.order_book()
    assert [o for o in book if o.is_open] == []
    assert all(p.net_quantity == 0 for p in desk.broker.positions())
    option_exits = [o for o in book if o.instrument_key == desk.option.key and o.side is Side.SELL]
    assert len(option_exits) == 2  # 40 lots out in freeze-safe slices
    assert all(o.quantity <= desk.option.freeze_quantity for o in option_exits)
    assert sum(o.filled_quantity for o in option_exits) == 40 * desk.option.lot_size

    desk.refresh()
    assert run_async(desk.orders.place(desk.request(desk.option, Side.BUY, 1))) == []
    error = [m for m in desk.messages.messages() if m.level is Level.ERROR][-1]
    assert "New entries are locked for today: kill switch at" in error.text and "(test)" in error.text
    assert "Exits" in error.hint

    kinds = [kind for _, _, kind, _ in desk.journal.events(desk.broker.account)]
    assert kinds == ["kill_switch.engaged", "kill_switch.cancelled", "kill_switch.squared_off", "kill_switch.done"]
    details = {kind: detail for _, _, kind, detail in desk.journal.events()}
    assert details["kill_switch.cancelled"] == "2 open orders cancelled, 0 failed"
    assert details["kill_switch.squared_off"].startswith("3 of 3 square-off orders accepted")
    assert sorted(e.action for e in desk.journal.entries()).count("cancel") == 2


def test_the_lock_survives_a_restart_until_the_next_ist_day(exchange, tmp_path, run_async):
    desk = Desk(exchange, tmp_path)
    run_async(desk.kill.engage("test"))
    desk.journal.close()

    restarted = Desk(exchange, tmp_path)
    assert restarted.kill.is_locked
    assert run_async(restarted.orders.place(restarted.request(restarted.option, Side.BUY, 1))) == []
    assert restarted.broker.order_book() == []

    next_day = Desk(exchange, tmp_path, today=lambda: TODAY + timedelta(days=1))
    assert not next_day.kill.is_locked
    assert run_async(next_day.orders.place(next_day.request(next_day.option, Side.BUY, 1)))[0].accepted


def test_exits_are_allowed_while_locked(exchange, tmp_path, run_async):
    desk = Desk(exchange, tmp_path)
    assert run_async(desk.orders.place(desk.request(desk.future, Side.BUY, 2)))[0].accepted
    desk.lock.lock(desk.broker.account, "locked by hand")
    desk.refresh()
    assert run_async(desk.orders.place(desk.request(desk.future, Side.SELL, 1)))[0].accepted
    assert run_async(desk.orders.place(desk.request(desk.future, Side.BUY, 1))) == []


def test_the_hotkey_asks_first_and_no_means_nothing_happens(exchange, tmp_path, run_async):
    desk = Desk(exchange, tmp_path)
    open_positions_and_orders(desk, run_async)
    questions = []

    async def no(text):
        questions.append(text)
        return False

    desk.orders.confirm = no
    assert run_async(desk.kill.request()) is False
    assert "KILL SWITCH" in questions[0]
    assert not desk.kill.is_locked and len([o for o in desk.broker.order_book() if o.is_open]) == 2
    assert desk.journal.events() == []

    async def yes(text):
        questions.append(text)
        return True

    desk.orders.confirm = yes
    assert run_async(desk.kill.request()) is True
    assert desk.kill.is_locked and len(questions) == 2  # the square-off itself asks nothing more


def test_the_daily_loss_limit_engages_the_switch_by_itself(exchange, tmp_path, qtbot, run_async):
    desk = Desk(exchange, tmp_path, RiskLimits(daily_loss_limit_rupees=20_000, confirm_above_value_rupees=0))
    assert run_async(desk.orders.place(desk.request(desk.future, Side.BUY, 1)))[0].accepted
    desk.refresh()
    desk.kill.watch_daily_loss()
    [position] = [p for p in desk.portfolio.positions() if p.is_open]
    mtms = []
    desk.kill.mtm_changed.connect(mtms.append)

    small_dip = position.average_price - 100_00  # ₹100 a unit: a loss below the limit
    desk.market.apply_ticks({desk.future.key: Tick(desk.future.key, small_dip, 0.0)})
    assert mtms[-1] == -100_00 * position.net_quantity + position.realised_pnl
    assert not desk.kill.is_locked

    crash = position.average_price - 400_00  # ₹400 a unit on 65 units: ₹26,000 down
    with qtbot.waitSignal(desk.kill.finished, timeout=10_000) as finished:
        desk.market.apply_ticks({desk.future.key: Tick(desk.future.key, crash, 0.0)})
    assert finished.args == [True]
    assert desk.kill.is_locked
    assert all(p.net_quantity == 0 for p in desk.broker.positions())
    engaged = [d for _, _, k, d in desk.journal.events() if k == "kill_switch.engaged"]
    assert len(engaged) == 1 and engaged[0].startswith("daily loss limit: MTM -₹")


def test_a_second_press_while_running_does_not_send_twice(exchange, tmp_path, run_async):
    import asyncio

    desk = Desk(exchange, tmp_path)
    open_positions_and_orders(desk, run_async)

    async def press_twice():
        return await asyncio.gather(desk.kill.engage("first"), desk.kill.engage("second"))

    assert run_async(press_twice()) == [True, True]
    exits = [o for o in desk.broker.order_book() if o.side is Side.SELL and o.instrument_key == desk.option.key]
    assert len(exits) == 2
    assert [k for _, _, k, _ in desk.journal.events()].count("kill_switch.engaged") == 1
