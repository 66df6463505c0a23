"""decode_tick on fixture frames, and agreement with the official client's parser on random valid frames."""

from __future__ import annotations

import copy
import os
import pickle
import re
import struct
from dataclasses import FrozenInstanceError, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from angelone_helpers import frame
from angelone_official import OUTSIDE_ATTEMPTS, import_official
from terminal.brokers.angelone import FrameError, decode_tick
from terminal.brokers.angelone.decoder import snap_quote_extras
from terminal.domain import DepthLevel, Tick
from terminal.domain.market import TICK_FIELDS


def test_ltp_frame_reliance():
    tick = decode_tick(frame("ltp_reliance_nse.hex"))
    assert tick.key == "NSE:2885"
    assert tick.ltp == 141840  # Rs 1418.40 in paise
    assert tick.timestamp == 1746171226.0
    assert tick.bids == () and tick.volume == 0


def test_quote_frame_bse():
    tick = decode_tick(frame("quote_reliance_bse.hex"))
    assert tick.key == "BSE:500325"
    assert (tick.ltp, tick.last_quantity, tick.average_price, tick.volume) == (286315, 1, 286121, 31509)
    assert (tick.total_buy_quantity, tick.total_sell_quantity) == (33072, 187950)
    assert (tick.open, tick.high, tick.low, tick.close) == (285105, 287390, 284805, 285075)
    assert tick.timestamp == 1710909637.0


def test_snap_quote_infy_depth_the_right_way_round():
    tick = decode_tick(frame("snap_quote_infy.hex"))
    assert tick.key == "NSE:1594" and tick.ltp == 190735 and tick.volume == 2129562
    assert tick.bids == (DepthLevel(190700, 2, 2), DepthLevel(190650, 7, 1), DepthLevel(190645, 47, 3),
                         DepthLevel(190640, 103, 3), DepthLevel(190635, 170, 7))
    assert tick.asks == (DepthLevel(190735, 43, 3), DepthLevel(190740, 83, 3), DepthLevel(190745, 99, 2),
                         DepthLevel(190750, 205, 6), DepthLevel(190755, 354, 9))
    assert tick.best_bid < tick.best_ask
    assert snap_quote_extras(frame("snap_quote_infy.hex")) == {
        "last_traded_time": 1735201464, "upper_circuit": 209995, "lower_circuit": 171815,
        "week52_high": 200645, "week52_low": 135835}


def test_snap_quote_option_with_open_interest():
    tick = decode_tick(frame("snap_quote_nifty_option.hex"))
    assert tick.key == "NFO:43650" and tick.ltp == 10550 and tick.open_interest == 8725500
    assert tick.bids[0] == DepthLevel(10545, 150, 3) and tick.asks[0] == DepthLevel(10550, 75, 1)
    assert [l.price for l in tick.bids] == sorted((l.price for l in tick.bids), reverse=True)
    assert snap_quote_extras(frame("snap_quote_nifty_option.hex"))["lower_circuit"] == 5


def test_index_ltp_with_sequence_zero():
    tick = decode_tick(frame("ltp_index_nifty.hex"))
    assert tick.key == "NSE:99926000" and tick.ltp == 2441075


def test_currency_prices_come_from_ten_to_the_seventh():
    tick = decode_tick(frame("ltp_currency.hex"))
    assert tick.key == "CDS:1"
    assert tick.ltp == 8346  # 834575000 x 10^-7 rupee = Rs 83.4575 -> 8345.75 paise, rounded half up


@pytest.mark.parametrize("data, message", [
    (frame("ltp_truncated_50.hex"), "50 bytes"),
    (b"", "empty"),
    (b"\x00", "mode 0"),
    (bytes([9]) + bytes(60), "mode 9"),
    (bytes([1, 7]) + bytes(49), "exchange type 7"),
])
def test_bad_frames_are_refused(data, message):
    with pytest.raises(FrameError, match=message):
        decode_tick(data)


def test_trailing_bytes_are_ignored():
    assert decode_tick(frame("ltp_reliance_nse.hex") + b"\x00\x01").ltp == 141840


