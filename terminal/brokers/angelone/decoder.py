"""Decoder for SmartAPI WebSocket 2.0 binary ticks (LTP 51 B, QUOTE 123 B, SNAP_QUOTE 379 B).

Every frame is little-endian with fields at fixed offsets; byte 0 is the subscription mode, so
one precompiled ``struct.Struct`` per mode is picked by a table lookup on that byte. Prices on
the wire are integer paise (for CDS currency, exchangeType 13, units of 10^-7 rupee, rounded
here to the nearest paisa). Best-five depth: the first five 20-byte packets are bids (best
first), the last five asks (best first), as the docs and the Java client read them.

A frame no exchange could send never becomes a Tick: decode_tick raises FrameError (and only
FrameError) for an unknown mode, a frame shorter than its mode, an unknown exchange type, a
token that is not ASCII letters/digits padded with NULs, a negative exchange time, price,
quantity, open interest or depth figure, and a total buy/sell quantity that is not a finite
number below 2^63. The sign checks read only the sign bytes (three strided slices for a
SNAP_QUOTE), so its depth is vetted without being decoded.
"""

from __future__ import annotations

import struct

from terminal.domain import DepthLevel, Exchange, Tick
from terminal.domain.market import PackedTick, packed_tick

LTP, QUOTE, SNAP_QUOTE = 1, 2, 3
MODE_NAMES = {LTP: "LTP", QUOTE: "QUOTE", SNAP_QUOTE: "SNAP_QUOTE"}

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
_SNAP_SIZE = FRAME_SIZES[SNAP_QUOTE]
_SNAP_UNPACK = STRUCTS[SNAP_QUOTE].unpack_from

# The fast paths read only what the Tick keeps, with the exchange byte and token as one 26-byte key
# (SNAP_QUOTE: mode, exchange and token as one 27-byte key; skipped: sequence, last traded time, OI
# change %, circuits and 52-week range; the depth is read from the frame when first asked for).
# Same offsets as STRUCTS.
_FAST_LTP = struct.Struct("<x26s8xqq").unpack_from  # exchange+token, exchange time, LTP
_FAST_QUOTE = struct.Struct("<x26s8xqqqqqddqqqq").unpack_from  # + LTQ, ATP, volume, TBQ, TSQ, O, H, L, C
_FAST_SNAP = struct.Struct("<27s8xqqqqqddqqqq8xq").unpack_from  # mode+exchange+token, as QUOTE, + OI
_DEPTH_OFFSET = STRUCTS[QUOTE].size + 24  # 147: after LTT, OI and OI change %
_DEPTH_UNPACK = struct.Struct("<" + "HqqH" * 10).unpack_from  # (flag, quantity, price paise, orders) x10

# --- what no exchange sends --------------------------------------------------------------------------
# Fields that must not be negative, by offset, per mode. Sequence, OI change % and the circuits and
# 52-week range are not in the Tick and are not vetted.
_SIGNED_FIELDS: dict[int, tuple[tuple[int, str], ...]] = {LTP: ((35, "exchange time"), (43, "last price"))}
_SIGNED_FIELDS[QUOTE] = _SIGNED_FIELDS[LTP] + (
    (51, "last quantity"), (59, "average price"), (67, "volume"), (75, "total buy quantity"),
    (83, "total sell quantity"), (91, "open"), (99, "high"), (107, "low"), (115, "close"))
_SIGNED_FIELDS[SNAP_QUOTE] = _SIGNED_FIELDS[QUOTE] + ((123, "last traded time"), (131, "open interest")) + tuple(
    (_DEPTH_OFFSET + 20 * i + at, f"{'bid' if i < 5 else 'ask'} {i % 5 + 1} {what}")
    for i in range(10) for at, what in ((2, "quantity"), (10, "price")))
_FLOAT_FIELDS = frozenset((75, 83))  # total buy/sell quantity are float64 on the wire
_QUANTITY_LIMIT = 2.0 ** 63  # a float total quantity at or above this (or NaN) is no quantity

# Every vetted field is 8 bytes, little-endian: its sign is the top bit of its last byte, for int64 and
# float64 alike. So "nothing negative" is "the bytes at these strided slices are all ASCII (< 0x80)":
# three C-level slices and isascii() calls vet all 33 fields of a SNAP_QUOTE, depth included, without
# decoding the depth.
_SNAP_HEAD_SIGNS = slice(42, 139, 8)  # exchange time .. open interest, 13 fields 8 bytes apart
_SNAP_QTY_SIGNS = slice(_DEPTH_OFFSET + 9, _DEPTH_OFFSET + 200, 20)  # the ten depth quantities
_SNAP_PRICE_SIGNS = slice(_DEPTH_OFFSET + 17, _DEPTH_OFFSET + 200, 20)  # the ten depth prices
_SIGN_SLICES: dict[int, tuple[slice, ...]] = {  # exactly the sign bytes of _SIGNED_FIELDS (a test checks)
    LTP: (slice(42, 51, 8),), QUOTE: (slice(42, 123, 8),),
    SNAP_QUOTE: (_SNAP_HEAD_SIGNS, _SNAP_QTY_SIGNS, _SNAP_PRICE_SIGNS),
}

