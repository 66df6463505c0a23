"""Order latency: a key press to the order at the broker, and an iron condor placed hedge first.

Run: ``QT_QPA_PLATFORM=offscreen python -m bench.bench_orders``. ``run()`` returns the rows.

1. F1 then Enter, sent with ``QTest.keyClick`` to the real main window over the real context,
   to the moment the broker's ``place_order`` is entered (the paper broker, wrapped at the edge
   to note the time). Everything between runs for real: the window's shortcut, the order entry
   panel, validation, the journal's intent row (SQLite file), the thread pool hop.
   Reference: the bare hop the order path has to make anyway, ``spawn`` of a coroutine that
   awaits ``BackgroundRunner.run`` of a function that notes the time.
2. A four-leg NIFTY iron condor through the real ``OrderService``, hedge first (both buys in
   parallel, then both sells in parallel), against one sequential round trip per leg, with a
   modelled network round trip of 20 ms on every broker order call. Each condor is closed the
   same way (closing buys first), and both the open and the close are timed.
3. On each loopback sandbox (Noren for the Flattrade adapter, SmartAPI for the Angel One adapter):
   F1 prefill, the price moved to a resting limit, then Enter sent with ``QTest.keyClick`` to the
   real order entry of the real main window, to the moment the sandbox's own HTTP handler thread
   reads the request line of the PlaceOrder / placeOrder request off its socket (the handler class
   is wrapped to note ``time.perf_counter``; same process, same clock). Reference: the same request
   (the bytes the sandbox just received) replayed with a bare ``requests.post`` from the terminal's
   pool, timed from the UI thread to the same server-side stamp: the transport floor.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, fmt, offscreen, percentile, row, scratch_home  # noqa: E402

offscreen()

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from terminal.brokers.paper.broker import PaperBroker  # noqa: E402
from terminal.domain import OrderRequest, OrderType, Product, Side  # noqa: E402
from terminal.sim.exchange import SimulatedExchange  # noqa: E402
from terminal.storage.memory_keyring import memory_keyring_installed  # noqa: E402
from tests.support.network import free_port  # noqa: E402  (test code; the product never imports it)

RELIANCE = "NSE:2885"
ROUND_TRIP_S = 0.020  # the modelled network round trip of one REST order call


@dataclass
class Scale:
    key_presses: int = 40  # alternately F1+Enter and F2+Enter, so the position stays flat
    condors: int = 8  # per design; each is opened and closed (two timed baskets)
    hop_samples: int = 40
    sandbox_orders: int = 60  # per sandbox, after one unmeasured warm-up order


FULL = Scale()
SMOKE = Scale(key_presses=2, condors=1, hop_samples=3, sandbox_orders=2)


class EdgeBroker(PaperBroker):
    """The paper broker, with a clock and an optional network round trip at the edge of the machine."""

    def __init__(self, exchange: SimulatedExchange, cash: int = 10_00_00_000_00):
        super().__init__(exchange, cash=cash)  # ₹10 crore: condors that rest unfilled must not exhaust margin
        self.round_trip_s = 0.0
        self.arrivals: list[float] = []  # perf_counter when each place_order call arrived
        self._lock = threading.Lock()

    def place_order(self, request: OrderRequest) -> str:
        with self._lock:
            self.arrivals.append(time.perf_counter())
        if self.round_trip_s:
            time.sleep(self.round_trip_s)  # request out, reply back
        return super().place_order(request)


async def wait_for(predicate, timeout_s: float = 5.0) -> None:
    deadline = time.perf_counter() + timeout_s
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError("the benchmark waited too long")
        await asyncio.sleep(0.001)


async def key_press_latencies(window, context, broker: EdgeBroker, count: int) -> tuple[list[float], list[float]]:
    """(F1/F2 press to place_order ms, Enter press to place_order ms) for ``count`` orders."""
    watch = window.panels["market_watch"]
    await wait_for(lambda: RELIANCE in watch.keys() and context.market.tick(RELIANCE) is not None, 10.0)
    from_hotkey, from_enter = [], []
    for n in range(count):
        watch.select_key(RELIANCE)
        watch.table.setFocus()
        await asyncio.sleep(0.03)  # let the feed and the previous order settle
        before = len(broker.arrivals)
        pressed = time.perf_counter()
        QTest.keyClick(watch.table, Qt.Key.Key_F1 if n % 2 == 0 else Qt.Key.Key_F2)
        focus = QApplication.focusWidget()
        if focus is None or not window.panels["order_entry"].isAncestorOf(focus):
            raise RuntimeError("F1/F2 did not put the focus in the order entry")
        entered = time.perf_counter()
        QTest.keyClick(focus, Qt.Key.Key_Return)
        await wait_for(lambda: len(broker.arrivals) > before)
        arrived = broker.arrivals[before]
        from_hotkey.append((arrived - pressed) * 1000.0)
        from_enter.append((arrived - entered) * 1000.0)
    return from_hotkey, from_enter


async def bare_hops(runner, count: int) -> list[float]:
    """The floor: spawn a coroutine that awaits a pool-thread call; ms until that call starts."""
    from terminal.services.background import spawn

    hops = []
    for _ in range(count):
        arrived: list[float] = []
        start = time.perf_counter()
        spawn(runner.run(lambda: arrived.append(time.perf_counter())))
        await wait_for(lambda: bool(arrived))
        hops.append((arrived[0] - start) * 1000.0)
        await asyncio.sleep(0.005)
    return hops


def condor_requests(context, broker: EdgeBroker, opening: bool) -> list[OrderRequest]:
    """A NIFTY iron condor (1 lot, nearest expiry, shorts one strike from ATM, wings two), as
    marketable limit orders; ``opening=False`` gives the orders that close it."""
    catalog = context.market.catalog
    expiry = catalog.expiries("NIFTY")[0]
    chain = catalog.option_chain("NIFTY", expiry)
    index = broker.quotes(["NSE:26000"])[0].ltp
    atm = min(range(len(chain)), key=lambda i: abs(chain[i][0] - index))
    legs = [(Side.BUY, chain[atm - 2][2]), (Side.SELL, chain[atm - 1][2]),
            (Side.SELL, chain[atm + 1][1]), (Side.BUY, chain[atm + 2][1])]
    requests = []
    for side, option in legs:
        if not opening:
            side = Side.SELL if side is Side.BUY else Side.BUY
        quote = broker.quotes([option.key])[0]
        price = (quote.best_ask if side is Side.BUY else quote.best_bid) or quote.ltp
        requests.append(OrderRequest(broker.account, option.key, side, option.lot_size, OrderType.LIMIT,
                                     Product.NRML, price=price))
    return requests


async def place_hedge_first(orders, requests) -> list:
    """Every buy in parallel, then every sell in parallel (the hedges are in before the shorts)."""
    from terminal.analytics.strategies import hedge_first

    ordered = hedge_first(requests)
    buys = [r for r in ordered if r.side is Side.BUY]
    sells = [r for r in ordered if r.side is not Side.BUY]
    outcomes = []
    for group in (buys, sells):
        for result in await asyncio.gather(*(orders.place(r) for r in group)):
            outcomes += result
    return outcomes


async def place_one_by_one(orders, requests) -> list:
    from terminal.analytics.strategies import hedge_first

    outcomes = []
    for request in hedge_first(requests):
        outcomes += await orders.place(request)
    return outcomes


async def condor_times(context, broker: EdgeBroker, count: int) -> tuple[list[float], list[float], list[str]]:
    keys = {r.instrument_key for opening in (True, False) for r in condor_requests(context, broker, opening)}
    context.session.subscribe(sorted(keys))  # live quotes for the legs, as the option chain would have
    await asyncio.sleep(0.5)
    broker.round_trip_s = ROUND_TRIP_S
    parallel, sequential, problems = [], [], []
    try:
        for _ in range(count):
            for place, times in ((place_hedge_first, parallel), (place_one_by_one, sequential)):
                for opening in (True, False):
                    requests = condor_requests(context, broker, opening)
                    start = time.perf_counter()
                    outcomes = await place(context.orders, requests)
                    times.append((time.perf_counter() - start) * 1000.0)
                    problems += [o.message for o in outcomes if not o.accepted]
                    await asyncio.sleep(0.05)
    finally:
        broker.round_trip_s = 0.0
    return parallel, sequential, problems


# --- the sandboxes: key press to request bytes on the loopback socket ------------------------------------

SANDBOX_PLACE_ROUTES = {"noren": "/PiConnectAPI/PlaceOrder", "smartapi": "/rest/secure/angelbroking/order/v1/placeOrder"}
SANDBOX_LABELS = {"noren": "Noren sandbox (Flattrade adapter)", "smartapi": "SmartAPI sandbox (Angel One adapter)"}
RESTING_PERCENT = 97  # a buy at 97% of the ask rests: far from the touch, well inside the 10% price band
REPLAY_SKIPS = {"host", "content-length", "connection", "accept-encoding"}  # requests sets its own


@dataclass
class Arrival:
    """One order request as the sandbox read it: when its request line came off the socket."""

    at: float  # perf_counter, in the sandbox's handler thread
    headers: dict[str, str]
    body: bytes = b""  # filled in when the handler reads it


class _BodyTap:
    """The handler's rfile, passing everything through; the body read after a stamped request line
    is kept on that request's Arrival, so the reference can send the very same bytes."""

    def __init__(self, inner):
        self.inner = inner
        self.pending: Arrival | None = None

    def read(self, *args):
        data = self.inner.read(*args)
        if self.pending is not None:
            self.pending.body, self.pending = data, None
        return data

    def __getattr__(self, name):
        return getattr(self.inner, name)