# --- agreement with the official parser --------------------------------------------------------------
@pytest.fixture(scope="module")
def official_parser(tmp_path_factory):
    _, SmartWebSocketV2 = import_official(tmp_path_factory.mktemp("official"))
    cwd = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("official-logs"))
    try:
        client = SmartWebSocketV2("jwt", "key", "client", "feed")
    finally:
        os.chdir(cwd)
    assert OUTSIDE_ATTEMPTS == [] or all("ipify" in str(a) for a in OUTSIDE_ATTEMPTS)
    return client._parse_binary_data


EXCHANGE_TYPES = [1, 2, 3, 4, 5]
price = st.integers(0, 10**10)
qty = st.integers(0, 10**9)


@st.composite
def snap_frames(draw):
    head = [3, draw(st.sampled_from(EXCHANGE_TYPES)),
            draw(st.text("0123456789", min_size=1, max_size=25)).encode(), draw(st.integers(0, 2**62)),
            draw(st.integers(0, 2**45)), draw(price)]
    quote = [draw(qty), draw(price), draw(qty), float(draw(qty)), float(draw(qty)),
             draw(price), draw(price), draw(price), draw(price)]
    depth = []
    for flag in [1] * 5 + [0] * 5:
        depth += [flag, draw(qty), draw(price), draw(st.integers(0, 32767))]
    tail = [draw(st.integers(0, 2**40)), draw(qty), draw(st.floats(allow_nan=False))] + depth + [
        draw(price), draw(price), draw(price), draw(price)]
    return struct.pack("<BB25sqqqqqqddqqqqqqd" + "HqqH" * 10 + "qqqq", *head, *quote, *tail)


@settings(max_examples=200, deadline=None)
@given(snap_frames())
def test_snap_quote_agrees_with_official_parser(official_parser, data):
    ours, theirs = decode_tick(data), official_parser(data)
    assert ours.key.split(":")[1] == theirs["token"]
    assert ours.ltp == theirs["last_traded_price"]
    assert ours.timestamp == theirs["exchange_timestamp"] / 1000
    assert ours.last_quantity == theirs["last_traded_quantity"]
    assert ours.average_price == theirs["average_traded_price"]
    assert ours.volume == theirs["volume_trade_for_the_day"]
    assert ours.total_buy_quantity == int(theirs["total_buy_quantity"])
    assert ours.total_sell_quantity == int(theirs["total_sell_quantity"])
    assert (ours.open, ours.high, ours.low, ours.close) == (
        theirs["open_price_of_the_day"], theirs["high_price_of_the_day"], theirs["low_price_of_the_day"],
        theirs["closed_price"])
    assert ours.open_interest == theirs["open_interest"]
    assert [(l.price, l.quantity, l.orders) for l in ours.bids] == [
        (d["price"], d["quantity"], d["no of orders"]) for d in theirs["best_5_buy_data"]]
    assert [(l.price, l.quantity, l.orders) for l in ours.asks] == [
        (d["price"], d["quantity"], d["no of orders"]) for d in theirs["best_5_sell_data"]]
    extras = snap_quote_extras(data)
    assert extras["upper_circuit"] == theirs["upper_circuit_limit"]
    assert extras["lower_circuit"] == theirs["lower_circuit_limit"]
    assert extras["week52_high"] == theirs["52_week_high_price"]
    assert extras["week52_low"] == theirs["52_week_low_price"]
    assert extras["last_traded_time"] == theirs["last_traded_timestamp"]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([1, 2]), st.sampled_from(EXCHANGE_TYPES), st.text("0123456789", min_size=1, max_size=25),
       st.integers(0, 2**62), st.integers(0, 2**45), price, st.lists(price, min_size=9, max_size=9))
