"""The session's life on the simulated exchange: countdown, a token that dies, logging in again.

The only fake is at the edge: a paper broker whose "server" can declare the token dead, as a
real broker's does (SessionExpiredError on every call until the next login).
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from terminal.brokers.base import RateLimitedError, SessionExpiredError, SessionInfo
from terminal.brokers.paper.broker import PaperBroker
from terminal.domain import OrderRequest, OrderType, Product, Side
from terminal.services.account_session import AccountSession
from terminal.services.background import BackgroundRunner
from terminal.services.market_store import MarketStore
from terminal.services.messages import MessageLog
from terminal.services.order_service import OrderService
from terminal.services.portfolio_store import PortfolioStore
from terminal.services.session_lifecycle import (
    EXPIRED_REFUSAL, RELOGGING_REFUSAL, SessionGuard, SessionLifecycle, SessionState, countdown_text,
)
from terminal.sim.exchange import SimulatedExchange
from terminal.storage.journal import JournalState, OrderJournal

T0 = datetime(2025, 1, 6, 9, 15, tzinfo=timezone.utc)


class Clock:
    def __init__(self, now: datetime = T0):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class ExpiringPaperBroker(PaperBroker):
    """Paper trading behind a token that lives ``lifetime`` and can be killed by the "server"."""

    def __init__(self, clock: Clock, lifetime: timedelta = timedelta(hours=8), **kwargs):
        super().__init__(**kwargs)
        self.clock, self.lifetime = clock, lifetime
        self.dead = False
        self.logins = 0
        self.place_calls = 0
        self.feed_connects = 0
        self.login_gate: threading.Event | None = None  # set: the login waits (a slow browser)
        self.rate_limited = 0  # the next this many position reads are refused by the rate limit

    def login(self) -> SessionInfo:
        if self.login_gate is not None:
            assert self.login_gate.wait(10)
        self.logins += 1
        self.dead = False
        return SessionInfo(self.account, "Paper trader", self.clock() + self.lifetime)

    def _alive(self) -> None:
        if self.dead:
            raise SessionExpiredError("Session Expired : Invalid Session Key")

    def order_book(self):
        self._alive()
        return super().order_book()

    def positions(self):
        self._alive()
        if self.rate_limited:
            self.rate_limited -= 1
            raise RateLimitedError("Access denied because of exceeding access rate")
        return super().positions()

    def funds(self):
        self._alive()
        return super().funds()

    def place_order(self, request):
        self.place_calls += 1
        self._alive()
        return super().place_order(request)

    def connect_feed(self, sink):
        self._alive()
        self.feed_connects += 1
        super().connect_feed(sink)


class Desk:
    def __init__(self, tmp_path, auto_relogin: bool, lifetime=timedelta(hours=8)):
        self.clock = Clock()
        self.broker = ExpiringPaperBroker(self.clock, lifetime, exchange=SimulatedExchange(seed=3))
        self.guard = SessionGuard(self.broker)
        self.messages = MessageLog()
        self.market = MarketStore()
        self.portfolio = PortfolioStore()
        self.runner = BackgroundRunner()
        self.session = AccountSession(self.guard, self.market, self.portfolio, self.runner, self.messages)
        self.journal = OrderJournal(tmp_path / "journal.sqlite3")
        self.orders = OrderService(self.guard, self.market, self.journal, self.runner, self.messages)
        self.lifecycle = SessionLifecycle(self.session, self.orders, auto_relogin=auto_relogin, clock=self.clock,
                                          warn_before_s=600, renew_before_s=120)
        self.states: list[str] = []
        self.lifecycle.state_changed.connect(self.states.append)

    def stock(self):
        return next(i for i in self.market.catalog.search("reliance") if i.is_tradeable)

    def buy(self, instrument, price=None) -> OrderRequest:
        quote = self.broker.quotes([instrument.key])[0]
        return OrderRequest(self.broker.account, instrument.key, Side.BUY, instrument.lot_size, OrderType.LIMIT,
                            Product.MIS,
                            price=price or quote.best_ask or quote.ltp)

    def errors(self) -> list[str]:
        return [m.text for m in self.messages.messages() if m.level.value == "ERROR"]

    def close(self):
        self.session.stop()
        self.runner.shutdown()
        self.journal.close()


@pytest.fixture
def desk_factory(tmp_path, run_async):
    desks = []

    def make(auto_relogin=False, **kwargs) -> Desk:
        desk = Desk(tmp_path, auto_relogin, **kwargs)
        desks.append(desk)
        assert run_async(desk.session.start())
        desk.lifecycle.start()
        return desk

    yield make
    for desk in desks:
        desk.close()



def test_a_new_lifecycle_retires_the_one_it_replaces(desk_factory, run_async, qtbot):
    """Two countdowns on one session would both log in again on expiry: the older one retires."""
    desk = desk_factory(auto_relogin=True)
    old = desk.lifecycle
    assert old._timer.isActive() and len(desk.guard.expired_listeners) == 1
    new = SessionLifecycle(desk.session, desk.orders, auto_relogin=True, clock=desk.clock)
    assert desk.session.lifecycle is new
    assert not old._timer.isActive() and desk.guard.expired_listeners == [new._listener]
    old.start()  # e.g. still connected to session.ready
    assert not old._timer.isActive()
    new.start()
    relogins = []
    old.relogged.connect(lambda: relogins.append("old"))
    new.relogged.connect(lambda: relogins.append("new"))
    desk.clock.now = T0 + timedelta(hours=8, seconds=1)  # expired: only the new one logs in again
    old.check_now()
    new.check_now()
    qtbot.waitUntil(lambda: bool(relogins), timeout=10_000)
    qtbot.wait(200)
    assert relogins == ["new"]
    new.stop()

def test_the_countdown_warns_once_then_expires(desk_factory, qtbot):
    desk = desk_factory(auto_relogin=False)
    assert desk.lifecycle.state is SessionState.ACTIVE
    assert desk.lifecycle.seconds_left == 8 * 3600
    assert desk.lifecycle.status_text == "Session 8h 00m"
    warnings = []
    desk.lifecycle.expiring_soon.connect(warnings.append)

    desk.clock.now = T0 + timedelta(hours=8) - timedelta(minutes=9)
    desk.lifecycle.check_now()
    desk.lifecycle.check_now()
    assert desk.lifecycle.state is SessionState.EXPIRING_SOON
    assert warnings == [9 * 60]  # once per token, not once a second
    assert desk.lifecycle.status_text == "Session expires in 09:00"
    assert any("expires in 9 min" in m.text for m in desk.messages.messages())
    assert desk.guard.refusal is None  # still alive: orders go out

    desk.clock.now = T0 + timedelta(hours=8, seconds=1)
    desk.lifecycle.check_now()
    assert desk.lifecycle.state is SessionState.EXPIRED
    assert desk.lifecycle.seconds_left == -1
    assert desk.lifecycle.status_text == "Session expired: log in again"
    assert desk.broker.logins == 1  # Flattrade-like: nobody is logged in behind the trader's back


def test_a_dead_token_is_noticed_and_orders_are_refused_not_sent(desk_factory, run_async, qtbot):
    desk = desk_factory(auto_relogin=False)
    stock = desk.stock()
    desk.broker.dead = True  # the broker's server dropped the token
    run_async(desk.session.refresh_all())
    qtbot.waitUntil(lambda: desk.lifecycle.state is SessionState.EXPIRED, timeout=5_000)

    request = desk.buy(stock)
    sent_before = desk.broker.place_calls
    [outcome] = run_async(desk.orders.place(request))
    assert outcome.state is JournalState.FAILED
    assert EXPIRED_REFUSAL in outcome.message
    assert desk.broker.place_calls == sent_before  # refused before the broker, never queued
    assert not any(o.tag == request.tag for o in PaperBroker.order_book(desk.broker))  # the exchange's own book
    assert any("Not sent" in e and EXPIRED_REFUSAL in e for e in desk.errors())
    desk.broker.convert_position = lambda *args: pytest.fail("sent while the session is dead")
    with pytest.raises(SessionExpiredError, match=EXPIRED_REFUSAL):
        desk.guard.convert_position(None, None, 1)  # an adapter's extra that sends is refused too
    assert desk.guard.exchange is desk.broker.exchange  # other extras pass straight through


def test_relogin_restores_the_session_feed_and_books(desk_factory, run_async, qtbot):
    desk = desk_factory(auto_relogin=False)
    stock = desk.stock()
    [placed] = run_async(desk.orders.place(desk.buy(stock)))
    assert placed.accepted
    index = "NSE:26000"
    desk.session.subscribe([stock.key, index])
    qtbot.waitUntil(lambda: desk.market.tick(stock.key) is not None and desk.market.tick(index) is not None,
                    timeout=5_000)

    desk.broker.dead = True
    desk.clock.now += timedelta(hours=1)
    run_async(desk.session.refresh_orders())
    qtbot.waitUntil(lambda: desk.lifecycle.state is SessionState.EXPIRED, timeout=5_000)
    desk.portfolio.replace_orders(desk.broker.account, [])  # forget, so the reload is visible
    relogged = []
    desk.lifecycle.relogged.connect(lambda: relogged.append(True))

    assert run_async(desk.lifecycle.relogin())
    assert desk.lifecycle.state is SessionState.ACTIVE
    assert desk.states[-2:] == ["RELOGGING", "ACTIVE"]
    assert relogged == [True]
    assert desk.broker.logins == 2 and desk.broker.feed_connects == 2
    assert desk.lifecycle.seconds_left == 8 * 3600  # the new token's life
    assert desk.guard.refusal is None
    assert any(o.order_id == placed.order_id for o in desk.portfolio.orders())  # order book reloaded
    assert desk.session.feed.subscribed() == {stock.key, index}
    seen = {k: desk.market.tick(k) for k in (stock.key, index)}
    qtbot.waitUntil(lambda: all(desk.market.tick(k) is not seen[k] for k in seen), timeout=5_000)
    [again] = run_async(desk.orders.place(desk.buy(stock)))
    assert again.accepted


def test_orders_are_refused_while_logging_in_again(desk_factory, run_async, qtbot):
    desk = desk_factory(auto_relogin=False)
    stock = desk.stock()
    desk.broker.login_gate = threading.Event()  # the trader has not finished the browser login yet
    task = __import__("asyncio").ensure_future(desk.lifecycle.relogin())
    qtbot.waitUntil(lambda: desk.lifecycle.state is SessionState.RELOGGING, timeout=5_000)
    assert desk.lifecycle.status_text == "Logging in again…"

    [outcome] = run_async(desk.orders.place(desk.buy(stock)))
    assert outcome.state is JournalState.FAILED and RELOGGING_REFUSAL in outcome.message
    second = __import__("asyncio").ensure_future(desk.lifecycle.relogin())  # single flight

    desk.broker.login_gate.set()
    qtbot.waitUntil(lambda: task.done() and second.done(), timeout=10_000)
    assert task.result() and second.result()
    assert desk.broker.logins == 2
    assert desk.lifecycle.state is SessionState.ACTIVE


def test_angel_like_brokers_log_in_again_by_themselves(desk_factory, run_async, qtbot):
    desk = desk_factory(auto_relogin=True)
    desk.broker.dead = True
    run_async(desk.session.refresh_portfolio())  # any call finds the token dead
    qtbot.waitUntil(lambda: desk.broker.logins == 2 and desk.lifecycle.state is SessionState.ACTIVE, timeout=10_000)
    assert "RELOGGING" in desk.states

    # A failure from a call made with the old token, reported late, is not a new expiry.
    generation = desk.guard.generation
    desk.lifecycle._expired_reported.emit("late news", generation - 1)
    qtbot.wait(50)
    assert desk.lifecycle.state is SessionState.ACTIVE and desk.broker.logins == 2


def test_a_token_about_to_die_is_renewed_ahead_of_time(desk_factory, qtbot):
    desk = desk_factory(auto_relogin=True)
    old_expiry = desk.lifecycle.expires_at
    desk.clock.now = old_expiry - timedelta(seconds=90)  # inside renew_before_s
    desk.lifecycle.check_now()
    qtbot.waitUntil(lambda: desk.broker.logins == 2 and desk.lifecycle.state is SessionState.ACTIVE, timeout=10_000)
    assert desk.lifecycle.expires_at == desk.clock.now + timedelta(hours=8)


def test_a_feed_going_down_makes_the_terminal_check_the_session(desk_factory, qtbot):
    desk = desk_factory(auto_relogin=False)
    desk.broker.dead = True
    desk.session.feed_state_changed.emit("DISCONNECTED", "the broker refused the session token")
    qtbot.waitUntil(lambda: desk.lifecycle.state is SessionState.EXPIRED, timeout=5_000)


def test_an_intent_left_open_is_reconciled_after_the_login(desk_factory, run_async, qtbot):
    desk = desk_factory(auto_relogin=False)
    request = desk.buy(desk.stock())
    desk.journal.record_intent(request)  # sent just as the token died; reply lost
    assert run_async(desk.lifecycle.relogin())
    assert desk.journal.entry(request.tag).state is JournalState.NOT_FOUND


def test_a_failed_login_leaves_the_session_expired_with_a_reason(desk_factory, run_async, qtbot):
    desk = desk_factory(auto_relogin=False)

    def refuse():
        raise SessionExpiredError("Login refused: wrong TOTP")

    desk.broker.login = refuse
    failures = []
    desk.lifecycle.relogin_failed.connect(failures.append)
    assert not run_async(desk.lifecycle.relogin())
    assert desk.lifecycle.state is SessionState.EXPIRED
    assert desk.guard.refusal == EXPIRED_REFUSAL
    assert failures and any("wrong TOTP" in e for e in desk.errors())


def test_a_rate_limited_reload_is_tried_again_quietly(desk_factory, run_async, qtbot):
    desk = desk_factory(auto_relogin=False)
    [placed] = run_async(desk.orders.place(desk.buy(desk.stock())))
    assert placed.accepted
    qtbot.waitUntil(lambda: bool(desk.portfolio.positions()), timeout=5_000)  # filled and reloaded once
    qtbot.wait(500)  # let the reload the fill started finish before the rate limit is switched on
    desk.portfolio.replace_positions(desk.broker.account, [])
    desk.broker.rate_limited = 2
    run_async(desk.session.refresh_portfolio())
    assert not desk.portfolio.positions()
    qtbot.waitUntil(lambda: bool(desk.portfolio.positions()), timeout=10_000)  # third try gets through
    assert desk.broker.rate_limited == 0
    assert not [e for e in desk.errors() if "positions" in e]


@pytest.mark.parametrize("state, left, text", [
    (SessionState.ACTIVE, None, ""),
    (SessionState.ACTIVE, 7 * 3600 + 42 * 60 + 5, "Session 7h 42m"),
    (SessionState.ACTIVE, 59 * 60, "Session expires in 59:00"),
    (SessionState.EXPIRING_SOON, 299, "Session expires in 04:59"),
    (SessionState.EXPIRED, -5, "Session expired: log in again"),
    (SessionState.RELOGGING, 100, "Logging in again…"),
])
def test_countdown_text(state, left, text):
    assert countdown_text(state, left) == text
