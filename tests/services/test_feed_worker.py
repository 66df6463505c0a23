"""The feed reaches the UI thread as coalesced batches, never as a signal per tick."""

from terminal.brokers.paper.broker import PaperBroker
from terminal.domain.catalog import InstrumentCatalog
from terminal.services.feed_worker import FeedWorker
from terminal.sim.exchange import SimulatedExchange


def start_worker(qtbot, ticks_per_second):
    broker = PaperBroker(SimulatedExchange(seed=3, ticks_per_second=ticks_per_second))
    broker.login()
    catalog = InstrumentCatalog(broker.instruments())
    keys = [i.key for i in catalog.all()][:300]
    worker = FeedWorker(broker, interval_ms=33)
    batches = []

    def on_batch(batch):
        batches.append(batch)
        worker.acknowledge()

    worker.batch_ready.connect(on_batch)
    worker.start()
    worker.subscribe(keys)
    return worker, batches, keys


def test_the_ui_gets_one_signal_per_batch_not_per_tick(qtbot):
    worker, batches, keys = start_worker(qtbot, ticks_per_second=50)
    try:
        qtbot.waitUntil(lambda: sum(b.tick_count for b in batches) > 5_000, timeout=15_000)
    finally:
        worker.stop()
    raw = sum(b.tick_count for b in batches)
    assert len(batches) * 10 < raw  # many ticks per signal
    for batch in batches:
        assert len(batch.ticks) <= len(keys)  # at most the latest tick per instrument
        assert set(batch.ticks) <= set(keys)  # only what was subscribed
        assert all(tick.key == key for key, tick in batch.ticks.items())


def test_unsubscribed_instruments_stop_flowing(qtbot):
    worker, batches, keys = start_worker(qtbot, ticks_per_second=20)
    try:
        qtbot.waitUntil(lambda: len(batches) > 3, timeout=10_000)
        worker.unsubscribe(keys[1:])
        qtbot.wait(300)
        batches.clear()
        qtbot.waitUntil(lambda: len(batches) > 3, timeout=10_000)
    finally:
        worker.stop()
    assert {k for b in batches for k in b.ticks} == {keys[0]}


def test_subscriptions_are_reference_counted(qtbot):
    broker = PaperBroker(SimulatedExchange(seed=3))
    worker = FeedWorker(broker)
    worker.subscribe(["NSE:26000"])
    worker.subscribe(["NSE:26000"])
    worker.unsubscribe(["NSE:26000"])
    assert worker.subscribed() == {"NSE:26000"}
    worker.unsubscribe(["NSE:26000"])
    assert worker.subscribed() == set()
