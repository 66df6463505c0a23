"""Hypothesis fuzzing of everything the Angel One adapter reads off the wire.

REST replies (all four shapes), the wire records' conversion to domain objects, order-update
frames, the market socket's JSON control/error frames and binary ticks. Arbitrary or mutated
input must end in one of the documented errors (BrokerError and its kinds; FrameError for a
binary tick) and must never produce a domain object with impossible values.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.feed_sink import RecordingSink

from terminal.brokers.angelone.config import AngelOneConfig
from terminal.brokers.angelone.decoder import FRAME_SIZES, FrameError, decode_tick
from terminal.brokers.angelone.http import Reply, parse_reply
from terminal.brokers.angelone.market_feed import MarketSocket
from terminal.brokers.angelone.order_updates import OrderUpdateSocket, parse_order_update
from terminal.brokers.angelone.schemas import (
    SchemaError, candles_from_wire, funds_from_wire, holding_from_wire, order_from_wire, position_from_wire,
    tick_from_quote, trade_from_wire,
)
from terminal.brokers.base import BrokerError
from terminal.domain import Candle, Order, OrderStatus, Side, Tick

RESOURCES = Path(__file__).resolve().parents[1] / "resources" / "angelone"
KEY = re.compile(r"^[A-Z]+:[A-Za-z0-9]+$")
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ACCOUNT = "angelone:A1"


def fixture(name: str) -> bytes:
    return (RESOURCES / name).read_bytes()


ORDER_RECORD = json.loads(fixture("order_book_cancelled.json"))["data"][0]
UPDATE_FRAME = json.loads(fixture("order_update_complete.json"))
POSITION_RECORD = json.loads(fixture("positions_spaced_minus.json"))["data"][0]
QUOTE_ITEM = {"exchange": "NSE", "tradingSymbol": "SBIN-EQ", "symbolToken": "3045", "ltp": 568.2, "open": 567.4,
              "high": 569.35, "low": 566.1, "close": 567.4, "lastTradeQty": 1, "exchFeedTime": "21-Jun-2023 10:46:10",
              "avgPrice": 567.83, "tradeVolume": 3556150, "opnInterest": 0, "totBuyQuan": 839549,
              "totSellQuan": 1284767, "depth": {"buy": [{"price": 568.2, "quantity": 511, "orders": 2}],
                                                "sell": [{"price": 568.25, "quantity": 3348, "orders": 5}]}}
TRADE_RECORD = {"exchange": "NSE", "producttype": "DELIVERY", "tradingsymbol": "ITC-EQ", "transactiontype": "BUY",
                "fillprice": "208.05", "fillsize": "1", "orderid": "201020000000095", "fillid": "50005750",
                "filltime": "13:27:53"}
HOLDING_RECORD = {"tradingsymbol": "TATASTEEL-EQ", "exchange": "NSE", "symboltoken": "3499", "quantity": 2,
                  "averageprice": 111.87, "ltp": 130.15}
FUNDS_RECORD = {"availablecash": "1000.00", "utiliseddebits": "0", "collateral": "0", "m2mrealized": "-5.5",
                "m2munrealized": "12"}
REPLY_BODIES = [fixture(n) for n in ("ag8001_token_expired.json", "login_failed_string_status.json",
                                     "login_invalid_totp.json", "order_book_cancelled.json", "place_order_empty_body.txt",
                                     "positions_spaced_minus.json", "quote_bad_token.json", "rate_limit_403.txt")]

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=12)
number_texts = st.sampled_from(["", " ", "-", "- 12.5", "1,234.5", "1e999999", "-1e30", "NaN", "inf", "0x10", "12..3",
                                "9" * 40, "-0", "١٢", "1_000"])
wire_values = json_values | number_texts


def mutated(record: dict):
    """A valid record with some fields replaced by anything, some removed, some junk keys added."""
    return st.tuples(
        st.dictionaries(st.sampled_from(sorted(record)), wire_values, max_size=len(record)),
        st.sets(st.sampled_from(sorted(record)), max_size=4),
        st.dictionaries(st.text(max_size=8), json_values, max_size=2),
    ).map(lambda parts: {**{k: v for k, v in record.items() if k not in parts[1]}, **parts[0], **parts[2]})


def byte_mutations(data: bytes):
    """``data`` cut, with bytes flipped or inserted."""
    return st.tuples(st.integers(0, len(data)), st.lists(st.tuples(st.integers(0, max(len(data) - 1, 0)),
                                                                   st.integers(0, 255)), max_size=6),
                     st.binary(max_size=8), st.integers(0, len(data))).map(
        lambda p: _mutate(data, *p))


def _mutate(data: bytes, cut: int, flips, insert: bytes, at: int) -> bytes:
    out = bytearray(data[:max(cut, 1)] if cut else data)
    for index, value in flips:
        if index < len(out):
            out[index] = value
    position = min(at, len(out))
    return bytes(out[:position]) + insert + bytes(out[position:])


# --- sanity of domain objects ----------------------------------------------------------------------------
def assert_sane_order(order: Order) -> None:
    assert isinstance(order, Order)
    assert KEY.match(order.instrument_key), order.instrument_key
    assert order.order_id.strip() and isinstance(order.side, Side) and isinstance(order.status, OrderStatus)
    assert order.quantity >= 0 and 0 <= order.filled_quantity <= order.quantity
    assert min(order.price, order.trigger_price, order.average_price) >= 0
    assert all(isinstance(v, int) and not isinstance(v, bool)
               for v in (order.quantity, order.filled_quantity, order.price, order.trigger_price, order.average_price))


def assert_sane_tick(tick: Tick, *, binary: bool = False) -> None:
    assert isinstance(tick, Tick)
    assert KEY.match(tick.key), tick.key
    values = (tick.ltp, tick.open, tick.high, tick.low, tick.close, tick.average_price, tick.volume,
              tick.last_quantity, tick.open_interest, tick.total_buy_quantity, tick.total_sell_quantity)
    assert all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    if not binary:  # REST quotes are checked field by field
        assert min(values) >= 0
    for level in tick.bids + tick.asks:
        assert isinstance(level.price, int) and isinstance(level.quantity, int)
        if not binary:
            assert level.price >= 0 and level.quantity >= 0 and level.orders >= 0


# --- REST replies: the four shapes ------------------------------------------------------------------------
def check_reply(status: int, body: bytes) -> None:
    try:
        reply = parse_reply(status, body)
    except BrokerError as exc:
        assert str(exc)
        return
    assert isinstance(reply, Reply) and isinstance(reply.ok, bool)
    assert isinstance(reply.message, str) and isinstance(reply.code, str)
    assert status < 500  # a 5xx never passes as an answer


@FUZZ
@given(st.integers(100, 599), st.binary(max_size=300))
def test_any_bytes_as_a_reply(status, body):
    check_reply(status, body)


@FUZZ
@given(st.integers(100, 599), st.sampled_from(REPLY_BODIES).flatmap(byte_mutations))
def test_mutated_replies_of_every_shape(status, body):
    check_reply(status, body)


@FUZZ
@given(st.integers(200, 599), st.dictionaries(st.sampled_from(["status", "success", "message", "errorcode",
                                                                "errorCode", "data"]), json_values))
def test_envelopes_with_any_field_values(status, envelope):
    check_reply(status, json.dumps(envelope).encode())


def test_a_cut_off_json_reply_is_an_unknown_outcome_not_a_refusal():
    from terminal.brokers.angelone.http import EmptyReplyError

    full = json.dumps({"status": True, "message": "SUCCESS", "errorcode": "",
                       "data": {"script": "SBIN-EQ", "orderid": "1", "uniqueorderid": "u"}}).encode()
    for cut in range(1, len(full)):
        try:
            parse_reply(200, full[:cut])
        except EmptyReplyError:
            continue
        raise AssertionError(f"cut at {cut} was read as an answer")


# --- wire records -> domain --------------------------------------------------------------------------------
def convert(reader, record, *args):
    try:
        return reader(record, *args)
    except SchemaError as exc:
        assert isinstance(exc, BrokerError) and str(exc)
        return None


@FUZZ
@given(mutated(ORDER_RECORD) | mutated(UPDATE_FRAME["orderData"]) | json_values)
def test_order_records(record):
    order = convert(order_from_wire, record, ACCOUNT)
    if order is not None:
        assert_sane_order(order)


@FUZZ
@given(mutated(QUOTE_ITEM) | json_values)
def test_quote_items(item):
    tick = convert(tick_from_quote, item)
    if tick is not None:
        assert_sane_tick(tick)


@FUZZ
@given(mutated(POSITION_RECORD) | mutated(TRADE_RECORD) | mutated(HOLDING_RECORD) | mutated(FUNDS_RECORD)
       | json_values)
def test_positions_trades_holdings_and_funds(record):
    position = convert(position_from_wire, record, ACCOUNT)
    if position is not None:
        assert KEY.match(position.instrument_key) and position.multiplier > 0
        assert all(isinstance(v, int) for v in (position.net_quantity, position.average_price, position.realised_pnl))
    trade = convert(trade_from_wire, record, ACCOUNT)
    if trade is not None:
        assert trade.quantity > 0 and trade.price >= 0 and isinstance(trade.side, Side)
    holding = convert(holding_from_wire, record, ACCOUNT)
    if holding is not None:
        assert KEY.match(holding.instrument_key) and holding.quantity >= 0 and holding.average_price >= 0
    funds = convert(funds_from_wire, record, ACCOUNT)
    if funds is not None:
        assert all(isinstance(v, int) for v in (funds.available_cash, funds.used_margin, funds.realised_pnl))


@FUZZ
@given(st.lists(st.lists(wire_values, min_size=5, max_size=7) | json_values, max_size=5) | json_values)
def test_candle_rows(rows):
    candles = convert(candles_from_wire, rows)
    for candle in candles or []:
        assert isinstance(candle, Candle) and candle.volume >= 0
        assert min(candle.open, candle.high, candle.low, candle.close) >= 0


# --- order-update frames -----------------------------------------------------------------------------------
CONFIG = AngelOneConfig(client_code="A1", api_key="k")
update_frames = (st.builds(lambda frame, data: json.dumps({**frame, "orderData": data}),
                           mutated({k: v for k, v in UPDATE_FRAME.items() if k != "orderData"}),
                           mutated(UPDATE_FRAME["orderData"]) | json_values)
                 | json_values.map(json.dumps) | st.text(max_size=80)
                 | st.sampled_from([json.dumps(UPDATE_FRAME)]).flatmap(
                     lambda t: byte_mutations(t.encode())).map(lambda b: b.decode("utf-8", "replace")))


@FUZZ
@given(update_frames)
def test_order_update_frames(text):
    try:
        update = parse_order_update(text, ACCOUNT)
    except SchemaError:
        update = None
    if update is not None:
        order, fill_id = update
        assert_sane_order(order)
        assert isinstance(fill_id, str)
    sink = RecordingSink()
    OrderUpdateSocket(CONFIG, lambda: None, ACCOUNT, sink, lambda: None).on_text(text)  # never raises
    for order in sink.orders:
        assert_sane_order(order)
    for trade in sink.trades:
        assert trade.quantity > 0


# --- the market socket's JSON control and error frames ------------------------------------------------------
control_frames = (st.sampled_from(["pong", "ping", "", "{", "null", "[]", '"E1002"'])
                  | st.dictionaries(st.sampled_from(["correlationID", "errorCode", "errorMessage", "action"]),
                                    json_values).map(json.dumps)
                  | json_values.map(json.dumps) | st.text(max_size=60))


@FUZZ
@given(control_frames)
def test_market_socket_text_frames(text):
    sink = RecordingSink()
    sock = MarketSocket(CONFIG, lambda: None, sink, sink.on_feed_state, lambda: None)
    sock.on_text(text)  # never raises
    assert len(sock.errors) <= 1 and len(sink.states) == len(sock.errors) and not sink.ticks
    try:
        message = json.loads(text)
    except ValueError:
        return
    assert bool(sock.errors) == bool(isinstance(message, dict) and message.get("errorCode"))


def test_the_documented_error_frame_is_reported():
    sink = RecordingSink()
    sock = MarketSocket(CONFIG, lambda: None, sink, sink.on_feed_state, lambda: None)
    sock.on_text('{"correlationID":"abcde12345","errorCode":"E1002",'
                 '"errorMessage":"Invalid Request. Subscription Limit Exceeded"}')
    assert sock.errors == ["E1002: Invalid Request. Subscription Limit Exceeded"]
    assert "E1002" in sink.states[0][1]


# --- binary ticks --------------------------------------------------------------------------------------------
def feed_frame(frame: bytes) -> None:
    """Through the market socket as the feed sees it: no exception, only possible ticks delivered."""
    sink = RecordingSink()
    MarketSocket(CONFIG, lambda: None, sink, sink.on_feed_state, lambda: None).on_binary(frame)
    for tick in sink.ticks:
        assert isinstance(tick, Tick) and KEY.match(tick.key), tick.key
        assert min(tick.ltp, tick.open, tick.high, tick.low, tick.close, tick.average_price, tick.volume,
                   tick.last_quantity, tick.open_interest) >= 0


def random_frames(count_per_length: int = 8, seed: int = 7):
    import random

    rng = random.Random(seed)
    for length in range(0, 460):
        for _ in range(count_per_length):
            yield bytes(rng.getrandbits(8) for _ in range(length))
    for mode, size in FRAME_SIZES.items():  # frames that pass the length check, with tokens that look real
        for _ in range(3000):
            token = str(rng.randrange(100_000)).encode() if rng.random() < 0.8 else b""
            body = bytes(rng.getrandbits(8) for _ in range(size - 27 + rng.randrange(4)))
            yield bytes([mode, rng.choice((1, 2, 3, 4, 5, 7, 13, 0))]) + token.ljust(25, b"\0") + body


@FUZZ
@given(st.binary(max_size=450))
def test_random_bytes_on_the_market_socket(frame):
    feed_frame(frame)


def test_random_frames_of_every_length_on_the_market_socket():
    for frame in random_frames():
        feed_frame(frame)


@FUZZ
@given(st.sampled_from(sorted(FRAME_SIZES)), st.integers(0, 255), st.binary(min_size=449, max_size=449),
       st.integers(-2, 40))
def test_frames_with_a_valid_mode_and_any_body(mode, exchange_type, body, extra):
    feed_frame(bytes([mode, exchange_type]) + body[:FRAME_SIZES[mode] - 2 + extra])


@FUZZ
@given(st.sampled_from(["snap_quote_infy.hex", "snap_quote_nifty_option.hex", "quote_reliance_bse.hex",
                        "ltp_reliance_nse.hex", "ltp_currency.hex", "ltp_index_nifty.hex"]).flatmap(
    lambda name: byte_mutations(bytes.fromhex("".join(line[6:] for line in fixture(name).decode().splitlines()
                                                      if line.strip())))))
def test_mutated_fixture_frames(frame):
    feed_frame(frame)


def test_decode_tick_alone_raises_frame_error_or_gives_a_sane_tick():
    for frame in random_frames(count_per_length=2, seed=11):
        try:
            tick = decode_tick(frame)
        except FrameError:
            continue
        assert_sane_tick(tick)