class RequestClock:
    """Notes when each request to ``route`` reaches the sandbox: the moment its HTTP handler thread
    has read the request line (the first bytes of the request) off the loopback socket."""

    def __init__(self, route: str):
        self.route = route
        self.arrivals: list[Arrival] = []
        self._lock = threading.Lock()

    def instrument(self, server) -> None:
        """Give ``server`` (a ThreadingHTTPServer) a stamping subclass of its handler class. Call it
        before any client connects: a kept-alive connection stays with the handler it started on."""
        clock = self

        class StampedHandler(server.RequestHandlerClass):
            def setup(self):
                super().setup()
                self.rfile = _BodyTap(self.rfile)

            def parse_request(self):
                read_at = time.perf_counter()  # handle_one_request has just read the request line
                ok = super().parse_request()
                if ok and self.command == "POST" and clock.matches(self.path):
                    arrival = Arrival(read_at, {k: v for k, v in self.headers.items()})
                    self.rfile.pending = arrival
                    with clock._lock:
                        clock.arrivals.append(arrival)
                return ok

        server.RequestHandlerClass = StampedHandler

    def matches(self, path: str) -> bool:
        return re.sub(r"/{2,}", "/", urlsplit(path).path).rstrip("/") == self.route

    def count(self) -> int:
        with self._lock:
            return len(self.arrivals)


