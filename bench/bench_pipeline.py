"""Tick pipeline: ticks in at 5,000 / 20,000 / 50,000 a second, through the real FeedWorker, into
the real main window (every default panel open, 200 instruments in the market watch, 1,000
subscribed), against the naive design (one queued signal per tick) in the same run.

Run: ``QT_QPA_PLATFORM=offscreen python -m bench.bench_pipeline``. ``run()`` returns the rows.

The producer thread stands in for a broker's websocket thread: every 0.5 ms it builds the
ticks that are due at the target rate as new domain ``Tick`` objects (what a decoder makes of a
frame), stamped with ``time.time()``, over 1,000 instruments picked uniformly at random, and
hands them to ``FeedWorker.on_ticks`` (the FeedSink the broker adapters call). The worker
thread coalesces them and emits one batch per ~33 ms once the UI acknowledged the last one; the
UI thread applies it (``AccountSession._apply_batch`` -> ``MarketStore`` -> every panel).
"""

from __future__ import annotations

import asyncio
import gc
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import fmt, offscreen, percentile, row, scratch_home  # noqa: E402

offscreen()

from PySide6.QtCore import QEvent, QEventLoop, QObject, Qt, QTimer, Signal, Slot  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from terminal.brokers.base import FeedState  # noqa: E402
from terminal.brokers.paper.broker import PaperBroker  # noqa: E402
from terminal.domain import DepthLevel, Tick  # noqa: E402
from terminal.sim.exchange import SimulatedExchange  # noqa: E402


@dataclass
class Scale:
    """How big and how long. The full run keeps ``python -m bench`` within a few minutes."""

    instruments: int = 1_000
    watched: int = 200
    rates: tuple[int, ...] = (5_000, 20_000, 50_000)
    warmup_s: float = 1.0
    window_s: float = 5.0  # measured seconds per rate, our design
    naive_window_s: float = 3.0  # measured seconds per rate, the naive design
    drain_s: float = 6.0  # how long the naive design may take to work off its queue
    idle_s: float = 2.0


FULL = Scale()
SMOKE = Scale(instruments=60, watched=20, rates=(2_000,), warmup_s=0.2, window_s=0.4, naive_window_s=0.3,
              drain_s=2.0, idle_s=0.2)

STALL_GOAL_MS = 16.0
BUSY_GOAL_PERCENT = 12.0
HEARTBEAT_MS = 1
UPDATE_REQUEST = QEvent.Type.UpdateRequest  # bound once: the event filter sees every window event
VARIANTS = 8  # price steps per instrument the producer cycles through


# --- the edge: a broker whose feed is the bench's producer ------------------------------------------


class ProducerFedBroker(PaperBroker):
    """The paper broker for login, instruments and books; its feed is the bench's producer thread."""

    def __init__(self, exchange: SimulatedExchange):
        super().__init__(exchange)
        self.sink = None
        self.connected = threading.Event()

    def connect_feed(self, sink) -> None:
        self.sink = sink
        sink.on_feed_state(FeedState.CONNECTED, "bench producer")
        self.connected.set()

    def disconnect_feed(self) -> None:
        self.sink = None