def test_ltp_and_quote_agree_with_official_parser(official_parser, mode, exch, token, seq, ts, ltp, rest):
    if mode == 1:
        data = struct.pack("<BB25sqqq", mode, exch, token.encode(), seq, ts, ltp)
    else:
        data = struct.pack("<BB25sqqqqqqddqqqq", mode, exch, token.encode(), seq, ts, ltp, rest[0], rest[1], rest[2],
                           float(rest[3]), float(rest[4]), *rest[5:])
    ours, theirs = decode_tick(data), official_parser(data)
    assert ours.key == f"{['', 'NSE', 'NFO', 'BSE', 'BFO', 'MCX'][exch]}:{theirs['token']}"
    assert ours.ltp == theirs["last_traded_price"] and ours.timestamp == theirs["exchange_timestamp"] / 1000
    if mode == 2:
        assert (ours.last_quantity, ours.average_price, ours.volume, ours.close) == (
            theirs["last_traded_quantity"], theirs["average_traded_price"], theirs["volume_trade_for_the_day"],
            theirs["closed_price"])


# --- the decoded tick is a Tick in every way a reader can see ----------------------------------------
def _plain(tick: Tick) -> Tick:
    return Tick(*(getattr(tick, name) for name in TICK_FIELDS))


@pytest.mark.parametrize("case", ["ltp_reliance_nse.hex", "quote_reliance_bse.hex", "snap_quote_infy.hex"])
def test_decoded_tick_equals_and_hashes_like_a_plain_tick(case):
    tick = decode_tick(frame(case))
    plain = _plain(tick)
    assert isinstance(tick, Tick) and type(plain) is Tick
    assert tick == plain and plain == tick and hash(tick) == hash(plain)
    assert tick != replace(plain, ltp=plain.ltp + 5)
    assert repr(tick).endswith(repr(plain)[len("Tick"):])


def test_decoded_tick_is_immutable():
    tick = decode_tick(frame("snap_quote_infy.hex"))
    for name in ("ltp", "bids", "_values"):
        with pytest.raises(FrozenInstanceError):
            setattr(tick, name, 1)
    with pytest.raises(FrozenInstanceError):
        del tick.ltp
    assert tick.ltp == 190735 and tick.bids[0] == DepthLevel(190700, 2, 2)


def test_depth_is_read_from_a_private_copy_of_the_frame():
    data = bytearray(frame("snap_quote_infy.hex"))
    tick = decode_tick(data)
    data[147:347] = bytes(200)  # the socket reuses its buffer before anyone reads the depth
    assert tick.best_bid == 190700 and tick.asks[4] == DepthLevel(190755, 354, 9)
    assert tick.bids is tick.bids  # decoded once, then kept


def test_replace_copy_and_pickle_give_plain_ticks():
    tick = decode_tick(frame("snap_quote_nifty_option.hex"))
    moved = replace(tick, ltp=10600)
    assert type(moved) is Tick and moved.ltp == 10600 and moved.bids == tick.bids and moved.key == tick.key
    for clone in (copy.copy(tick), copy.deepcopy(tick), pickle.loads(pickle.dumps(tick))):
        assert type(clone) is Tick and clone == tick


def test_depth_levels_are_named_immutable_tuples():
    level = decode_tick(frame("snap_quote_infy.hex")).bids[1]
    assert (level.price, level.quantity, level.orders) == (190650, 7, 1)
    assert DepthLevel(5, 6) == DepthLevel(price=5, quantity=6, orders=0)
    with pytest.raises(AttributeError):
        level.price = 1  # type: ignore[misc]


# --- frames no exchange sends: FrameError naming the fault, never a Tick ------------------------------
SNAP_FIELDS = struct.Struct("<BB25sqqqqqqddqqqqqqd" + "HqqH" * 10 + "qqqq")
_INFY = list(SNAP_FIELDS.unpack(frame("snap_quote_infy.hex")))
# index in _INFY of each vetted field: 5 LTP, 6 LTQ, 7 ATP, 8 volume, 9/10 total buy/sell (f64), 11-14 OHLC,
# 15 last traded time, 16 OI, 18 + 4 * level + 1/2: depth quantity/price
DEPTH_QTY, DEPTH_PRICE = 19, 20


def snap_with(**changes: object) -> bytes:
    values = list(_INFY)
    for name, value in changes.items():
        values[int(name[1:])] = value
    return SNAP_FIELDS.pack(*values)