def start_sandbox(kind: str):
    """(sandbox, its JSON description, the clock on its order route). Rate limits off: the bench
    sends more orders a minute than the real brokers allow, and their refusal is not latency."""
    clock = RequestClock(SANDBOX_PLACE_ROUTES[kind])
    if kind == "noren":
        from terminal.sim.servers.noren import NorenSandbox

        sandbox = NorenSandbox(redirect_port=free_port(), step_interval=0.05, seed=5, rate_limits=False)
        clock.instrument(sandbox.http_server)  # before start(): no client has connected yet
        sandbox.start()
        return sandbox, sandbox.info(), clock
    from terminal.sim.servers.smartapi import SmartApiSandbox

    sandbox = SmartApiSandbox(seed=5, enforce_rate_limits=False)
    info = sandbox.start()
    clock.instrument(sandbox.http_server)  # no client has connected yet: the terminal is built after this
    return sandbox, info, clock


def order_id_in(kind: str, reply: bytes) -> str:
    """The order number in a sandbox's reply to a place-order request ("" when there is none)."""
    try:
        payload = json.loads(reply)
    except ValueError:
        return ""
    if not isinstance(payload, dict):
        return ""
    if kind == "noren":
        return str(payload.get("norenordno") or "")
    data = payload.get("data")
    return str(data.get("orderid") or "") if isinstance(data, dict) else ""