class TickFactory:
    """Builds fresh Ticks from precomputed prices and depth (what a decoder produces per frame)."""

    def __init__(self, base_ticks: list[Tick], tick_sizes: list[int]):
        self.rows = []
        for base, size in zip(base_ticks, tick_sizes):
            ltp = base.ltp or 100 * size
            variants = []
            for step in range(VARIANTS):
                price = max(ltp + (step - VARIANTS // 2) * size, size)
                bids = tuple(DepthLevel(max(price - i * size, size), 75 * (i + 1), i + 1) for i in range(5))
                asks = tuple(DepthLevel(price + (i + 1) * size, 75 * (i + 2), i + 1) for i in range(5))
                variants.append((price, bids, asks))
            self.rows.append((base.key, base.close or ltp, base.open_interest, variants))
        self.keys = [r[0] for r in self.rows]

    def make(self, index: int, serial: int) -> Tick:
        key, close, oi, variants = self.rows[index]
        price, bids, asks = variants[serial % VARIANTS]
        return Tick(key, price, time.time(), 75, 100_000 + serial, price, close, price + 50, price - 50, close, oi,
                    oi, 7_500, 8_250, bids, asks)


@dataclass
class ProducerStats:
    sent: int = 0
    seconds: float = 0.0


class Producer(threading.Thread):
    """Delivers ``rate`` ticks a second to ``deliver(list_of_ticks)`` until stopped."""

    def __init__(self, factory: TickFactory, rate: int, deliver, seed: int = 5):
        super().__init__(name=f"producer-{rate}", daemon=True)
        self.factory, self.rate, self.deliver = factory, rate, deliver
        self.stop_event = threading.Event()
        self.stats = ProducerStats()
        rng = random.Random(seed)
        self._order = [rng.randrange(len(factory.rows)) for _ in range(65_536)]

    def run(self) -> None:
        make, order, mask = self.factory.make, self._order, len(self._order) - 1
        start = time.perf_counter()
        sent = 0
        while not self.stop_event.is_set():
            elapsed = time.perf_counter() - start
            due = min(int(self.rate * elapsed) - sent, self.rate // 50 + 1)  # at most 20 ms of ticks at once
            if due > 0:
                self.deliver([make(order[(sent + j) & mask], sent + j) for j in range(due)])
                sent += due
            time.sleep(0.0005)
        self.stats = ProducerStats(sent, time.perf_counter() - start)

    def stop(self) -> ProducerStats:
        self.stop_event.set()
        self.join(5.0)
        return self.stats


# --- the naive reference: a queued signal per tick -----------------------------------------------------


class PerTickEmitter(QObject):
    """Lives on the UI thread; emitting from the producer thread queues one event per tick."""

    tick = Signal(object)


class PerTickApplier(QObject):
    """The naive design's UI side: apply each tick on its own (store, then every listening panel)."""

    def __init__(self, market, probe):
        super().__init__()
        self.market, self.probe = market, probe
        self.applied = 0
        self.discard = False

    @Slot(object)
    def apply(self, tick: Tick) -> None:
        self.applied += 1
        if self.discard:
            return
        start = time.perf_counter()
        self.market.apply_ticks({tick.key: tick}, 1, 0.0)
        self.probe.handler_s += time.perf_counter() - start


# --- measuring the UI thread -------------------------------------------------------------------------


@dataclass
class Measurement:
    wall_s: float = 0.0
    cpu_s: float = 0.0
    handler_s: float = 0.0
    paint_s: float = 0.0
    gaps_ms: list[float] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    batches: int = 0

    @property
    def busy_percent(self) -> float:
        return 100.0 * self.cpu_s / self.wall_s if self.wall_s else float("nan")


class UiProbe(QObject):
    """Heartbeat (stalls), UI-thread CPU time (busy share), batch-handler and repaint time, and
    tick-to-model latency of the market watch rows. Lives on the UI thread."""

    def __init__(self, window, session, watch_model, market):
        super().__init__()
        self.window, self.session, self.model, self.market = window, session, watch_model, market
        self.measuring = False
        self.handler_s = 0.0
        self.paint_s = 0.0
        self.batches = 0
        self.gaps: list[float] = []
        self.latencies: list[float] = []
        self._last_beat = 0.0
        self._in_batch = False
        self._heartbeat = QTimer(self)
        self._heartbeat.setTimerType(Qt.PreciseTimer)
        self._heartbeat.setInterval(HEARTBEAT_MS)
        self._heartbeat.timeout.connect(self._beat)
        window.installEventFilter(self)
        watch_model.dataChanged.connect(self._rows_changed)
        self._last_column = watch_model.columnCount() - 1

    # Our design: the session's batch slot is called through this timed wrapper (same thread).
    @Slot(object)
    def apply_batch(self, batch) -> None:
        start = time.perf_counter()
        self.session._apply_batch(batch)
        if self.measuring:
            self.handler_s += time.perf_counter() - start
            self.batches += 1

    def store_applying(self, _keys) -> None:  # connected before the panels: runs first
        self._in_batch = True

    def store_applied(self, _keys) -> None:  # connected after the panels: runs last
        self._in_batch = False

    def _rows_changed(self, top, bottom, _roles=()) -> None:
        if not (self.measuring and self._in_batch):
            return  # flash expiry repaints are not ticks arriving
        if top.column() != 0 or bottom.column() != self._last_column:
            return  # one cell (a flash ending, cleared with the batch) is not a tick arriving
        now = time.time()
        item, tick = self.model.item, self.market.tick
        for at in range(top.row(), bottom.row() + 1):
            shown = tick(item(at).key)
            if shown is not None:
                self.latencies.append((now - shown.timestamp) * 1000.0)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt naming)
        if watched is self.window and event.type() == UPDATE_REQUEST:
            start = time.perf_counter()
            self.window.event(event)  # the whole window's repaint happens in here
            if self.measuring:
                self.paint_s += time.perf_counter() - start
            return True
        return False

    def _beat(self) -> None:
        now = time.perf_counter()
        if self.measuring and self._last_beat:
            self.gaps.append((now - self._last_beat) * 1000.0)
        self._last_beat = now

    def start(self) -> None:
        self.handler_s = self.paint_s = 0.0
        self.batches = 0
        self.gaps, self.latencies = [], []
        self._heartbeat.start()
        self._last_beat = time.perf_counter()
        self.measuring = True
        self._wall0, self._cpu0 = time.perf_counter(), time.thread_time()

    def stop_clock(self) -> Measurement:
        """End the busy-share window (latencies keep being collected until ``finish``)."""
        wall, cpu = time.perf_counter() - self._wall0, time.thread_time() - self._cpu0
        self._window = Measurement(wall, cpu, self.handler_s, self.paint_s, list(self.gaps), [], self.batches)
        return self._window

    def finish(self) -> Measurement:
        self.measuring = False
        self._heartbeat.stop()
        self._window.latencies_ms = list(self.latencies)
        return self._window


def spin(seconds: float) -> None:
    """Run the Qt event loop for ``seconds`` (timers, queued signals and repaints all run)."""
    loop = QEventLoop()
    QTimer.singleShot(max(int(seconds * 1000), 0), loop.quit)
    loop.exec()


def spin_until(done, timeout_s: float) -> bool:
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        if done():
            return True
        spin(0.02)
    return done()


# --- the run ------------------------------------------------------------------------------------------


class Rig:
    """The real terminal (context, main window, session) over the producer-fed broker."""

    def __init__(self, scale: Scale, home: Path):
        import qasync

        from terminal.app import create_context, start_session
        from terminal.storage.journal import OrderJournal
        from terminal.storage.settings import Settings
        from terminal.ui import theme
        from terminal.ui.main_window import MainWindow

        self.app = QApplication.instance() or QApplication([])
        theme.apply_theme(self.app, "dark")
        self.loop = qasync.QEventLoop(self.app, already_running=False)
        asyncio.set_event_loop(self.loop)

        exchange = SimulatedExchange(seed=3)
        instruments = self._pick(exchange.instruments(), scale.instruments)
        keys = [i.key for i in instruments]
        self.watch_keys, self.other_keys = keys[:scale.watched], keys[scale.watched:]
        self.factory = TickFactory(exchange.quotes(keys), [i.tick_size for i in instruments])
        self.broker = ProducerFedBroker(exchange)
        settings = Settings(home / "settings.json")
        settings.set("watchlist", self.watch_keys)
        self.context = create_context(self.broker, settings, OrderJournal(":memory:"))
        market = self.context.market
        self._pre = lambda keys: self.probe.store_applying(keys)
        market.ticks_updated.connect(self._pre)  # before any panel connects
        self.window = MainWindow(self.context)
        self.window.persist_layout = False
        self.window.show()
        watch = self.window.panels["market_watch"]
        self.probe = UiProbe(self.window, self.context.session, watch.model, market)
        market.ticks_updated.connect(self.probe.store_applied)
        session = self.context.session
        session.feed.batch_ready.disconnect(session._apply_batch)
        session.feed.batch_ready.connect(self.probe.apply_batch)
        if not self.loop.run_until_complete(start_session(self.context)):
            raise RuntimeError("the terminal's session did not start over the bench broker")
        from terminal.services.gui_thread_gc import collect_on_gui_thread

        collect_on_gui_thread().settle()  # the app's collection policy: GUI thread only, heap frozen at ready
        if not self.broker.connected.wait(5.0):
            raise RuntimeError("the FeedWorker never connected to the bench broker")
        session.subscribe(self.other_keys)
        self.naive_emitter = PerTickEmitter()
        self.naive_applier = PerTickApplier(market, self.probe)
        self.naive_emitter.tick.connect(self.naive_applier.apply, Qt.QueuedConnection)
        spin(0.3)

    @staticmethod
    def _pick(instruments, count):
        """Indices, stocks and futures first (the watch shows them), then options."""
        ordered = [i for i in instruments if i.kind.value != "OPTION"] + [i for i in instruments
                                                                          if i.kind.value == "OPTION"]
        if len(ordered) < count:
            raise RuntimeError(f"the simulated exchange lists {len(ordered)} instruments, fewer than {count}")
        return ordered[:count]

    def close(self) -> None:
        self.context.session.stop()
        self.context.runner.shutdown()
        self.window.close()
        self.context.orders.journal.close()
        asyncio.set_event_loop(None)
        self.loop.close()


def measure_idle(rig: Rig, seconds: float) -> Measurement:
    rig.probe.start()
    spin(seconds)
    rig.probe.stop_clock()
    return rig.probe.finish()


def measure_batched(rig: Rig, scale: Scale, rate: int) -> tuple[Measurement, ProducerStats]:
    feed = rig.context.session.feed
    producer = Producer(rig.factory, rate, feed.on_ticks)
    producer.start()
    spin(scale.warmup_s)
    rig.probe.start()
    spin(scale.window_s)
    window = rig.probe.stop_clock()
    stats = producer.stop()
    spin(0.2)  # the last batches land
    rig.probe.finish()
    return window, stats


def measure_naive(rig: Rig, scale: Scale, rate: int) -> tuple[Measurement, ProducerStats, int]:
    """Returns the measurement, what was sent, and how many ticks were still queued at the drain limit."""
    applier, emit = rig.naive_applier, rig.naive_emitter.tick.emit

    def deliver(ticks):
        for tick in ticks:
            emit(tick)

    applier.applied, applier.discard = 0, False
    producer = Producer(rig.factory, rate, deliver, seed=6)
    producer.start()
    spin(min(scale.warmup_s, 0.5))
    rig.probe.start()
    spin(scale.naive_window_s)
    window = rig.probe.stop_clock()
    stats = producer.stop()
    spin_until(lambda: applier.applied >= stats.sent, scale.drain_s)
    backlog = stats.sent - applier.applied
    rig.probe.finish()
    applier.discard = True  # throw away what is left so the next run starts clean
    spin_until(lambda: applier.applied >= stats.sent, 60.0)
    applier.discard = False
    return window, stats, max(backlog, 0)


def run(scale: Scale = FULL) -> list[dict]:
    results: list[dict] = []
    global _DETAILS
    details: list[str] = []
    with scratch_home() as home:
        rig = Rig(scale, home)
        try:
            gc.collect()
            idle = measure_idle(rig, scale.idle_s)
            results.append(row("idle: UI thread busy (heartbeat, clocks; no ticks)", idle.busy_percent, "%",
                               "", None, note="the floor every busy share below includes"))
            results.append(row("idle: longest gap between 1 ms heartbeats", max(idle.gaps_ms, default=0.0), "ms",
                               "", None, note="machine noise on a shared 2-core box"))
            for rate in scale.rates:
                gc.collect()
                ours, sent = measure_batched(rig, scale, rate)
                gc.collect()
                naive, naive_sent, backlog = measure_naive(rig, scale, rate)
                results += _rows(rate, ours, sent, naive, naive_sent, backlog, scale)
                details.append(_detail_line(rate, ours, sent, naive, naive_sent, backlog, scale))
        finally:
            rig.close()
    _DETAILS = details
    return results


def _rows(rate, ours: Measurement, sent: ProducerStats, naive: Measurement, naive_sent: ProducerStats,
          backlog: int, scale: Scale) -> list[dict]:
    label = f"{rate:,} ticks/s"
    naive_ref = "naive: a queued signal per tick"
    busy_goal = f"≤ {BUSY_GOAL_PERCENT:g}%" if rate == 5_000 else ""
    busy_met = (ours.busy_percent <= BUSY_GOAL_PERCENT) if rate == 5_000 else None
    stall_goal = f"≤ {STALL_GOAL_MS:g} ms" if rate == 20_000 else ""
    ours_max = max(ours.gaps_ms, default=0.0)
    stall_met = (ours_max <= STALL_GOAL_MS) if rate == 20_000 else None
    lower_bound = f"naive: {backlog:,} ticks still queued after {scale.drain_s:g} s; its latency is a lower bound" \
        if backlog else ""
    achieved = f"producer delivered {sent.sent / sent.seconds:,.0f}/s (naive {naive_sent.sent / naive_sent.seconds:,.0f}/s)"
    return [
        row(f"{label}: UI thread busy (CPU time / wall)", ours.busy_percent, "%", naive_ref, naive.busy_percent,
            busy_goal, busy_met, achieved),
        row(f"{label}: UI stall p99 (heartbeat gap)", percentile(ours.gaps_ms, 99), "ms", naive_ref,
            percentile(naive.gaps_ms, 99)),
        row(f"{label}: UI stall max (heartbeat gap)", ours_max, "ms", naive_ref, max(naive.gaps_ms, default=0.0),
            stall_goal, stall_met),
        row(f"{label}: tick-to-model latency p50", percentile(ours.latencies_ms, 50), "ms", naive_ref,
            percentile(naive.latencies_ms, 50), note=lower_bound),
        row(f"{label}: tick-to-model latency p99", percentile(ours.latencies_ms, 99), "ms", naive_ref,
            percentile(naive.latencies_ms, 99), note=lower_bound),
    ]


def _detail_line(rate, ours, sent, naive, naive_sent, backlog, scale) -> str:
    def share(part, m):
        return fmt(100.0 * part / m.wall_s, 1) + "%"

    return (f"| {rate:,} | {sent.sent / sent.seconds:,.0f} | {ours.batches / ours.wall_s:,.1f} | "
            f"{share(ours.handler_s, ours)} | {share(ours.paint_s, ours)} | {fmt(ours.busy_percent, 1)}% | "
            f"{naive_sent.sent / naive_sent.seconds:,.0f} | {share(naive.handler_s, naive)} | "
            f"{share(naive.paint_s, naive)} | {fmt(naive.busy_percent, 1)}% | {backlog:,} |")


_DETAILS: list[str] = []


def details() -> str:
    scale = FULL
    lines = [
        f"Method. The whole terminal runs in one process: `create_context` over a paper broker whose feed is "
        f"the bench's producer thread, the real `MainWindow` with every default panel, {scale.watched} "
        f"instruments in the market watch and {scale.instruments:,} subscribed. The producer builds a new "
        "`Tick` per tick (as a decoder does), stamped with `time.time()`, for instruments drawn uniformly at "
        "random, and calls `FeedWorker.on_ticks` every 0.5 ms with the ticks due; the real worker thread "
        "coalesces and emits batches; the UI thread applies them. The naive reference, on the same window, "
        "emits one queued Qt signal per tick from the producer thread; its UI slot applies that one tick "
        "through `MarketStore.apply_ticks`, so the market watch updates that one row (one `dataChanged`) per "
        "tick.",
        f"Figures. *Busy* is the UI thread's CPU time (`time.thread_time()` on the UI thread) over the wall "
        f"time of a {scale.window_s:g} s window ({scale.naive_window_s:g} s for the naive design; short "
        "windows keep the whole run within minutes); it includes the heartbeat itself, the status-bar clock "
        "and the flash timer (the idle row is that floor). A thread that waits for the GIL or for a core is "
        f"not busy but is stalled. *Stall* is the gap between consecutive ticks of a {HEARTBEAT_MS} ms "
        "`Qt.PreciseTimer` heartbeat on the UI thread: what a key press would wait. *Tick-to-model latency* "
        "is, for every market-watch row in each whole-row `dataChanged` the model emits while a tick batch is "
        "applied (a flash ending repaints the price cell alone and is not counted), "
        "`time.time()` then minus the producer's stamp on the tick the row now shows (ticks overwritten by "
        "newer ones before the UI saw them have no latency). The handler and repaint shares below time the "
        "batch slot (our design) or per-tick slot (naive) and the window's `UpdateRequest` (the whole "
        "window repaint, offscreen raster) with `perf_counter`.",
        "",
        "| ticks/s asked | ours: delivered/s | batches/s | batch slot | repaint | busy | naive: delivered/s | "
        "per-tick slots | repaint | busy | naive backlog |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *_DETAILS,
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    for r in run():
        print(f"{r['name']:<58} {fmt(r['value'])} {r['unit']:<3} ref {fmt(r['reference_value'])}  {r['note']}")
    print(details())
