"""Feed health over the paper broker's real feed, with one instrument stalled at the edge."""

import pytest

from terminal.brokers.paper.broker import PaperBroker
from terminal.services.account_session import AccountSession
from terminal.services.background import BackgroundRunner
from terminal.services.feed_health import FeedHealth
from terminal.services.market_store import MarketStore
from terminal.services.messages import MessageLog
from terminal.services.portfolio_store import PortfolioStore
from terminal.services.risk import RiskCheck, RiskLimits
from terminal.sim.exchange import SimulatedExchange

RELIANCE, INFY = "NSE:2885", "NSE:1594"


class _DroppingSink:
    """Stands between the paper feed and the FeedWorker and loses the ticks of stalled keys."""

    def __init__(self, sink, broker):
        self.sink, self.broker = sink, broker

    def on_ticks(self, ticks):
        kept = [t for t in ticks if t.key not in self.broker.stalled]
        if kept:
            self.sink.on_ticks(kept)

    def __getattr__(self, name):
        return getattr(self.sink, name)


class StallingBroker(PaperBroker):
    """A 'connected' feed that silently stops sending some instruments (the broker-side fault)."""

    def __init__(self, *args, heals_on_resubscribe=True, **kwargs):
        super().__init__(*args, **kwargs)
        self.stalled: set[str] = set()
        self.heals_on_resubscribe = heals_on_resubscribe
        self.resubscribed: list[list[str]] = []

    def connect_feed(self, sink):
        super().connect_feed(_DroppingSink(sink, self))

    def unsubscribe(self, keys):
        self.resubscribed.append(list(keys))
        super().unsubscribe(keys)

    def subscribe(self, keys):
        super().subscribe(keys)
        if self.heals_on_resubscribe:
            self.stalled -= set(keys)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def feed_desk(qtbot, run_async):
    made = []

    def make(heals_on_resubscribe=True):
        broker = StallingBroker(SimulatedExchange(seed=5, ticks_per_second=40.0), step_interval=0.01,
                                heals_on_resubscribe=heals_on_resubscribe)
        market, runner, messages = MarketStore(), BackgroundRunner(workers=2), MessageLog()
        session = AccountSession(broker, market, PortfolioStore(), runner, messages)
        clock = Clock()
        health = FeedHealth(session.feed, market, broker, runner, messages, stale_after_s=10, resubscribe_grace_s=5,
                            poll_interval_s=5, clock=clock)
        assert run_async(session.start())
        session.subscribe([RELIANCE, INFY])
        qtbot.waitUntil(lambda: health.quote_age(RELIANCE) is not None and health.quote_age(INFY) is not None,
                        timeout=5000)
        made.append((session, runner))
        return broker, market, messages, health, clock

    yield make
    for session, runner in made:
        session.stop()
        runner.shutdown()


def wait_for_stream(qtbot, health, key, clock):
    """Until the stream delivers ``key`` at the current (fake) time."""
    qtbot.waitUntil(lambda: health.stream_age(key) == 0.0, timeout=5000)


def stall(broker, key, qtbot, health, clock):
    """Stall ``key`` and flush the ticks already on their way (the worker keeps one batch in flight)."""
    broker.stalled = {key}
    for step in (0.25, 0.25):
        clock.now += step
        wait_for_stream(qtbot, health, INFY, clock)


def test_a_stalled_instrument_is_marked_stale_and_resubscribed(feed_desk, qtbot, run_async):
    broker, market, messages, health, clock = feed_desk()
    assert run_async(health.check()) == frozenset()
    stall(broker, RELIANCE, qtbot, health, clock)
    clock.now += 19.5
    wait_for_stream(qtbot, health, INFY, clock)  # the rest of the feed is alive

    changes = []
    health.stale_changed.connect(changes.append)
    assert run_async(health.check()) == {RELIANCE}
    assert changes == [frozenset({RELIANCE})]
    assert health.is_stale(RELIANCE) and not health.is_stale(INFY)
    qtbot.waitUntil(lambda: broker.resubscribed != [], timeout=5_000)  # done on the feed thread
    assert broker.resubscribed == [[RELIANCE]]
    assert any("No ticks for 10 s" in m.text and "Reliance" in m.text for m in messages.messages())

    wait_for_stream(qtbot, health, RELIANCE, clock)  # the resubscribe brought it back
    assert run_async(health.check()) == frozenset()
    assert changes[-1] == frozenset()
    assert "Ticks flowing again" in messages.messages()[-1].text


def test_a_dead_subscription_falls_back_to_rest_quotes(feed_desk, qtbot, run_async):
    broker, market, messages, health, clock = feed_desk(heals_on_resubscribe=False)
    run_async(health.check())
    stall(broker, RELIANCE, qtbot, health, clock)
    clock.now += 19.5
    wait_for_stream(qtbot, health, INFY, clock)
    risk = RiskCheck(RiskLimits(), market, quote_age=health.quote_age)

    assert run_async(health.check()) == {RELIANCE}
    assert risk.age_of_quote(RELIANCE) > 10  # the interlock sees the stale quote
    before = market.tick(RELIANCE)

    clock.now += 5  # the resubscribe did not help within its grace period: poll REST
    wait_for_stream(qtbot, health, INFY, clock)
    assert run_async(health.check()) == {RELIANCE}
    assert health.quote_age(RELIANCE) == 0.0 and health.stream_age(RELIANCE) > 20
    assert risk.age_of_quote(RELIANCE) == 0.0
    assert market.tick(RELIANCE).timestamp > before.timestamp  # the REST quote reached the store

    clock.now += 2  # polls are paced
    wait_for_stream(qtbot, health, INFY, clock)
    run_async(health.check())
    assert health.quote_age(RELIANCE) == 2.0
    assert broker.resubscribed == [[RELIANCE]]  # and resubscribes are not repeated every second


def test_unsubscribed_instruments_are_forgotten(feed_desk, qtbot, run_async):
    broker, market, messages, health, clock = feed_desk(heals_on_resubscribe=False)
    run_async(health.check())
    stall(broker, RELIANCE, qtbot, health, clock)
    clock.now += 19.5
    wait_for_stream(qtbot, health, INFY, clock)
    assert run_async(health.check()) == {RELIANCE}
    health.feed.unsubscribe([RELIANCE])
    assert run_async(health.check()) == frozenset()
    assert health.stream_age(RELIANCE) is None