@pytest.mark.parametrize("changes, message", [
    ({"v5": -190735}, "last price -190735"),
    ({"v4": -1}, "exchange time -1"),
    ({"v8": -5}, "volume -5"),
    ({"v9": -1.0}, "total buy quantity -1.0"),
    ({"v10": float("nan")}, "total sell quantity nan"),
    ({"v9": float("inf")}, "total buy quantity inf"),
    ({"v9": 1e300}, "total buy quantity 1e+300"),
    ({"v13": -190230}, "low -190230"),
    ({"v16": -8725500}, "open interest -8725500"),
    ({"v15": -1}, "last traded time -1"),
    ({f"v{DEPTH_QTY}": -2}, "bid 1 quantity -2"),
    ({f"v{DEPTH_PRICE + 4 * 7}": -190745}, "ask 3 price -190745"),
    ({f"v{DEPTH_QTY + 4 * 9}": -(2 ** 63)}, "ask 5 quantity"),
])
def test_impossible_values_are_refused_by_name(changes, message):
    with pytest.raises(FrameError, match=re.escape(message)):
        decode_tick(snap_with(**changes))


@pytest.mark.parametrize("token", [b"", b"\x01\x02", b"28 85", b"2885\x00\x00x", b"\xe0\xa4\x95", b"NIFTY-I", b"\x7f"])
def test_tokens_that_are_not_letters_and_digits_are_refused(token):
    data = bytes([1, 1]) + token.ljust(25, b"\0")[:25] + bytes(24)
    with pytest.raises(FrameError, match="token"):
        decode_tick(data)


def test_a_token_of_letters_and_digits_fills_all_25_bytes():
    token = b"ABCDEFGHIJKLMNOPQRSTUVWX9"
    assert decode_tick(bytes([1, 2]) + token + bytes(24)).key == "NFO:" + token.decode()


@pytest.mark.parametrize("name, offset", [("ltp_reliance_nse.hex", 43), ("quote_reliance_bse.hex", 107),
                                          ("ltp_currency.hex", 43)])
def test_negative_prices_are_refused_in_every_mode_and_for_currency(name, offset):
    data = bytearray(frame(name))
    data[offset:offset + 8] = (-1).to_bytes(8, "little", signed=True)
    with pytest.raises(FrameError, match=r"-1\b"):
        decode_tick(bytes(data))


def test_quote_with_a_nan_total_is_a_frame_error():
    data = bytearray(frame("quote_reliance_bse.hex"))
    data[75:83] = struct.pack("<d", float("nan"))
    with pytest.raises(FrameError, match="total buy quantity nan"):
        decode_tick(bytes(data))


def test_messages_say_which_mode_and_size():
    with pytest.raises(FrameError, match=r"SNAP_QUOTE tick frame \(mode 3\) is 378 bytes, expected 379"):
        decode_tick(frame("snap_quote_infy.hex")[:-1])
    with pytest.raises(FrameError, match="unknown subscription mode 4"):
        decode_tick(bytes([4]) + bytes(442))  # DEPTH-20, deprecated: not subscribed, so not expected


def test_a_snap_quote_in_a_bytearray_or_memoryview_decodes_like_bytes():
    data = frame("snap_quote_infy.hex")
    assert decode_tick(bytearray(data)) == decode_tick(memoryview(data)) == decode_tick(data)


def test_snap_quote_extras_of_a_short_frame_is_a_frame_error():
    with pytest.raises(FrameError, match="378 bytes"):
        snap_quote_extras(frame("snap_quote_infy.hex")[:-1])


def test_the_sign_slices_read_the_sign_byte_of_every_vetted_field_and_no_other():
    from terminal.brokers.angelone import decoder

    for mode, slices in decoder._SIGN_SLICES.items():
        read = sorted(i for s in slices for i in range(decoder.FRAME_SIZES[mode])[s])
        assert read == sorted(at + 7 for at, _ in decoder._SIGNED_FIELDS[mode]), mode
    assert len(decoder._SIGNED_FIELDS[decoder.SNAP_QUOTE]) == 13 + 20  # header, LTT, OI; 10 depth levels x 2
