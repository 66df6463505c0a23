"""decode_tick on SNAP_QUOTE frames vs the official smartapi-python parser, same bytes, same run.

Run: ``python bench/bench_angelone_decoder.py``. ``run()`` returns one dict per measurement with
keys name, value, unit, reference, reference_value, ratio; ``ratio`` is reference time / our time.
The frames are 1,000 different SNAP_QUOTE packets (random prices, depth and tokens), so no cache
can help either side; both parsers read every frame, and the run fails if they disagree.
The official client is imported with outside connections refused (its import-time IP lookup).

Rows: the full decode to the domain Tick (what the terminal uses), and the unpack alone (one
precompiled struct call) to show how much of the time is building the frozen Tick and its ten
DepthLevel objects.
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

from terminal.brokers.angelone.decoder import STRUCTS, SNAP_QUOTE, decode_tick  # noqa: E402

SNAP = struct.Struct("<BB25sqqqqqqddqqqqqqd" + "HqqH" * 10 + "qqqq")


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


def _per_frame_us(fn, data: list[bytes], repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for frame in data:
            fn(frame)
        best = min(best, time.perf_counter() - start)
    return best / len(data) * 1e6


def run() -> list[dict]:
    data = frames()
    official = _official_parser()
    for frame in data[:50]:  # agree before timing
        ours, theirs = decode_tick(frame), official(frame)
        assert ours.ltp == theirs["last_traded_price"]
        assert [b.price for b in ours.bids] == [d["price"] for d in theirs["best_5_buy_data"]]
    reference = _per_frame_us(official, data)
    full = _per_frame_us(decode_tick, data)
    unpack = _per_frame_us(STRUCTS[SNAP_QUOTE].unpack_from, data)
    return [
        {"name": "decode_tick SNAP_QUOTE to domain Tick", "value": round(full, 3), "unit": "us/frame",
         "reference": "smartapi-python SmartWebSocketV2._parse_binary_data", "reference_value": round(reference, 3),
         "ratio": round(reference / full, 2)},
        {"name": "SNAP_QUOTE struct unpack only", "value": round(unpack, 3), "unit": "us/frame",
         "reference": "smartapi-python SmartWebSocketV2._parse_binary_data", "reference_value": round(reference, 3),
         "ratio": round(reference / unpack, 2)},
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
