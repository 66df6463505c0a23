"""Shared helpers of the Angel One tests (a unique module name, so no clash with other brokers' tests)."""

from __future__ import annotations

import threading
from pathlib import Path

from terminal.brokers.angelone import AngelOneBroker, AngelOneConfig, sandbox_config, store_sandbox_secrets
from terminal.brokers.angelone.http import SmartApiHttp
from terminal.brokers.base import FeedState
from terminal.brokers.ratelimit import RateLimits
from terminal.sim.servers.smartapi import SmartApiSandbox

RESOURCES = Path(__file__).resolve().parents[2] / "resources" / "angelone"


def frame(name: str) -> bytes:
    """A fixture frame from its hex dump (offset column, then bytes)."""
    text = (RESOURCES / name).read_text()
    return bytes.fromhex("".join(line[6:] for line in text.splitlines() if line.strip()))



def make_broker(box: SmartApiSandbox, tmp_path: Path, **overrides) -> AngelOneBroker:
    """A broker for the sandbox; client-side rate limits off so tests run fast (they are tested apart)."""
    store_sandbox_secrets(box.info)
    settings = sandbox_config(box.info)
    settings.update(ping_interval=0.5, stall_timeout=3.0, reconnect_delay=0.05, reconnect_max_delay=0.5)
    settings.update(overrides)
    config = AngelOneConfig.from_dict(settings)
    http = SmartApiHttp(config.rest_url, config.api_key, public_ip=config.public_ip, limits=RateLimits({}))
    return AngelOneBroker(config, http=http, cache_dir=tmp_path / "cache")



class RecordingSink:
    """A FeedSink that keeps everything and lets a test wait for a condition."""

    def __init__(self):
        self.ticks = []
        self.orders = []
        self.trades = []
        self.states = []
        self._cond = threading.Condition()

    def _add(self, bucket, items):
        with self._cond:
            bucket.extend(items)
            self._cond.notify_all()

    def on_ticks(self, ticks):
        self._add(self.ticks, list(ticks))

    def on_order_update(self, order):
        self._add(self.orders, [order])

    def on_trade(self, trade):
        self._add(self.trades, [trade])

    def on_feed_state(self, state: FeedState, message: str = ""):
        self._add(self.states, [(state, message)])

    def wait(self, predicate, timeout: float = 8.0) -> bool:
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

