"""Flattrade under faults: hundreds of orders, modifies and cancels, and a hundred websocket drops
against the Noren sandbox.

The real FlattradeBroker and the real OrderService (journal on disk, pool threads, reconcile by
tag) place orders into the loopback sandbox while it loses replies after accepting orders, sends
5xx and HTML pages, truncates JSON, answers "rate limited" and "Session Expired", and delays
every reply. Afterwards the exchange, the sandbox's request log and the journal must agree:
every intent in a known state, every order that exists exactly once, nothing sent twice.

The sandbox's own rate limiter is off and the client's is widened: rate-limit replies are injected
as faults instead, so that 500 orders take seconds, not the 12 minutes 40 orders/minute would.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
import time
from collections import Counter
from functools import partial
from urllib.parse import parse_qs

import pytest
from change_witness import CountingExchange, check_changes, plan_changes, run_changes
from support.network import follow_login_page, free_port
from support import polling

from terminal.brokers.base import FeedState
from terminal.brokers.flattrade import create_broker, sandbox_config, store_sandbox_secrets
from terminal.brokers.ratelimit import RateLimits
from terminal.domain import InstrumentKind, OrderRequest, OrderStatus, OrderType, Product, Side
from terminal.domain.catalog import InstrumentCatalog
from terminal.services.background import BackgroundRunner
from terminal.services.market_store import MarketStore
from terminal.services.messages import MessageLog
from terminal.services.order_service import OrderService
from terminal.sim.servers.noren import NorenSandbox
from terminal.sim.servers.noren_faults import PROCESSED_FAULTS, REST_FAULTS
from terminal.storage.journal import JournalState, OrderJournal

log = logging.getLogger(__name__)

ORDERS = 500
# 28% of REST requests meet a fault (every route, the order book lookups included), plus delays.
REST_FAULT_PROFILE = ("drop_reply_after_accept=0.08,html_error=0.04,truncated_json=0.04,http_500=0.05,"
                      "rate_limited=0.04,session_expired=0.03,delay_ms=0-40")
SETTLED = {JournalState.SENT, JournalState.REJECTED, JournalState.FAILED, JournalState.NOT_FOUND}
# What the journal must say, given the fault the order's one PlaceOrder request met at the sandbox.
EXPECTED_STATE = {"ok": JournalState.SENT, "drop_reply_after_accept": JournalState.SENT,
                  "html_error": JournalState.SENT, "truncated_json": JournalState.SENT,
                  "http_500": JournalState.NOT_FOUND, "rate_limited": JournalState.FAILED,
                  "session_expired": JournalState.FAILED}


# Faults delay every reply: twice the usual patience, polled twice as often.
wait_for = partial(polling.wait_for, timeout=10.0, interval=0.01)


@pytest.fixture
def sandbox():
    server = NorenSandbox(redirect_port=free_port(), step_interval=0.05, seed=11, rate_limits=False).start()
    yield server
    server.stop()


def logged_in_broker(sandbox, tmp_path, **timing):
    info = sandbox.info()
    store_sandbox_secrets(info)
    config = sandbox_config(info)
    config.update(login_timeout=5.0, http_timeout=5.0, **timing)
    broker = create_broker(config, opener=follow_login_page, cache_dir=tmp_path / "scrips")
    broker.login()
    broker.instruments()
    return broker


# --- orders ---------------------------------------------------------------------------------------
def on_tick(price: int, tick_size: int) -> int:
    return max(price // tick_size * tick_size, tick_size)


def stocks_and_near_calls(broker) -> tuple[list, list, dict]:
    """The equities, the six NIFTY calls of the nearest expiry closest to the index, and their quotes."""
    instruments = broker.instruments()
    stocks = [i for i in instruments if i.kind is InstrumentKind.EQUITY]
    nifty = broker.quotes(["NSE:26000"])[0].ltp
    calls = sorted((i for i in instruments if i.kind is InstrumentKind.OPTION and i.underlying == "NIFTY"),
                   key=lambda i: (i.expiry, abs(i.strike - nifty)))[:6]
    return stocks, calls, {t.key: t for t in broker.quotes([i.key for i in stocks + calls])}


def order_mix(broker, rng: random.Random) -> list[OrderRequest]:
    """ORDERS valid orders: MIS equity buys and sells (resting and marketable), NIFTY option buys."""
    stocks, calls, quotes = stocks_and_near_calls(broker)
    requests_ = []
    for n in range(ORDERS):
        if n % 10 == 9:  # one in ten: an option buy resting 20% under the market
            inst = rng.choice(calls)
            side, quantity, product = Side.BUY, inst.lot_size, Product.NRML
            price = on_tick(quotes[inst.key].ltp * 80 // 100, inst.tick_size)
        else:
            inst = rng.choice(stocks)
            side, quantity, product = rng.choice((Side.BUY, Side.SELL)), rng.randint(1, 3), Product.MIS
            ltp = quotes[inst.key].ltp
            away = rng.choice((-3, -1, 1))  # percent through (+) or away from (-) the market
            price = on_tick(ltp + side.sign * ltp * away // 100, inst.tick_size)
        requests_.append(OrderRequest(broker.account, inst.key, side, quantity, OrderType.LIMIT, product,
                                      price=price))
    return requests_


async def place_all(service: OrderService, orders: list[OrderRequest], at_once: int) -> list:
    gate = asyncio.Semaphore(at_once)

    async def one(request):
        async with gate:
            return await service.place(request)

    return await asyncio.gather(*(one(r) for r in orders))


def test_500_orders_under_28_percent_rest_faults_land_exactly_once(sandbox, tmp_path, qapp):
    broker = logged_in_broker(sandbox, tmp_path)
    broker.http.limits = RateLimits({"orders": (1000, None), "other": (1000, None)})
    orders = order_mix(broker, random.Random(3))
    market = MarketStore(InstrumentCatalog(broker.instruments()))
    journal = OrderJournal(tmp_path / "home" / "orders.sqlite3")
    runner = BackgroundRunner(workers=12)
    service = OrderService(broker, market, journal, runner, MessageLog())
    sandbox.set_faults(REST_FAULT_PROFILE, seed=5)

    started = time.monotonic()
    try:
        results = asyncio.run(place_all(service, orders, at_once=12))
    finally:
        runner.shutdown()
    elapsed = time.monotonic() - started
    injector = sandbox.faults
    sandbox.set_faults(None)

    # Every intent went out as exactly one slice and settled in a known state.
    assert all(len(outcomes) == 1 for outcomes in results)
    outcomes = {o.tag: o for outcomes in results for o in outcomes}
    assert set(outcomes) == {r.tag for r in orders}
    entries = {e.tag: e for e in journal.entries(limit=10 * ORDERS)}
    assert set(entries) == set(outcomes)
    assert journal.unresolved() == []
    assert {e.state for e in entries.values()} <= SETTLED

    # Nothing was sent twice: the sandbox received each tag's PlaceOrder once at most.
    received = sandbox.place_requests
    assert all(len(faults) == 1 for faults in received.values()), \
        {tag: faults for tag, faults in received.items() if len(faults) != 1}
    assert set(received) <= set(outcomes)

    # The exchange holds exactly the intended orders: one per SENT intent, with the journal's id.
    at_exchange = Counter(o.tag for o in sandbox.exchange.orders(sandbox.account))
    assert all(n == 1 for n in at_exchange.values()), {t: n for t, n in at_exchange.items() if n > 1}
    sent = {tag for tag, e in entries.items() if e.state is JournalState.SENT}
    assert set(at_exchange) == sent
    by_tag = {o.tag: o.order_id for o in sandbox.exchange.orders(sandbox.account)}
    assert all(entries[tag].order_id == by_tag[tag] for tag in sent)
    assert all(outcomes[tag].order_id == by_tag[tag] for tag in sent)

    # Each state is the right one for the fault that order met.
    for tag, faults in received.items():
        assert entries[tag].state is EXPECTED_STATE[faults[0]], (tag, faults, entries[tag])
    never_arrived = set(outcomes) - set(received)
    assert never_arrived == set()  # the sandbox saw every order (no client-side failure before sending)

    # The faults really were injected, at 20% or more of the PlaceOrder requests, every kind of them.
    place_faults = Counter(faults[0] for faults in received.values())
    rate = 1 - place_faults["ok"] / len(received)
    assert rate >= 0.20, place_faults
    assert all(place_faults[kind] >= 5 for kind in REST_FAULTS), place_faults
    reconciled = sum(1 for tag in sent if received[tag][0] in PROCESSED_FAULTS)
    log.warning("Flattrade fault suite: %d orders in %.1f s; PlaceOrder faults %.1f%% %s; all %d REST requests "
                "%.1f%% faulted; %d lost replies reconciled as SENT; states %s", len(orders), elapsed, 100 * rate,
                dict(place_faults), injector.rest_requests, 100 * injector.measured_rate(), reconciled,
                dict(Counter(e.state.value for e in entries.values())))
    assert reconciled == sum(place_faults[kind] for kind in PROCESSED_FAULTS)


# --- modify and cancel ----------------------------------------------------------------------------
CHANGED_ORDERS = 300  # resting orders, each modified and/or cancelled under faults (450 changes)
CHANGE_ROUTES = ("ModifyOrder", "CancelOrder")
ROUTE_OF = {"modify": "ModifyOrder", "cancel": "CancelOrder"}


class WitnessSandbox(NorenSandbox):
    """The Noren sandbox, also logging each ModifyOrder and CancelOrder as it arrives, under its
    order number, with the fault it met (the PlaceOrder log is the sandbox's own)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.change_requests: dict[tuple[str, str], list[str]] = {}

    def note_request(self, route, body, fault) -> None:
        super().note_request(route, body, fault)
        if route not in CHANGE_ROUTES:
            return
        data = json.loads((parse_qs(body, keep_blank_values=True).get("jData") or ["{}"])[0])
        with self._lock:
            self.change_requests.setdefault((str(data.get("norenordno") or ""), route), []).append(fault.kind or "ok")


@pytest.fixture
def witness_sandbox():
    server = WitnessSandbox(CountingExchange(seed=11), redirect_port=free_port(), step_interval=0.05, seed=11,
                            rate_limits=False).start()
    yield server
    server.stop()


def resting_orders(broker, count: int) -> list[OrderRequest]:
    """MIS equity buys 3% under and sells 3% over the market, one in five a NIFTY option buy 20% under."""
    rng = random.Random(8)
    stocks, calls, quotes = stocks_and_near_calls(broker)
    orders = []
    for n in range(count):
        if n % 5 == 4:
            inst = rng.choice(calls)
            side, quantity, product = Side.BUY, inst.lot_size, Product.NRML
            price = on_tick(quotes[inst.key].ltp * 80 // 100, inst.tick_size)
        else:
            inst = rng.choice(stocks)
            side, quantity, product = rng.choice((Side.BUY, Side.SELL)), rng.randint(1, 3), Product.MIS
            ltp = quotes[inst.key].ltp
            price = on_tick(ltp - side.sign * ltp * 3 // 100, inst.tick_size)
        orders.append(OrderRequest(broker.account, inst.key, side, quantity, OrderType.LIMIT, product, price=price))
    return orders


def test_modifies_and_cancels_under_faults_settle_in_session_and_are_never_resent(witness_sandbox, tmp_path, qapp):
    sandbox = witness_sandbox
    broker = logged_in_broker(sandbox, tmp_path)
    broker.http.limits = RateLimits({"orders": (1000, None), "other": (1000, None)})
    market = MarketStore(InstrumentCatalog(broker.instruments()))
    journal = OrderJournal(tmp_path / "home" / "orders.sqlite3")
    runner = BackgroundRunner(workers=12)
    service = OrderService(broker, market, journal, runner, MessageLog())
    states: dict[str, list[str]] = {}
    service.intent_state_changed.connect(lambda tag, state: states.setdefault(tag, []).append(state))
    try:
        # Resting orders placed without faults; the terminal's view of them is the broker's order book.
        placed = asyncio.run(place_all(service, resting_orders(broker, CHANGED_ORDERS), at_once=12))
        assert all(o.accepted for outcomes in placed for o in outcomes)
        book = {o.order_id: o for o in broker.order_book()}
        orders = [book[o.order_id] for outcomes in placed for o in outcomes if book[o.order_id].is_open]
        quotes = {t.key: t for t in broker.quotes(sorted({o.instrument_key for o in orders}))}
        plan = plan_changes(orders, quotes, {o.instrument_key: broker.instrument(o.instrument_key) for o in orders})

        sandbox.set_faults(REST_FAULT_PROFILE, seed=17)
        started = time.monotonic()
        took = asyncio.run(run_changes(service, plan, at_once=12))
        elapsed = time.monotonic() - started
        injector = sandbox.faults
        sandbox.set_faults(None)
        left_open = len(journal.unresolved())  # every look-up failed: settled on the next start
        if left_open:
            asyncio.run(service.reconcile_journal())
    finally:
        runner.shutdown()

    # The sandbox received each modify and cancel once: nothing was resent, not even after a refusal.
    received = sandbox.change_requests
    assert all(len(faults) == 1 for faults in received.values()), \
        {key: faults for key, faults in received.items() if len(faults) != 1}
    checked = {tag for tag, seen in states.items() if "unknown, checking" in seen}
    figures = check_changes(journal, sandbox.exchange, sandbox.account, plan, took, checked)

    # Each change's journal state is the one the fault its request met calls for.
    rows = {(e.order_id, e.action): e for e in journal.entries(limit=10_000) if e.action in ("modify", "cancel")}
    for (order_id, action), entry in rows.items():
        faults = received.get((order_id, ROUTE_OF[action]))
        if faults is None:  # failed before it was sent: the order's history could not be read
            assert entry.state is JournalState.FAILED, entry
        elif faults[0] in ("rate_limited", "session_expired"):
            assert entry.state is JournalState.FAILED, (faults, entry)
        elif faults[0] == "http_500":  # refused before the order system, so it shows nowhere
            assert entry.state is JournalState.NOT_FOUND and entry.tag in checked, (faults, entry)
        elif faults[0] in PROCESSED_FAULTS:  # carried out or refused by the exchange: the book says which
            assert entry.state in (JournalState.SENT, JournalState.NOT_FOUND) and entry.tag in checked, \
                (faults, entry)
        else:
            assert entry.state in (JournalState.SENT, JournalState.REJECTED) and entry.tag not in checked, \
                (faults, entry)
    # The UI heard "unknown, checking" for each of those, and then a settled word.
    assert all(states[tag][-1] in ("sent", "not placed") for tag in checked)

    change_faults = Counter(faults[0] for faults in received.values())
    rate = 1 - change_faults["ok"] / sum(change_faults.values())
    assert rate >= 0.20 and injector.measured_rate() >= 0.20, (change_faults, injector.measured_rate())
    assert all(change_faults[kind] >= 2 for kind in REST_FAULTS), change_faults
    # About a fifth of the changes met a reply that says nothing; each outcome of checking happened.
    assert len(checked) >= 0.10 * len(took), len(checked)
    for outcome in ("SENT: cancelled (found)", "SENT: modified (found)", "NOT_FOUND: still open",
                    "NOT_FOUND: already filled"):
        assert any(outcome in name for name in figures), (outcome, figures)
    log.warning("Flattrade modify/cancel fault suite: %d orders, %d changes (%d modify, %d cancel) in %.1f s; "
                "change requests %d, faulted %.1f%% %s; all %d REST requests %.1f%% faulted; %d went "
                "'unknown, checking'; settled at restart %d; outcomes %s", len(plan), len(took),
                sum(a == "modify" for _, a in took), sum(a == "cancel" for _, a in took), elapsed,
                sum(change_faults.values()), 100 * rate, dict(change_faults), injector.rest_requests,
                100 * injector.measured_rate(), len(checked), left_open, dict(sorted(figures.items())))


# --- websocket ------------------------------------------------------------------------------------
class ConnectionSink:
    """Records each tick with the number of the connection it came on (read on the feed thread)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.feed = None
        self.keys_by_connection: dict[int, set[str]] = {}
        self.orders, self.states = [], []

    def on_ticks(self, ticks):
        connection = self.feed.connections if self.feed is not None else 0
        with self.lock:
            self.keys_by_connection.setdefault(connection, set()).update(t.key for t in ticks)

    def on_order_update(self, order):
        with self.lock:
            self.orders.append(order)

    def on_trade(self, trade):
        pass

    def on_feed_state(self, state, message=""):
        with self.lock:
            self.states.append(state)

    def keys_on(self, connection: int) -> set[str]:
        with self.lock:
            return set(self.keys_by_connection.get(connection, ()))


def watch_list(broker) -> list[str]:
    nifty = broker.quotes(["NSE:26000"])[0].ltp
    calls = sorted((i for i in broker.instruments() if i.kind is InstrumentKind.OPTION and i.underlying == "NIFTY"),
                   key=lambda i: (i.expiry, abs(i.strike - nifty)))
    return ["NSE:26000", "NSE:2885", "NSE:1333", calls[0].key, calls[1].key]


def connect(broker, keys) -> ConnectionSink:
    sink = ConnectionSink()
    broker.subscribe(keys)
    broker.connect_feed(sink)
    sink.feed = broker.feed
    wait_for(lambda: broker.feed.connected and sink.keys_on(1) == set(keys))
    return sink


def test_100_forced_websocket_drops_restore_every_subscription(sandbox, tmp_path):
    broker = logged_in_broker(sandbox, tmp_path, reconnect_initial_delay=0.02, reconnect_max_delay=0.1)
    keys = watch_list(broker)
    sink = connect(broker, keys)
    try:
        for drop in range(1, 101):
            assert sandbox.drop_websockets() == 1
            wait_for(lambda: broker.feed.connections == drop + 1 and broker.feed.connected)
            # Every subscribed instrument ticks on the new connection without being asked again.
            wait_for(lambda: sink.keys_on(drop + 1) == set(keys))
        assert broker.feed.subscriptions() == (set(keys), set(keys))
        assert sandbox.session_count() == 1

        def resubscribed() -> bool:
            # Quotes ("t") go before depth ("d"): the ticks can arrive before the sandbox has read
            # the depth request of the last connection, so wait for its state, then assert it.
            with sandbox._lock:
                [session] = sandbox._sessions
                return bool(session.orders) and session.touchline == set(keys) == session.depth

        wait_for(resubscribed)
        assert sink.states.count(FeedState.CONNECTED) == 101
    finally:
        broker.disconnect_feed()


def test_stalled_and_dropped_websockets_recover_and_miss_no_order_update(sandbox, tmp_path):
    broker = logged_in_broker(sandbox, tmp_path, reconnect_initial_delay=0.02, reconnect_max_delay=0.1,
                              heartbeat_interval=0.1, dead_link_after=0.5)
    keys = watch_list(broker)
    sink = connect(broker, keys)
    try:
        # A stall: open but silent. The watchdog must notice, reconnect and resubscribe.
        assert sandbox.stall_websockets() == 1
        stock = broker.instrument("NSE:2885")
        ask = broker.quotes([stock.key])[0].best_ask
        request = OrderRequest(broker.account, stock.key, Side.BUY, 1, OrderType.LIMIT, Product.MIS,
                               price=on_tick(ask + ask // 100, stock.tick_size))
        order_id = broker.place_order(request)  # fills while the link is silent
        wait_for(lambda: broker.feed.connections == 2 and sink.keys_on(2) == set(keys))
        # The fill's update was never sent on the stalled link; the catch-up after reconnect brings it.
        wait_for(lambda: any(o.order_id == order_id and o.status is OrderStatus.COMPLETE for o in sink.orders))

        # Random drops and stalls from the fault profile, until each kind has struck at least twice
        # and they cost four more connections (two faults can land on one link before it is rebuilt).
        sandbox.set_faults("ws_drop=0.03,ws_stall=0.03", seed=9)
        wait_for(lambda: sandbox.faults.counts["ws_drop"] >= 2 and sandbox.faults.counts["ws_stall"] >= 2
                 and broker.feed.connections >= 6, timeout=30)
        sandbox.set_faults(None)
        last = wait_for(lambda: broker.feed.connected and broker.feed.connections, timeout=5)
        wait_for(lambda: sink.keys_on(broker.feed.connections) == set(keys))
        assert last >= 6
        assert sandbox.session_count() == 1
    finally:
        broker.disconnect_feed()
