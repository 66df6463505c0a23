"""decode_tick on SNAP_QUOTE frames vs the official smartapi-python parser, same bytes, same run.

Run: ``python bench/bench_angelone_decoder.py``. ``run()`` returns one dict per measurement (see
bench/common.py); ``ratio`` is our time / the official parser's time, so 0.05 is 20 times faster.
The frames are 1,000 different SNAP_QUOTE packets (random prices, depth and tokens); both parsers
read every frame, and the run fails if they disagree on any field.
The official client is imported with outside connections refused (its import-time IP lookup).

Rows, all on the same frames, each against the official parser (which always builds the depth):

- "depth not read": decode_tick alone. Every field is vetted (mode, size, exchange, token, the
  sign of every price, quantity and depth figure, finite totals), but the best-five depth is only
  *decoded* when first read, so this row does not include building the ten depth levels. It is
  what the feed pays for most ticks (only ticks shown in a depth panel have their depth read).
- "depth read": decode_tick, then ``bids`` and ``asks`` read: the whole frame decoded into the
  domain Tick with its ten DepthLevels. This is the like-for-like comparison with the official
  parser.
- the struct unpack alone (the floor of any Python decoder; no Tick, no checks).
"""

from __future__ import annotations

import os
import random
import socket
import struct
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import row  # noqa: E402
from terminal.brokers.angelone.decoder import STRUCTS, SNAP_QUOTE, decode_tick  # noqa: E402

SNAP = struct.Struct("<BB25sqqqqqqddqqqqqqd" + "HqqH" * 10 + "qqqq")
REFERENCE = "smartapi-python SmartWebSocketV2._parse_binary_data"
GOAL_RATIO = 0.05  # the issue: at least 20 times faster than the official parser


def frames(count: int = 1000, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        ltp = rng.randint(1000, 5_000_000)
        depth = []
        for i in range(5):
            depth += [1, rng.randint(1, 5000), ltp - 5 * (i + 1), rng.randint(1, 50)]
        for i in range(5):
            depth += [0, rng.randint(1, 5000), ltp + 5 * i, rng.randint(1, 50)]
        out.append(SNAP.pack(3, rng.choice((1, 2)), str(rng.randint(1, 99999)).encode(), rng.randint(0, 10**9),
                             1_732_182_300_000 + rng.randint(0, 10**7), ltp, rng.randint(1, 500), ltp,
                             rng.randint(0, 10**8), float(rng.randint(0, 10**6)), float(rng.randint(0, 10**6)),
                             ltp, ltp + 500, ltp - 500, ltp, 1_732_182_300, rng.randint(0, 10**7), 0.0, *depth,
                             ltp * 2, 5, ltp * 3, ltp // 2))
    return out


def _official_parser():
    real_connect = socket.socket.connect

    def refuse_outside(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if not str(host).startswith("127.") and host != "::1":
            raise OSError("outside connections are refused in this benchmark")
        return real_connect(sock, address)

    socket.socket.connect = refuse_outside
    cwd = os.getcwd()
    os.chdir(tempfile.mkdtemp())  # the client writes ./logs
    try:
        from SmartApi.smartWebSocketV2 import SmartWebSocketV2

        return SmartWebSocketV2("jwt", "key", "client", "feed")._parse_binary_data
    finally:
        os.chdir(cwd)
        socket.socket.connect = real_connect


def _agree(ours, theirs: dict) -> None:
    assert ours.ltp == theirs["last_traded_price"] and ours.volume == theirs["volume_trade_for_the_day"]
    assert ours.timestamp == theirs["exchange_timestamp"] / 1000
    assert (ours.open, ours.high, ours.low, ours.close) == (
        theirs["open_price_of_the_day"], theirs["high_price_of_the_day"], theirs["low_price_of_the_day"],
        theirs["closed_price"])
    assert ours.open_interest == theirs["open_interest"]
    assert [(b.price, b.quantity, b.orders) for b in ours.bids] == [
        (d["price"], d["quantity"], d["no of orders"]) for d in theirs["best_5_buy_data"]]
    assert [(a.price, a.quantity, a.orders) for a in ours.asks] == [
        (d["price"], d["quantity"], d["no of orders"]) for d in theirs["best_5_sell_data"]]


def _per_frame_us(fns: list, data: list[bytes], rounds: int = 9) -> list[float]:
    """Microseconds per frame of each of ``fns`` over ``data``: the fastest of ``rounds`` passes.

    The functions take turns within each round, so a busy spell on a shared machine slows the
    reference and ours alike instead of landing on one of them.
    """
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            for frame in data:
                fn(frame)
            best[i] = min(best[i], time.perf_counter() - start)
    return [b / len(data) * 1e6 for b in best]


def _decode_and_read_depth(frame: bytes):
    tick = decode_tick(frame)
    return tick.bids, tick.asks


def run() -> list[dict]:
    data = frames()
    official = _official_parser()
    for frame in data:  # agree on every frame before timing
        _agree(decode_tick(frame), official(frame))
    reference, full, with_depth, unpack = _per_frame_us(
        [official, decode_tick, _decode_and_read_depth, STRUCTS[SNAP_QUOTE].unpack_from], data)

    def times_faster(value: float) -> str:
        return f"{reference / value:.1f} times faster than the official parser"

    goal = "≥ 20× faster (ratio ≤ 0.05)"
    return [
        row("decode_tick SNAP_QUOTE, depth not read (lazy)", full, "us/frame", REFERENCE, reference,
            goal=goal, met=full / reference <= GOAL_RATIO,
            note=times_faster(full) + "; every field vetted, the ten depth levels not built (decoded on first read)"),
        row("decode_tick SNAP_QUOTE, depth read (full decode)", with_depth, "us/frame", REFERENCE, reference,
            goal=goal, met=with_depth / reference <= GOAL_RATIO,
            note=times_faster(with_depth) + "; decode_tick then bids and asks: every field into the domain Tick, "
                 "like the official parser"),
        row("SNAP_QUOTE struct unpack only (floor)", unpack, "us/frame", REFERENCE, reference,
            note=times_faster(unpack) + "; no Tick, no checks"),
    ]


if __name__ == "__main__":
    for result in run():
        print(result)
