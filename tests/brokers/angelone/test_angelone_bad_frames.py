"""The market socket and frames that are no possible tick: logged with the reason, counted, skipped.

One bad frame must neither stop the feed nor vanish without a word, and a feed that sends
thousands must not flood the log: a line with the reason at once, then at most one line per
BAD_FRAME_REPORT_S that counts the frames dropped meanwhile.
"""

from __future__ import annotations

import logging

import pytest

from angelone_helpers import RecordingSink, frame
from terminal.brokers.angelone import market_feed
from terminal.brokers.angelone.config import AngelOneConfig
from terminal.brokers.angelone.market_feed import MarketSocket

LOGGER = "terminal.brokers.angelone.market_feed"
GOOD = frame("snap_quote_infy.hex")
NEGATIVE_LTP = GOOD[:43] + (-5).to_bytes(8, "little", signed=True) + GOOD[51:]


def market_socket(sink: RecordingSink) -> MarketSocket:
    config = AngelOneConfig(client_code="A1", api_key="k")
    return MarketSocket(config, lambda: None, sink, sink.on_feed_state, lambda: None)


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]


@pytest.mark.parametrize("bad, reason", [
    (NEGATIVE_LTP, "last price -5"),
    (frame("ltp_truncated_50.hex"), "is 50 bytes, expected 51"),
    (bytes([1, 1]) + b"28\x0185".ljust(25, b"\0") + bytes(24), "token"),
    (bytes([9]) + bytes(60), "unknown subscription mode 9"),
])
def test_a_bad_frame_is_logged_once_with_its_reason_and_the_feed_carries_on(caplog, bad, reason):
    sink = RecordingSink()
    sock = market_socket(sink)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        sock.on_binary(GOOD)
        sock.on_binary(bad)
        sock.on_binary(GOOD)
    assert [t.key for t in sink.ticks] == ["NSE:1594", "NSE:1594"]
    assert sock.bad_frames == 1
    [line] = warnings(caplog)
    assert f"dropped a bad tick frame of {len(bad)} bytes" in line and reason in line


def test_heartbeat_bytes_are_not_bad_frames(caplog):
    sink = RecordingSink()
    sock = market_socket(sink)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        sock.on_binary(b"\x00")
    assert sock.bad_frames == 0 and not warnings(caplog) and not sink.ticks


def test_a_burst_of_bad_frames_is_one_line_then_a_count(caplog, monkeypatch):
    sink = RecordingSink()
    sock = market_socket(sink)
    monkeypatch.setattr(market_feed, "BAD_FRAME_REPORT_S", 3600.0)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        for _ in range(500):
            sock.on_binary(NEGATIVE_LTP)
        sock.on_binary(GOOD)
        sock.on_idle(None)  # within the quiet time: nothing more yet (no subscription change: ws unused)
        assert len(warnings(caplog)) == 1 and sock.bad_frames == 500
        monkeypatch.setattr(market_feed, "BAD_FRAME_REPORT_S", 0.0)  # the quiet time is over
        sock.on_idle(None)
        sock.on_idle(None)  # told once
    first, summary = warnings(caplog)
    assert "last price -5" in first
    assert "dropped 499 more bad tick frame(s)" in summary and "last price -5" in summary
    assert len(sink.ticks) == 1