# What packed_tick does, for the hot path (the slot's own setter bypasses the frozen __setattr__).
_new_tick = object.__new__
_set_values = PackedTick._values.__set__  # type: ignore[attr-defined]

_KEY_PREFIX = {bytes([code]): exchange.value + ":" for code, exchange in EXCHANGE_BY_TYPE.items()}
_KEYS: dict[bytes, str] = {}  # exchange byte + raw token -> "NSE:2885"; the feed sees few distinct tokens
# Mode byte 3 + exchange byte (not CDS) + raw token -> key: the first 27 bytes of a SNAP_QUOTE frame whose
# mode, exchange and token were vetted once. A hit there is the hot path's only check of those bytes.
_SNAP_KEYS: dict[bytes, str] = {}
_KEYS_MAX = 20_000


class FrameError(ValueError):
    """A binary frame that is not a valid LTP/QUOTE/SNAP_QUOTE tick. The message says what is wrong."""


def _new_key(raw: bytes) -> str:
    """The instrument key for an exchange byte + 25-byte NUL-padded token, vetted and remembered.

    Only vetted keys are remembered, so a cached key needs no second look.
    """
    prefix = _KEY_PREFIX.get(raw[:1])
    if prefix is None:
        raise FrameError(f"unknown exchange type {raw[0]} in tick frame (known: "
                         f"{', '.join(str(code) for code in EXCHANGE_BY_TYPE)})")
    padded = raw[1:]
    end = padded.find(b"\0")
    token = padded if end < 0 else padded[:end]
    if not token.isalnum() or padded[len(token):].strip(b"\0"):  # bytes.isalnum: ASCII letters/digits only
        raise FrameError(f"token {padded.rstrip(bytes(1))!r} in tick frame is not ASCII letters and digits "
                         "padded with NULs")
    key = prefix + token.decode("ascii")
    if len(_KEYS) >= _KEYS_MAX:  # a stream of made-up tokens must not grow memory forever
        _KEYS.clear()
    _KEYS[raw] = key
    return key


def _impossible(frame: bytes, mode: int) -> FrameError:
    """Why a frame that failed the sign or quantity check is impossible, naming the first bad field."""
    for at, name in _SIGNED_FIELDS[mode]:
        value = struct.unpack_from("<d" if at in _FLOAT_FIELDS else "<q", frame, at)[0]
        if value < 0 or frame[at + 7] & 0x80 or (at in _FLOAT_FIELDS and not value < _QUANTITY_LIMIT):
            return FrameError(f"{MODE_NAMES[mode]} tick frame has {name} {value!r}: no exchange sends that")
    return FrameError(f"{MODE_NAMES[mode]} tick frame has an impossible value")  # not reached: the checks agree


def _snap_depth(frame: bytes) -> tuple[tuple[DepthLevel, ...], tuple[DepthLevel, ...]]:
    """Best five bids and asks of a SNAP_QUOTE frame: the first five packets are bids, best first.

    One precompiled unpack of the 200 depth bytes; the ten levels are built without DepthLevel's
    Python-level ``__new__`` (half the time). The frame was vetted when decoded: nothing negative.
    """
    v = _DEPTH_UNPACK(frame, _DEPTH_OFFSET)
    n, d = tuple.__new__, DepthLevel
    return ((n(d, (v[2], v[1], v[3])), n(d, (v[6], v[5], v[7])), n(d, (v[10], v[9], v[11])),
             n(d, (v[14], v[13], v[15])), n(d, (v[18], v[17], v[19]))),
            (n(d, (v[22], v[21], v[23])), n(d, (v[26], v[25], v[27])), n(d, (v[30], v[29], v[31])),
             n(d, (v[34], v[33], v[35])), n(d, (v[38], v[37], v[39]))))


class SnapQuoteTick(PackedTick):
    """A Tick from a SNAP_QUOTE frame; its best-five depth is decoded from the frame on first use."""

    __slots__ = ()
    decode_depth = staticmethod(_snap_depth)


