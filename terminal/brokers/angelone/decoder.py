"""Decoder for SmartAPI WebSocket 2.0 binary ticks (LTP 51 B, QUOTE 123 B, SNAP_QUOTE 379 B).

Every frame is little-endian with fields at fixed offsets; byte 0 is the subscription mode, so
one precompiled ``struct.Struct`` per mode is picked by a table lookup on that byte. Prices on
the wire are integer paise (for CDS currency, exchangeType 13, units of 10^-7 rupee, rounded
here to the nearest paisa). Best-five depth: the first five 20-byte packets are bids (best
first), the last five asks (best first), as the docs and the Java client read them.
"""

from __future__ import annotations

import struct

from terminal.domain import DepthLevel, Exchange, Tick
from terminal.domain.market import PackedTick, packed_tick

LTP, QUOTE, SNAP_QUOTE = 1, 2, 3

# exchangeType byte -> the terminal's exchange. 7 (NCDEX) has no Exchange in the terminal.
EXCHANGE_BY_TYPE: dict[int, Exchange] = {
    1: Exchange.NSE, 2: Exchange.NFO, 3: Exchange.BSE, 4: Exchange.BFO, 5: Exchange.MCX, 13: Exchange.CDS,
}
TYPE_BY_EXCHANGE: dict[Exchange, int] = {exchange: code for code, exchange in EXCHANGE_BY_TYPE.items()}
CURRENCY_TYPE = 13
_CURRENCY_UNITS_PER_PAISA = 100_000  # wire unit 10^-7 rupee

_HEADER = "<BB25sqqq"  # mode, exchange type, token, sequence, exchange time (ms), LTP
_QUOTE = "qqqddqqqq"  # LTQ, ATP, volume, total buy qty (f64), total sell qty (f64), O, H, L, prev close
_SNAP = "qqd" + "HqqH" * 10 + "qqqq"  # LTT (s), OI, OI change % (garbage), depth x10, circuits, 52w

STRUCTS: dict[int, struct.Struct] = {
    LTP: struct.Struct(_HEADER),
    QUOTE: struct.Struct(_HEADER + _QUOTE),
    SNAP_QUOTE: struct.Struct(_HEADER + _QUOTE + _SNAP),
}
FRAME_SIZES = {mode: s.size for mode, s in STRUCTS.items()}  # {1: 51, 2: 123, 3: 379}
_SNAP_UNPACK = STRUCTS[SNAP_QUOTE].unpack_from

# The hot path reads only what the Tick keeps, with the exchange byte and token as one 26-byte key
# (skipped: mode, sequence, last traded time, OI change %, circuits and 52-week range; the depth is
# read from the frame when first asked for). Same offsets as STRUCTS.
_FAST_LTP = struct.Struct("<x26s8xqq").unpack_from  # exchange+token, exchange time, LTP
_FAST_QUOTE = struct.Struct("<x26s8xqqqqqddqqqq").unpack_from  # + LTQ, ATP, volume, TBQ, TSQ, O, H, L, C
_FAST_SNAP = struct.Struct("<x26s8xqqqqqddqqqq8xq").unpack_from  # + OI
_DEPTH_OFFSET = STRUCTS[QUOTE].size + 24  # 147: after LTT, OI and OI change %
_DEPTH_UNPACK = struct.Struct("<" + "HqqH" * 10).unpack_from  # (flag, quantity, price paise, orders) x10

_KEY_PREFIX = {bytes([code]): exchange.value + ":" for code, exchange in EXCHANGE_BY_TYPE.items()}
_KEYS: dict[bytes, str] = {}  # exchange byte + raw token -> "NSE:2885"; the feed sees few distinct tokens
_KEYS_MAX = 20_000


class FrameError(ValueError):
    """A binary frame that is not a valid LTP/QUOTE/SNAP_QUOTE tick."""


def _new_key(raw: bytes) -> str:
    """The instrument key for an exchange byte + 25-byte NUL-padded token, remembered."""
    prefix = _KEY_PREFIX.get(raw[:1])
    if prefix is None:
        raise FrameError(f"unknown exchange type {raw[0]} in tick frame")
    token = raw[1:]
    end = token.find(b"\0")
    try:
        key = prefix + (token if end < 0 else token[:end]).decode("ascii")
    except UnicodeDecodeError:
        raise FrameError(f"token {token!r} in tick frame is not ASCII") from None
    if len(_KEYS) >= _KEYS_MAX:  # a stream of made-up tokens must not grow memory forever
        _KEYS.clear()
    _KEYS[raw] = key
    return key


def _snap_depth(frame: bytes) -> tuple[tuple[DepthLevel, ...], tuple[DepthLevel, ...]]:
    """Best five bids and asks of a SNAP_QUOTE frame: the first five packets are bids, best first."""
    v = _DEPTH_UNPACK(frame, _DEPTH_OFFSET)
    n, d = tuple.__new__, DepthLevel  # DepthLevel(...) without its Python-level __new__: half the time
    return ((n(d, (v[2], v[1], v[3])), n(d, (v[6], v[5], v[7])), n(d, (v[10], v[9], v[11])),
             n(d, (v[14], v[13], v[15])), n(d, (v[18], v[17], v[19]))),
            (n(d, (v[22], v[21], v[23])), n(d, (v[26], v[25], v[27])), n(d, (v[30], v[29], v[31])),
             n(d, (v[34], v[33], v[35])), n(d, (v[38], v[37], v[39]))))


