"""Angel One under injected faults: exactly-once orders, and a feed that always comes back.

The real AngelOneBroker and the real OrderService (journal on disk, background runner) place
hundreds of orders against the SmartAPI sandbox while it loses replies after accepting orders,
answers 5xx and HTML pages, cuts JSON short, rate-limits, kills the session token (AG8001),
sends empty bodies and delays every reply. Then the exchange and the journal are compared tag
by tag. Only the broker's servers are simulated; everything on the terminal's side is real.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter, defaultdict

import pytest

from terminal.brokers.angelone import AngelOneBroker, AngelOneConfig, sandbox_config, store_sandbox_secrets
from terminal.brokers.angelone.decoder import LTP, QUOTE, SNAP_QUOTE
from terminal.brokers.angelone.http import SmartApiHttp
from terminal.brokers.base import FeedState
from terminal.brokers.ratelimit import RateLimits
from terminal.domain import OrderRequest, OrderType, Product, Side
from terminal.domain.catalog import InstrumentCatalog
from terminal.services.background import BackgroundRunner
from terminal.services.market_store import MarketStore
from terminal.services.messages import MessageLog
from terminal.services.order_service import OrderService
from terminal.sim.exchange import SimulatedExchange
from terminal.sim.servers.smartapi import SmartApiSandbox
from terminal.sim.servers.smartapi_faults import (
    REST_FAULTS, FaultInjector, FaultSyntaxError, parse_faults,
)
from terminal.storage.journal import JournalState, OrderJournal

ORDERS = 520
CONCURRENT = 8  # orders in flight at once (the runner has 4 threads, like the terminal's)
# 27% of REST calls hit by a fault, every kind of fault the issue names.
PROFILE = ("drop_reply_after_accept=0.08,http_500=0.04,html_error=0.03,truncated_json=0.03,rate_limited=0.03,"
           "token_expired=0.03,empty_body=0.03,delay_ms=0-120")
SETTLED = {JournalState.SENT, JournalState.REJECTED, JournalState.FAILED, JournalState.NOT_FOUND}
RELIANCE, SBIN = "NSE:2885", "NSE:3045"


class Sink:
    """A FeedSink that keeps everything (thread-safe enough for appends) with a polling wait."""

    def __init__(self):
        self.ticks, self.orders, self.trades, self.states = [], [], [], []

    def on_ticks(self, ticks):
        self.ticks.extend(ticks)

    def on_order_update(self, order):
        self.orders.append(order)

    def on_trade(self, trade):
        self.trades.append(trade)

    def on_feed_state(self, state, message=""):
        self.states.append((state, message))

    @staticmethod
    def wait(predicate, timeout: float = 8.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.01)
        return predicate()


@pytest.fixture
def sandbox():
    box = SmartApiSandbox(SimulatedExchange(seed=11, strikes_each_side=4), enforce_rate_limits=False,
                          client_code="F" + uuid.uuid4().hex[:7].upper(), step_interval=0.05)
    box.start()
    yield box
    box.stop()


def make_broker(box: SmartApiSandbox, tmp_path, **settings) -> AngelOneBroker:
    """The production adapter, pointed at the sandbox; client-side rate limits off (tested apart)."""
    store_sandbox_secrets(box.info)
    config = sandbox_config(box.info)
    config.update(ping_interval=0.3, stall_timeout=1.5, reconnect_delay=0.05, reconnect_max_delay=0.5)
    config.update(settings)
    config = AngelOneConfig.from_dict(config)
    http = SmartApiHttp(config.rest_url, config.api_key, limits=RateLimits({}), timeout=5.0)
    broker = AngelOneBroker(config, http=http, cache_dir=tmp_path / "cache")
    broker.login()
    return broker


def order_requests(broker: AngelOneBroker, catalog: InstrumentCatalog, count: int) -> list[OrderRequest]:
    """A mix the trader would send: marketable and resting limit orders, equities and options, both sides."""
    expiry = catalog.expiries("NIFTY")[0]
    chain = catalog.option_chain("NIFTY", expiry)
    instruments = [catalog.get(RELIANCE), catalog.get(SBIN)] + [row[1] for row in chain[:3]] + [row[2] for row in chain[-3:]]
    quotes = {q.key: q for q in broker.quotes([i.key for i in instruments])}
    requests = []
    for n in range(count):
        inst = instruments[n % len(instruments)]
        quote = quotes[inst.key]
        side = Side.BUY if n % 3 else Side.SELL
        if n % 2:  # marketable: fills at once
            price = (quote.best_ask or quote.ltp) if side is Side.BUY else (quote.best_bid or quote.ltp)
        else:  # resting a few ticks away from the touch
            step = inst.tick_size * 4
            price = max(quote.ltp - step, inst.tick_size) if side is Side.BUY else quote.ltp + step
        product = Product.NRML if inst.is_derivative else Product.MIS
        requests.append(OrderRequest(broker.account, inst.key, side, inst.lot_size, OrderType.LIMIT, product,
                                     price=price))
    return requests


# --- the fault profile ---------------------------------------------------------------------------------
def test_the_fault_syntax_is_read_and_checked():
    profile = parse_faults(" drop_reply_after_accept=0.1, http_500=0.05 ,delay_ms=0-300,ws_drop=0.01,ws_stall=0.02")
    assert profile.rest == {"drop_reply_after_accept": 0.1, "http_500": 0.05}
    assert profile.delay_ms == (0, 300) and profile.ws_drop == 0.01 and profile.ws_stall == 0.02
    assert abs(profile.rest_rate - 0.15) < 1e-9
    assert parse_faults(str(profile)) == profile
    assert parse_faults("delay_ms=40").delay_ms == (40, 40)
    for bad, says in (("http_500", "name=value"), ("http_500=2", "between 0 and 1"), ("oops=0.1", "unknown fault"),
                      ("delay_ms=300-10", "A <= B"), ("delay_ms=x", "milliseconds"),
                      ("http_500=0.6,empty_body=0.6", "more than 1")):
        with pytest.raises(FaultSyntaxError, match=says):
            parse_faults(bad)


def test_a_seeded_injector_repeats_itself_and_keeps_to_its_rates():
    profile = parse_faults(PROFILE)
    runs = []
    for _ in range(2):
        injector = FaultInjector(profile, seed=5)
        runs.append([injector.rest("placeOrder") for _ in range(4000)])
    assert runs[0] == runs[1]
    kinds = Counter(f.kind for f in runs[0] if f.kind)
    assert set(kinds) == set(REST_FAULTS)
    assert 0.24 < sum(kinds.values()) / 4000 < 0.30
    for fault in runs[0]:
        assert fault.carried_out if fault.kind in ("drop_reply_after_accept", "truncated_json", "empty_body") else True
        assert not fault.carried_out if fault.kind in ("rate_limited", "token_expired") else True
        assert 0 <= fault.delay_s <= 0.12
    assert {f.carried_out for f in runs[0] if f.kind == "http_500"} == {True, False}
    # AG8001 never on the token routes, and the login is never faulted at all
    injector = FaultInjector(parse_faults("token_expired=1"), seed=1)
    assert not injector.rest("generateTokens").kind and not injector.rest("loginByPassword").kind


# --- exactly once under faults ---------------------------------------------------------------------------
def test_500_orders_under_faults_are_placed_exactly_once(sandbox, tmp_path, run_async, capsys):
    broker = make_broker(sandbox, tmp_path)
    catalog = InstrumentCatalog(broker.instruments())
    requests = order_requests(broker, catalog, ORDERS)
    journal = OrderJournal(tmp_path / "journal.sqlite3")
    messages = MessageLog()
    service = OrderService(broker, MarketStore(catalog), journal, BackgroundRunner(), messages)
    injector = sandbox.set_faults(PROFILE, seed=20240607)
    started = time.monotonic()

    async def place_all():
        slots = asyncio.Semaphore(CONCURRENT)

        async def place(request):
            async with slots:
                return await service.place(request)

        placed = await asyncio.gather(*(place(r) for r in requests))
        return [outcome for slices in placed for outcome in slices]

    outcomes = run_async(place_all(), timeout_ms=240_000)
    placed_s = time.monotonic() - started
    # Lookups that failed five times in a row are settled on the next start, as in the terminal.
    left_open = [e.tag for e in journal.unresolved(broker.account)]
    if left_open:
        run_async(service.reconcile_journal(), timeout_ms=60_000)
    sandbox.set_faults(None)

    tags = [r.tag for r in requests]
    assert len(set(tags)) == ORDERS and len(outcomes) == ORDERS
    at_exchange = defaultdict(list)
    for order in sandbox.exchange.orders(sandbox.account):
        at_exchange[order.tag].append(order.order_id)
    entries = {tag: journal.entry(tag) for tag in tags}

    # every intent ends in a known state
    states = Counter(e.state for e in entries.values())
    assert set(states) <= SETTLED, states
    # the sandbox holds exactly the intended orders: nothing foreign, nothing twice
    assert set(at_exchange) <= set(tags)
    assert all(len(ids) == 1 for ids in at_exchange.values()), {t: i for t, i in at_exchange.items() if len(i) > 1}
    for tag, entry in entries.items():
        if entry.state is JournalState.SENT:
            assert at_exchange[tag] == [entry.order_id], (tag, entry)
        else:  # refused, failed before the order system, or reconciled as never placed
            assert tag not in at_exchange, (tag, entry)
    # nothing reached the order system twice; a request was only ever repeated after AG8001
    calls = defaultdict(list)
    for tag, what, carried_out in sandbox.order_calls:
        calls[tag].append((what, carried_out))
    for tag, history in calls.items():
        assert sum(carried for _, carried in history) <= 1, (tag, history)
        assert all(what in ("token_expired", "AG8001") for what, _ in history[:-1]), (tag, history)

    # the faults really happened, at the rate promised
    on_orders = [what for what, _ in (c for h in calls.values() for c in h)]
    faulted = sum(what in REST_FAULTS for what in on_orders)
    rate = injector.injected.total() / injector.calls
    assert rate >= 0.2 and faulted / len(on_orders) >= 0.2
    assert set(injector.injected) >= set(REST_FAULTS)
    lost_after_accept = sum(1 for h in calls.values() for what, carried in h
                            if carried and what in ("drop_reply_after_accept", "truncated_json", "empty_body",
                                                    "http_500", "html_error"))
    found = sum(1 for e in entries.values() if e.state is JournalState.SENT and e.detail == "found at the broker by tag")
    assert found >= lost_after_accept > 30  # every lost reply of an accepted order was found by its tag
    with capsys.disabled():
        print(f"\nangelone faults: {ORDERS} orders in {placed_s:.1f} s; REST calls {injector.calls}, faulted "
              f"{rate:.1%} ({dict(injector.injected)}); placeOrder requests {len(on_orders)}, faulted "
              f"{faulted / len(on_orders):.1%}; journal {dict((s.value, n) for s, n in states.items())}; "
              f"found by tag {found}; settled at restart {len(left_open)}")


# --- the feed comes back -------------------------------------------------------------------------------
def test_100_forced_drops_restore_every_subscription(sandbox, tmp_path):
    broker = make_broker(sandbox, tmp_path)
    sink = Sink()
    wanted = {RELIANCE: SNAP_QUOTE, SBIN: LTP}
    catalog = InstrumentCatalog(broker.instruments())
    option = catalog.option_chain("NIFTY", catalog.expiries("NIFTY")[0])[2][1].key
    wanted[option] = QUOTE
    broker.connect_feed(sink)
    for key, mode in wanted.items():
        broker.subscribe([key], mode=mode)
    assert Sink.wait(lambda: sandbox.feed_subscriptions() == [wanted])
    for n in range(100):
        seen = len(sink.ticks)
        assert sandbox.drop_feed_connections() == 1, n
        if n % 10 == 0:
            assert sandbox.drop_order_connections() == 1, n
        assert Sink.wait(lambda: sandbox.feed_subscriptions() == [wanted]), (n, sandbox.feed_subscriptions())
        assert Sink.wait(lambda: {t.key for t in sink.ticks[seen:]} >= set(wanted)), n
    assert broker.feed.sockets[0].connections == 101
    assert Sink.wait(lambda: broker.order_socket.connections == 11 and broker.order_socket.resyncs == 10)
    assert sum(state is FeedState.RECONNECTING for state, _ in sink.states) >= 100
    broker.disconnect_feed()


def test_stalled_sockets_are_noticed_and_rebuilt(sandbox, tmp_path):
    broker = make_broker(sandbox, tmp_path)
    sink = Sink()
    broker.subscribe([RELIANCE])
    broker.connect_feed(sink)
    assert Sink.wait(lambda: bool(sink.ticks) and broker.order_socket.connections == 1)
    assert sandbox.stall_connections() == 2  # open, silent: no ticks, no pongs, no order updates
    request = OrderRequest(broker.account, RELIANCE, Side.BUY, 2, OrderType.MARKET, Product.MIS)
    order_id = broker.place_order(request)  # its updates go into the stalled socket and are lost
    seen = len(sink.ticks)
    # the watchdogs rebuild both sockets; the order socket re-reads the book and reports the fill
    assert Sink.wait(lambda: len(sink.ticks) > seen + 2, timeout=10)
    assert broker.feed.sockets[0].connections == 2
    assert Sink.wait(lambda: broker.order_socket.connections == 2 and broker.order_socket.resyncs == 1, timeout=10)
    assert Sink.wait(lambda: sum(t.quantity for t in sink.trades if t.order_id == order_id) == 2)
    broker.disconnect_feed()


def test_the_feed_survives_random_drops_and_stalls(sandbox, tmp_path):
    broker = make_broker(sandbox, tmp_path)
    sink = Sink()
    broker.subscribe([RELIANCE, SBIN])
    broker.connect_feed(sink)
    assert Sink.wait(lambda: {t.key for t in sink.ticks} >= {RELIANCE, SBIN})
    injector = sandbox.set_faults("ws_drop=0.6,ws_stall=0.3", seed=3)
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline and injector.injected.total() < 6:
        time.sleep(0.1)
    sandbox.set_faults(None)
    assert injector.injected["ws_drop"] >= 1 and injector.injected["ws_stall"] >= 1, injector.injected
    seen = len(sink.ticks)
    assert Sink.wait(lambda: {t.key for t in sink.ticks[seen:]} >= {RELIANCE, SBIN}, timeout=10)
    assert Sink.wait(lambda: sandbox.feed_subscriptions() == [{RELIANCE: SNAP_QUOTE, SBIN: SNAP_QUOTE}])
    broker.disconnect_feed()
