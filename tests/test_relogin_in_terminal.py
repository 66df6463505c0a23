"""A token that dies mid-session, on each real adapter against its loopback sandbox.

Angel One renews itself (refresh token, else TOTP); Flattrade needs the browser login again (the
sandbox's page approves itself). Afterwards the books are reloaded, every subscription ticks
again, and orders go out again; while the session is dead they are refused, never queued.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from support.network import free_port

from terminal.app import create_broker, create_context, shutdown, start_session
from terminal.domain import OrderRequest, OrderType, Product, Side
from terminal.services.session_lifecycle import (
    EXPIRED_REFUSAL, SessionGuard, SessionLifecycle, SessionState,
)
from terminal.storage.journal import JournalState, OrderJournal
from terminal.storage.settings import Settings


@pytest.fixture
def noren():
    from terminal.sim.servers.noren import NorenSandbox

    server = NorenSandbox(redirect_port=free_port(), step_interval=0.05, seed=5).start()
    yield server
    server.stop()


@pytest.fixture
def smartapi():
    from terminal.sim.servers.smartapi import SmartApiSandbox

    server = SmartApiSandbox(seed=5)
    server.start()
    yield server
    server.stop()


class Terminal:
    """The terminal's services wired as create_context does, with the session guard and lifecycle."""

    def __init__(self, name, info, tmp_path, run_async, **lifecycle_options):
        broker = create_broker(name, Settings(tmp_path / "s.json"), sandbox=info)
        self.context = create_context(SessionGuard(broker), Settings(tmp_path / "settings.json"),
                                      OrderJournal(tmp_path / "j.db"))
        # With the test's options: it retires the lifecycle create_context made (one countdown per session).
        self.lifecycle = SessionLifecycle(self.context.session, self.context.orders, **lifecycle_options)
        self.context.session.ready.connect(self.lifecycle.start)
        self.run_async = run_async
        assert run_async(start_session(self.context), timeout_ms=30_000)
        assert self.lifecycle.state is SessionState.ACTIVE and self.lifecycle.seconds_left > 0

    @property
    def account(self):
        return self.context.account

    def watch(self, qtbot) -> list:
        """Subscribe a stock, an index and a future; wait until each has ticked."""
        catalog = self.context.market.catalog
        stock = next(i for i in catalog.search("reliance") if i.is_tradeable)
        future = catalog.futures("NIFTY")[0]
        keys = [stock.key, future.key, "NSE:26000"]
        self.context.session.subscribe(keys)
        qtbot.waitUntil(lambda: all(self.context.market.tick(k) is not None for k in keys), timeout=15_000)
        return keys

    def ticks_again(self, qtbot, keys) -> None:
        """Every key gets a tick newer than the one it has now."""
        seen = {k: self.context.market.tick(k) for k in keys}
        qtbot.waitUntil(lambda: all(self.context.market.tick(k) is not seen[k] for k in keys), timeout=15_000)

    def buy(self, key):
        instrument = self.context.market.instrument(key)
        quote = self.context.market.tick(key)
        price = quote.best_ask or quote.ltp
        return self.run_async(self.context.orders.place(OrderRequest(
            self.account, key, Side.BUY, instrument.lot_size, OrderType.LIMIT, Product.MIS, price=price)),
            timeout_ms=20_000)

    def holds(self, key) -> bool:
        return any(p.instrument_key == key and p.net_quantity > 0 for p in self.context.portfolio.positions())

    def errors(self) -> list[str]:
        return [m.text for m in self.context.messages.messages() if m.level.value == "ERROR"]