@dataclass
class SandboxSamples:
    enter_ms: list[float] = field(default_factory=list)  # Enter → request line read by the sandbox
    floor_ms: list[float] = field(default_factory=list)  # bare requests.post from the pool → the same
    problems: list[str] = field(default_factory=list)


async def sandbox_orders(kind: str, window, context, broker, clock: RequestClock, sandbox_url: str,
                         count: int) -> SandboxSamples:
    """``count`` resting RELIANCE buys, each sent with Enter from the order entry after F1, and each
    followed by its reference (the same bytes from a bare session); every order is cancelled."""
    import requests

    from terminal.domain.validation import round_to_tick

    watch, entry = window.panels["market_watch"], window.panels["order_entry"]
    stock = next(i for i in context.market.catalog.search("reliance") if i.is_tradeable)
    if stock.key not in watch.keys():
        watch.add_instrument(stock.key)
    await wait_for(lambda: context.market.tick(stock.key) is not None, 15.0)
    bare = requests.Session()
    await context.runner.run(bare.get, sandbox_url + "/", timeout=10)  # a warm keep-alive, as the adapter's
    samples = SandboxSamples()

    async def cancel(order_id: str) -> None:
        try:
            await context.runner.run(broker.cancel_order, order_id)
        except Exception as exc:  # noted, not fatal: the figure is the placement
            samples.problems.append(f"cancel {order_id}: {exc}")

    for n in range(count + 1):  # the first order warms the adapter's own connections: not counted
        watch.select_key(stock.key)
        watch.table.setFocus()
        await asyncio.sleep(0.02)  # let the feed and the previous cancel settle
        QTest.keyClick(watch.table, Qt.Key.Key_F1)
        focus = QApplication.focusWidget()
        if focus is None or not entry.isAncestorOf(focus):
            raise RuntimeError("F1 did not put the focus in the order entry")
        entry.price.set_paise(round_to_tick(entry.price.paise() * RESTING_PERCENT // 100, stock.tick_size))
        before = clock.count()
        pressed = time.perf_counter()
        QTest.keyClick(focus, Qt.Key.Key_Return)
        await wait_for(lambda: clock.count() > before, 10.0)
        arrival = clock.arrivals[before]
        outcomes = await entry.last_task
        for outcome in outcomes:
            if outcome.accepted:
                await cancel(outcome.order_id)
            else:
                samples.problems.append(f"order not accepted: {outcome.message}")
        before = clock.count()
        headers = {k: v for k, v in arrival.headers.items() if k.lower() not in REPLAY_SKIPS}
        started = time.perf_counter()
        reply = await context.runner.run(bare.post, sandbox_url + clock.route, data=arrival.body, headers=headers,
                                         timeout=10)
        if clock.count() <= before:
            raise RuntimeError("the reference request did not reach the sandbox's order route")
        if n:
            samples.enter_ms.append((arrival.at - pressed) * 1000.0)
            samples.floor_ms.append((clock.arrivals[before].at - started) * 1000.0)
        order_id = order_id_in(kind, reply.content)
        if order_id:
            await cancel(order_id)
        else:
            samples.problems.append(f"reference order not accepted: {reply.text[:120]}")
    bare.close()
    return samples


def retire_window(window) -> None:
    """Close and delete a window now, timers included: the order entry's debounced charge estimate
    must not fire into a later event loop (or none) after the bench is done with this terminal.
    Stop its session first: what the feed already posted is delivered while the window still lives."""
    from PySide6.QtCore import QEvent

    QApplication.processEvents()
    window.close()
    window.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def settle(loop) -> None:
    """Cancel what is still pending on ``loop`` (a charge estimate in flight) and let it unwind."""
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


def measure_sandbox(loop, kind: str, count: int) -> SandboxSamples:
    """Start the sandbox, the terminal on its adapter and a main window; time ``count`` orders; stop all."""
    from terminal.app import create_broker, create_context, shutdown, start_session
    from terminal.brokers.ratelimit import RateLimits
    from terminal.storage.journal import OrderJournal
    from terminal.storage.settings import Settings
    from terminal.ui.main_window import MainWindow

    sandbox, info, clock = start_sandbox(kind)
    try:
        with scratch_home() as home, memory_keyring_installed():
            broker = create_broker("flattrade" if kind == "noren" else "angelone", Settings(home / "s.json"),
                                   sandbox=info)
            broker.http.limits = RateLimits({})  # the client-side pacing too: its queueing is not latency
            context = create_context(broker, Settings(home / "settings.json"), OrderJournal(home / "orders.sqlite3"))
            window = MainWindow(context)
            window.persist_layout = False
            window.show()
            window.activateWindow()
            base = f"http://127.0.0.1:{urlsplit(info.get('rest_url') or '').port}"

            async def measure():
                if not await start_session(context):
                    raise RuntimeError(f"the session did not start on the {kind} sandbox")
                return await sandbox_orders(kind, window, context, broker, clock, base, count)

            try:
                return loop.run_until_complete(measure())
            finally:
                shutdown(context)
                retire_window(window)
    finally:
        sandbox.stop()


def journal_write_ms(folder: Path, count: int) -> list[float]:
    """ms per intent row on a journal file in ``folder`` (WAL, synchronous=FULL: one fsync a row)."""
    from terminal.storage.journal import OrderJournal

    journal = OrderJournal(folder / "timing.sqlite3")
    times = []
    try:
        for _ in range(count):
            request = OrderRequest("paper:SIM001", RELIANCE, Side.BUY, 1, OrderType.LIMIT, Product.MIS, price=100)
            start = time.perf_counter()
            journal.record_intent(request)
            times.append((time.perf_counter() - start) * 1000.0)
    finally:
        journal.close()
    return times


def run(scale: Scale = FULL) -> list[dict]:
    import qasync

    from terminal.app import create_context
    from terminal.storage.journal import OrderJournal
    from terminal.storage.settings import Settings
    from terminal.ui import theme
    from terminal.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    theme.apply_theme(app, "dark")
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with scratch_home() as home:
        broker = EdgeBroker(SimulatedExchange(seed=21, ticks_per_second=4.0))
        context = create_context(broker, Settings(home / "settings.json"), OrderJournal(home / "orders.sqlite3"))
        window = MainWindow(context)
        window.persist_layout = False
        window.show()
        window.activateWindow()
        from terminal.app import start_session

        async def measure():
            if not await start_session(context):
                raise RuntimeError("the session did not start on the paper broker")
            hotkey, enter = await key_press_latencies(window, context, broker, scale.key_presses)
            hops = await bare_hops(context.runner, scale.hop_samples)
            condor = await condor_times(context, broker, scale.condors)
            journal = await context.runner.run(journal_write_ms, home, scale.hop_samples)
            return hotkey, enter, hops, condor, journal

        try:
            hotkey, enter, hops, (parallel, sequential, problems), journal = loop.run_until_complete(measure())
        finally:
            context.session.stop()
            context.runner.shutdown()
            context.orders.journal.close()
            retire_window(window)
    try:
        sandboxes = {kind: measure_sandbox(loop, kind, scale.sandbox_orders) for kind in SANDBOX_PLACE_ROUTES}
    finally:
        settle(loop)
        asyncio.set_event_loop(None)
        loop.close()
    hop_ref = "bare hop: spawn → pool-thread call"
    seq_ref = "one sequential round trip per leg"
    note = f"{len(problems)} leg(s) not accepted: {problems[0]}" if problems else ""
    rows = [
        row("F1/F2 then Enter → place_order, p50", percentile(hotkey, 50), "ms", hop_ref, percentile(hops, 50)),
        row("F1/F2 then Enter → place_order, p99", percentile(hotkey, 99), "ms", hop_ref, percentile(hops, 99)),
        row("Enter → place_order, p50", percentile(enter, 50), "ms", hop_ref, percentile(hops, 50)),
        row("Enter → place_order, p99", percentile(enter, 99), "ms", hop_ref, percentile(hops, 99)),
        row("journal intent row alone (SQLite WAL, synchronous=FULL), p50", percentile(journal, 50), "ms",
            hop_ref, percentile(hops, 50), note="part of every placement: written before the broker call"),
        *sandbox_rows(sandboxes),
        row(f"iron condor, hedge first in parallel (20 ms per call), p50", percentile(parallel, 50), "ms",
            seq_ref, percentile(sequential, 50), goal="< sequential", met=percentile(parallel, 50)
            < percentile(sequential, 50), note=note),
        row(f"iron condor, hedge first in parallel (20 ms per call), p99", percentile(parallel, 99), "ms",
            seq_ref, percentile(sequential, 99), note=note),
    ]
    global _SAMPLES
    _SAMPLES = (len(hotkey), len(parallel), len(sequential), {k: len(v.enter_ms) for k, v in sandboxes.items()})
    return rows


def sandbox_rows(sandboxes: dict[str, SandboxSamples]) -> list[dict]:
    floor_ref = "bare requests.post of the same bytes from the pool"
    rows = []
    for kind, samples in sandboxes.items():
        note = (f"{len(samples.problems)} problem(s), first: {samples.problems[0]}" if samples.problems else "")
        for p in (50, 99):
            rows.append(row(f"Enter → first request bytes on the {SANDBOX_LABELS[kind]} socket, p{p}",
                            percentile(samples.enter_ms, p), "ms", floor_ref, percentile(samples.floor_ms, p),
                            note=note))
    return rows


_SAMPLES = (0, 0, 0, {})


def details() -> str:
    presses, parallel, sequential, sandbox_samples = _SAMPLES
    return (f"Samples: {presses} key-press orders (alternately buy and sell RELIANCE, one share, at the touch); "
            f"{parallel} hedge-first and {sequential} sequential condor baskets (each condor opened and closed). "
            f"The ideal with a {ROUND_TRIP_S * 1000:g} ms round trip is 2 round trips "
            f"({2 * ROUND_TRIP_S * 1000:g} ms) hedge first and 4 ({4 * ROUND_TRIP_S * 1000:g} ms) one by one; "
            "the rest is the journal (two SQLite writes per leg on the pool thread), validation and the "
            "thread hops. The condor goes through `OrderService.place` and `strategies.hedge_first`; "
            "there is no basket service in the tree yet (`terminal/services/basket.py`), so the bench does the "
            "grouping itself and should call the service once it lands.\n\n" + _sandbox_method(sandbox_samples))


def _sandbox_method(samples: dict[str, int]) -> str:
    counts = ", ".join(f"{n} on the {SANDBOX_LABELS[k]}" for k, n in samples.items())
    return ("Sandboxes: " + (counts or "no samples") + " (after one warm-up order each): a resting RELIANCE "
            f"buy of one share at {RESTING_PERCENT}% of the ask (F1 prefills, the price is moved, then Enter), "
            "cancelled at once, as is its reference. The clock stops when the sandbox's HTTP handler thread has "
            "read the request line of the place-order request off its loopback socket (the handler class is "
            "wrapped with a `time.perf_counter` stamp in `parse_request`; the sandbox runs in the bench process, "
            "so both ends read one clock). The reference sends the very bytes and headers the sandbox just "
            "received with a bare `requests.Session` (kept alive) through the terminal's own pool, timed from the "
            "UI thread: what is left between the two is the Qt key handling, validation, the risk check, the "
            "journal's intent row (one fsync) and the adapter. Rate limits are lifted on both sides (sandbox and "
            "the adapters' client-side pacing): the bench sends far more than Flattrade's 40 orders a minute, "
            "and a queued order's wait is not latency. The sandbox's market pump and websocket run in the same "
            "process and share the GIL, for the order and its reference alike.")


if __name__ == "__main__":
    for r in run():
        print(f"{r['name']:<66} {fmt(r['value'])} {r['unit']:<3} ref {fmt(r['reference_value'])}  {r['note']}")
    print(details())