def decode_tick(frame: bytes) -> Tick:
    """The domain Tick for one binary tick frame. Raises FrameError, and nothing else, for a frame
    that is short, of an unknown mode or exchange, or carries a bad token or an impossible value.

    Prices become integer paise; ``timestamp`` is the exchange time in epoch seconds.
    Trailing bytes beyond the mode's size are ignored, as the protocol allows. A SNAP_QUOTE tick
    keeps the frame (as immutable bytes) and reads its depth from it when ``bids``/``asks`` are
    first read; the depth is vetted here, so that read cannot fail.
    """
    try:
        if len(frame) >= _SNAP_SIZE and type(frame) is bytes:  # bytes: the tick keeps the frame, it must not change
            raw, ms, ltp, last_qty, avg, volume, buys, sells, o, h, lo, c, oi = _FAST_SNAP(frame)  # one unpack
            key = _SNAP_KEYS.get(raw)
            if key is not None:  # the hot path: a SNAP_QUOTE (not CDS) of an exchange and token vetted before
                if not (frame[_SNAP_HEAD_SIGNS].isascii() and frame[_SNAP_QTY_SIGNS].isascii()
                        and frame[_SNAP_PRICE_SIGNS].isascii() and buys < _QUANTITY_LIMIT > sells):
                    raise _impossible(frame, SNAP_QUOTE)
                tick = _new_tick(SnapQuoteTick)  # packed_tick inlined: a call less on every frame
                _set_values(tick, (key, ltp, ms / 1000.0, last_qty, volume, avg, o, h, lo, c, oi, 0,
                                   int(buys), int(sells), None, None, frame))
                return tick
        return _decode_checked(frame)
    except FrameError:
        raise
    except (struct.error, UnicodeError, ValueError, OverflowError, IndexError) as exc:  # a gap in the checks:
        raise FrameError(f"unreadable tick frame of {len(frame)} bytes: {exc}") from exc  # still a frame error


def _decode_checked(frame: bytes) -> Tick:
    """LTP and QUOTE frames, CDS frames of any mode, a SNAP_QUOTE's first frame, and every bad frame:
    each check in turn."""
    if not frame:
        raise FrameError("empty tick frame")
    if type(frame) is not bytes:  # a bytearray or memoryview: its slices must hash, a kept frame must not change
        frame = bytes(frame)
    mode = frame[0]
    size = FRAME_SIZES.get(mode)
    if size is None:
        raise FrameError(f"unknown subscription mode {mode} in tick frame (1 LTP, 2 QUOTE, 3 SNAP_QUOTE)")
    if len(frame) < size:
        raise FrameError(f"{MODE_NAMES[mode]} tick frame (mode {mode}) is {len(frame)} bytes, expected {size}")
    key = _KEYS.get(frame[1:27]) or _new_key(frame[1:27])
    for signs in _SIGN_SLICES[mode]:
        if not frame[signs].isascii():
            raise _impossible(frame, mode)
    if frame[1] == CURRENCY_TYPE:
        return _decode_currency(frame, mode, key)
    if mode == QUOTE:
        v = _FAST_QUOTE(frame)
        if not v[6] < _QUANTITY_LIMIT > v[7]:
            raise _impossible(frame, mode)
        return packed_tick(PackedTick, (key, v[2], v[1] / 1000.0, v[3], v[5], v[4], v[8], v[9], v[10], v[11], 0, 0,
                                        int(v[6]), int(v[7]), (), (), None))
    if mode == LTP:
        v = _FAST_LTP(frame)
        return packed_tick(PackedTick, (key, v[2], v[1] / 1000.0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, (), (), None))
    # A SNAP_QUOTE of a vetted exchange and token, seen for the first time (or in a bytearray): remember
    # its first 27 bytes, then the hot path decodes it (and checks its values).
    if len(_SNAP_KEYS) >= _KEYS_MAX:  # a stream of made-up tokens must not grow memory forever
        _SNAP_KEYS.clear()
    _SNAP_KEYS[frame[:27]] = key
    return decode_tick(frame)


def _to_paise(units: int) -> int:
    """10^-7 rupee units to paise, half up (the units are vetted non-negative)."""
    q, r = divmod(units, _CURRENCY_UNITS_PER_PAISA)
    return q + (r * 2 >= _CURRENCY_UNITS_PER_PAISA)


def _decode_currency(frame: bytes, mode: int, key: str) -> Tick:
    """CDS ticks: same layout, prices in 10^-7 rupee (four decimals) rounded to paise."""
    p = _to_paise
    v = STRUCTS[mode].unpack_from(frame)
    if mode == LTP:
        return Tick(key, p(v[5]), v[4] / 1000.0)
    if not v[9] < _QUANTITY_LIMIT > v[10]:
        raise _impossible(frame, mode)
    fields = dict(last_quantity=v[6], volume=v[8], average_price=p(v[7]), open=p(v[11]), high=p(v[12]),
                  low=p(v[13]), close=p(v[14]), total_buy_quantity=int(v[9]), total_sell_quantity=int(v[10]))
    if mode == SNAP_QUOTE:
        levels = [DepthLevel(p(v[20 + 4 * i]), v[19 + 4 * i], v[21 + 4 * i]) for i in range(10)]
        fields.update(open_interest=v[16], bids=tuple(levels[:5]), asks=tuple(levels[5:]))
    return Tick(key, p(v[5]), v[4] / 1000.0, **fields)


def snap_quote_extras(frame: bytes) -> dict[str, int]:
    """Fields of a SNAP_QUOTE frame that the domain Tick has no place for (paise, epoch seconds).

    Raises FrameError for a frame too short to hold them.
    """
    try:
        v = _SNAP_UNPACK(frame)
    except struct.error as exc:
        raise FrameError(f"SNAP_QUOTE frame of {len(frame)} bytes, expected {_SNAP_SIZE}: {exc}") from None
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