def test_angel_one_recovers_by_itself_when_its_tokens_die(smartapi, qtbot, run_async, tmp_path):
    terminal = Terminal("angelone", smartapi.info, tmp_path, run_async, retry_after_s=2.0)
    try:
        keys = terminal.watch(qtbot)
        [bought] = terminal.buy(keys[0])
        assert bought.accepted
        qtbot.waitUntil(lambda: terminal.holds(keys[0]), timeout=20_000)

        # Mid-session the gateway drops every JWT: the next call renews the session itself.
        smartapi.expire_tokens()
        terminal.context.portfolio.replace_positions(terminal.account, [])
        run_async(terminal.context.session.refresh_all(), timeout_ms=20_000)
        qtbot.waitUntil(lambda: terminal.holds(keys[0]), timeout=10_000)  # reloaded with the renewed token
        assert terminal.lifecycle.state is SessionState.ACTIVE
        assert not [e for e in terminal.errors() if "expired" in e.lower()]
        terminal.ticks_again(qtbot, keys)

        # Now the renewal itself is refused (refresh token gone, PIN changed at the broker): the
        # session is dead, orders are refused, and the terminal keeps trying by itself.
        smartapi.expire_tokens()
        with smartapi._lock:
            smartapi._refresh_tokens.clear()
        right_pin, smartapi.pin = smartapi.pin, "0000"
        run_async(terminal.context.session.refresh_orders(), timeout_ms=20_000)
        qtbot.waitUntil(lambda: terminal.lifecycle.state is SessionState.EXPIRED
                        and terminal.lifecycle.guard.refusal == EXPIRED_REFUSAL, timeout=15_000)
        calls_before = len(smartapi.order_calls)
        [refused] = terminal.buy(keys[0])
        assert refused.state is JournalState.FAILED and "session expired" in refused.message
        assert len(smartapi.order_calls) == calls_before  # nothing reached the broker

        smartapi.pin = right_pin  # the trader fixed the PIN: the next automatic attempt gets in
        terminal.context.portfolio.replace_positions(terminal.account, [])
        qtbot.waitUntil(lambda: terminal.lifecycle.state is SessionState.ACTIVE, timeout=20_000)
        qtbot.waitUntil(lambda: terminal.holds(keys[0]), timeout=10_000)
        assert terminal.context.session.feed.subscribed() == set(keys)
        terminal.ticks_again(qtbot, keys)
        [again] = terminal.buy(keys[0])
        assert again.accepted
    finally:
        shutdown(terminal.context)


def test_angel_one_renews_a_token_before_it_expires(smartapi, qtbot, run_async, tmp_path):
    offset = [timedelta(0)]
    terminal = Terminal("angelone", smartapi.info, tmp_path, run_async,
                        clock=lambda: datetime.now(timezone.utc) + offset[0])
    try:
        keys = terminal.watch(qtbot)
        first_expiry = terminal.lifecycle.expires_at
        offset[0] = first_expiry - datetime.now(timezone.utc) - timedelta(seconds=60)  # a minute to go
        terminal.lifecycle.check_now()
        qtbot.waitUntil(lambda: terminal.lifecycle.expires_at != first_expiry
                        and terminal.lifecycle.state is not SessionState.RELOGGING, timeout=20_000)
        assert terminal.lifecycle.expires_at > first_expiry
        terminal.ticks_again(qtbot, keys)
    finally:
        shutdown(terminal.context)


def test_flattrade_logs_in_again_through_the_browser_and_resynchronises(noren, qtbot, run_async, tmp_path):
    terminal = Terminal("flattrade", noren.info(), tmp_path, run_async)
    try:
        assert terminal.lifecycle.seconds_left <= 24 * 3600  # the token dies at the next 05:00 IST
        keys = terminal.watch(qtbot)
        [bought] = terminal.buy(keys[0])
        assert bought.accepted
        qtbot.waitUntil(lambda: terminal.holds(keys[0]), timeout=20_000)

        noren.expire_sessions()  # the 05:00 IST reset
        run_async(terminal.context.session.refresh_orders(), timeout_ms=20_000)
        qtbot.waitUntil(lambda: terminal.lifecycle.state is SessionState.EXPIRED, timeout=10_000)
        assert any("session expired" in e.lower() for e in terminal.errors())
        [refused] = terminal.buy(keys[0])
        assert refused.state is JournalState.FAILED and EXPIRED_REFUSAL in refused.message
        assert refused.tag not in noren.place_requests  # refused here, not sent

        terminal.context.portfolio.replace_positions(terminal.account, [])
        terminal.context.portfolio.replace_orders(terminal.account, [])
        assert run_async(terminal.lifecycle.relogin(), timeout_ms=30_000)  # the browser flow, off the UI thread
        assert terminal.lifecycle.state is SessionState.ACTIVE
        qtbot.waitUntil(lambda: terminal.holds(keys[0])
                        and any(o.tag == bought.tag for o in terminal.context.portfolio.orders()), timeout=10_000)
        assert terminal.context.session.feed.subscribed() == set(keys)
        terminal.ticks_again(qtbot, keys)
        [again] = terminal.buy(keys[0])
        assert again.accepted
    finally:
        shutdown(terminal.context)