class SnapQuoteTick(PackedTick):
    """A Tick from a SNAP_QUOTE frame; its best-five depth is decoded from the frame on first use."""

    __slots__ = ()
    decode_depth = staticmethod(_snap_depth)


def decode_tick(frame: bytes) -> Tick:
    """The domain Tick for one binary tick frame. Raises FrameError for short/unknown frames.

    Prices become integer paise; ``timestamp`` is the exchange time in epoch seconds.
    Trailing bytes beyond the mode's size are ignored, as the protocol allows. A SNAP_QUOTE tick
    keeps the frame (as immutable bytes) and reads its depth from it when ``bids``/``asks`` are
    first read.
    """
    if not frame:
        raise FrameError("empty tick frame")
    mode = frame[0]
    size = FRAME_SIZES.get(mode)
    if size is None:
        raise FrameError(f"unknown subscription mode {mode} in tick frame")
    if len(frame) < size:
        raise FrameError(f"tick frame of mode {mode} is {len(frame)} bytes, expected {size}")
    if frame[1] == CURRENCY_TYPE:
        return _decode_currency(frame, mode)
    if mode == SNAP_QUOTE:
        if type(frame) is not bytes:  # the tick keeps the frame: it must not change under it
            frame = bytes(frame)
        v = _FAST_SNAP(frame)
        return packed_tick(SnapQuoteTick, (_KEYS.get(v[0]) or _new_key(v[0]), v[2], v[1] / 1000.0, v[3], v[5], v[4],
                                           v[8], v[9], v[10], v[11], v[12], 0, int(v[6]), int(v[7]), None, None,
                                           frame))
    if mode == QUOTE:
        v = _FAST_QUOTE(frame)
        return packed_tick(PackedTick, (_KEYS.get(v[0]) or _new_key(v[0]), v[2], v[1] / 1000.0, v[3], v[5], v[4],
                                        v[8], v[9], v[10], v[11], 0, 0, int(v[6]), int(v[7]), (), (), None))
    v = _FAST_LTP(frame)
    return packed_tick(PackedTick, (_KEYS.get(v[0]) or _new_key(v[0]), v[2], v[1] / 1000.0, 0, 0, 0, 0, 0, 0, 0, 0,
                                    0, 0, 0, (), (), None))


def _to_paise(units: int) -> int:
    """10^-7 rupee units to paise, half away from zero."""
    q, r = divmod(abs(units), _CURRENCY_UNITS_PER_PAISA)
    q += r * 2 >= _CURRENCY_UNITS_PER_PAISA
    return q if units >= 0 else -q


def _decode_currency(frame: bytes, mode: int) -> Tick:
    """CDS ticks: same layout, prices in 10^-7 rupee (four decimals) rounded to paise."""
    p = _to_paise
    v = STRUCTS[mode].unpack_from(frame)
    key = _KEYS.get(frame[1:27]) or _new_key(frame[1:27])
    if mode == LTP:
        return Tick(key, p(v[5]), v[4] / 1000.0)
    fields = dict(last_quantity=v[6], volume=v[8], average_price=p(v[7]), open=p(v[11]), high=p(v[12]),
                  low=p(v[13]), close=p(v[14]), total_buy_quantity=int(v[9]), total_sell_quantity=int(v[10]))
    if mode == SNAP_QUOTE:
        levels = [DepthLevel(p(v[20 + 4 * i]), v[19 + 4 * i], v[21 + 4 * i]) for i in range(10)]
        fields.update(open_interest=v[16], bids=tuple(levels[:5]), asks=tuple(levels[5:]))
    return Tick(key, p(v[5]), v[4] / 1000.0, **fields)


def snap_quote_extras(frame: bytes) -> dict[str, int]:
    """Fields of a SNAP_QUOTE frame that the domain Tick has no place for (paise, epoch seconds)."""
    v = _SNAP_UNPACK(frame)
    return {"last_traded_time": v[15], "upper_circuit": v[58], "lower_circuit": v[59],
            "week52_high": v[60], "week52_low": v[61]}


# --- encoding (the sandbox and the tests build frames with the same layout) ----------------------------
def encode_tick(tick: Tick, mode: int, *, sequence: int = 0, last_traded_time: int | None = None,
                upper_circuit: int = 0, lower_circuit: int = 0, week52_high: int = 0, week52_low: int = 0) -> bytes:
    """One binary frame for ``tick`` in ``mode`` (prices paise; not for CDS, whose unit differs)."""
    exchange, token = tick.key.split(":", 1)
    exchange_type = TYPE_BY_EXCHANGE[Exchange(exchange)]
    head = (mode, exchange_type, token.encode("ascii"), sequence, int(round(tick.timestamp * 1000)), tick.ltp)
    if mode == LTP:
        return STRUCTS[LTP].pack(*head)
    quote = (tick.last_quantity, tick.average_price, tick.volume, float(tick.total_buy_quantity),
             float(tick.total_sell_quantity), tick.open, tick.high, tick.low, tick.close)
    if mode == QUOTE:
        return STRUCTS[QUOTE].pack(*head, *quote)
    depth: list[int] = []
    for flag, levels in ((1, tick.bids), (0, tick.asks)):
        padded = list(levels[:5]) + [DepthLevel(0, 0, 0)] * (5 - len(levels[:5]))
        for level in padded:
            depth += [flag, level.quantity, level.price, level.orders]
    ltt = int(tick.timestamp) if last_traded_time is None else last_traded_time
    return STRUCTS[SNAP_QUOTE].pack(*head, *quote, ltt, tick.open_interest, 0.0, *depth,
                                    upper_circuit, lower_circuit, week52_high, week52_low)
