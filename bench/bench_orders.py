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
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

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

RELIANCE = "NSE:2885"
ROUND_TRIP_S = 0.020  # the modelled network round trip of one REST order call


@dataclass
class Scale:
    key_presses: int = 40  # alternately F1+Enter and F2+Enter, so the position stays flat
    condors: int = 8  # per design; each is opened and closed (two timed baskets)
    hop_samples: int = 40


FULL = Scale()
SMOKE = Scale(key_presses=2, condors=1, hop_samples=3)


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


def sandbox_status() -> str:
    """Why the sandbox figure is missing, from what is in the tree right now."""
    servers = REPO / "terminal" / "sim" / "servers"
    brokers = REPO / "terminal" / "brokers"
    missing_servers = [n for n in ("noren.py", "smartapi.py") if not (servers / n).exists()]
    missing_adapters = [n for n in ("flattrade", "angelone") if not (brokers / n / "broker.py").exists()]
    if missing_servers:
        return ("not measured yet: the sandboxes " + ", ".join(missing_servers) + " are not in terminal/sim/servers, "
                "so there is no loopback socket to time request bytes on")
    if missing_adapters:
        return ("not measured yet: the sandboxes are in the tree, but the broker adapters that would talk to them "
                "(terminal/brokers/" + ", ".join(missing_adapters) + ") are not, so no key press can reach them")
    return ("not measured yet: the sandboxes and adapters exist but this bench does not drive them yet "
            "(TODO: key press to the first request byte on each sandbox socket)")


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
            window.close()
            context.orders.journal.close()
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
        row("key press → request bytes on the sandbox sockets (Noren, SmartAPI)", None, "ms", "", None,
            note=sandbox_status()),
        row(f"iron condor, hedge first in parallel (20 ms per call), p50", percentile(parallel, 50), "ms",
            seq_ref, percentile(sequential, 50), goal="< sequential", met=percentile(parallel, 50)
            < percentile(sequential, 50), note=note),
        row(f"iron condor, hedge first in parallel (20 ms per call), p99", percentile(parallel, 99), "ms",
            seq_ref, percentile(sequential, 99), note=note),
    ]
    global _SAMPLES
    _SAMPLES = (len(hotkey), len(parallel), len(sequential))
    return rows


_SAMPLES = (0, 0, 0)


def details() -> str:
    presses, parallel, sequential = _SAMPLES
    return (f"Samples: {presses} key-press orders (alternately buy and sell RELIANCE, one share, at the touch); "
            f"{parallel} hedge-first and {sequential} sequential condor baskets (each condor opened and closed). "
            f"The ideal with a {ROUND_TRIP_S * 1000:g} ms round trip is 2 round trips "
            f"({2 * ROUND_TRIP_S * 1000:g} ms) hedge first and 4 ({4 * ROUND_TRIP_S * 1000:g} ms) one by one; "
            "the rest is the journal (two SQLite writes per leg on the pool thread), validation and the "
            "thread hops. The condor goes through `OrderService.place` and `strategies.hedge_first`; "
            "there is no basket service in the tree yet (`terminal/services/basket.py`), so the bench does the "
            "grouping itself and should call the service once it lands.\n\n" + _sandbox_todo())


def _sandbox_todo() -> str:
    return ("TODO (sandboxes): " + sandbox_status() + ". When they land, the figure to add is the time from the "
            "key press to the first byte of the order request read by `terminal.sim.servers.noren` / "
            "`smartapi` on their loopback socket, p50 and p99.")


if __name__ == "__main__":
    for r in run():
        print(f"{r['name']:<66} {fmt(r['value'])} {r['unit']:<3} ref {fmt(r['reference_value'])}  {r['note']}")
    print(details())
