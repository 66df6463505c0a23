"""Hypothesis fuzzing of every Noren (Flattrade) wire decoder.

Arbitrary and mutated payloads (the captured fixtures of tests/resources/flattrade with fields
removed, replaced by odd text, numbers, NaN, infinities, huge exponents, lists and objects) go
through the REST envelope, the payload-to-domain conversions, the websocket frames (tk/tf/dk/df/om)
and the scrip-master CSV parser. Each may fail only with its documented error (PayloadError, a
ValueError, for the schema functions; ScripMasterError for the CSV; BrokerError types at the
broker's API), and whatever it returns must be sane: no negative quantities or prices where they
cannot be, no NaN or infinite times, quantities and prices as integers.
"""

from __future__ import annotations

import json
import logging
import math
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.feed_sink import RecordingSink

from terminal.brokers.base import (
    BrokerError, NetworkError, OrderOutcomeUnknown, OrderRejectedError, RateLimitedError, SessionExpiredError,
)
from terminal.brokers.flattrade import create_broker
from terminal.brokers.flattrade.http import NorenHttp, check_reply
from terminal.brokers.flattrade.instruments import ScripMasterError, parse_scrip_master
from terminal.brokers.flattrade.market_feed import NorenFeed, TickCache
from terminal.brokers.flattrade.order_updates import order_update_from_wire
from terminal.brokers.flattrade.schemas import (
    PayloadError, candles_from_eod, candles_from_tpseries, funds_from_wire, holding_from_wire, order_from_wire,
    paise, parse_time, position_from_wire, tick_from_wire, trade_from_wire, units,
)
from terminal.brokers.ratelimit import RateLimits
from terminal.domain import (
    Candle, Funds, Holding, Instrument, InstrumentKind, Order, OrderRequest, OrderType, Position, Product, Side,
    Tick, Trade,
)

RESOURCES = Path(__file__).parents[1] / "resources" / "flattrade"
ACCOUNT = "flattrade:FZ00000"
IST = ZoneInfo("Asia/Kolkata")
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LATEST_TIME = 253402300799.0  # 9999-12-31 23:59:59 UTC: later epoch seconds are garbage


def fixture(name: str):
    return json.loads((RESOURCES / name).read_text())


ORDER_ROW = fixture("order_book.json")[0]
TRADE_ROW = fixture("trade_book_partial_fills.json")[0]
POSITION_ROW = fixture("position_book.json")[0]
HOLDING_ROW = fixture("holdings.json")[0]
LIMITS = fixture("limits.json")
TPSERIES_ROW = fixture("tpseries.json")[0]
EOD_ROW = json.loads(fixture("eod_chart.json")[0])
TOUCHLINE = fixture("tick_touchline_ack.json")
DEPTH = fixture("depth_ack.json")
OM_FILL = fixture("order_update_partial_fill.json")
OM_REJECTED = fixture("order_update_rejected.json")

# --- strategies -----------------------------------------------------------------------------------
ODD_TEXT = ["", " ", "NaN", "nan", "-nan", "sNaN", "Infinity", "-Infinity", "inf", "1e999999", "-1e999999",
            "1E+400", "-0", "-0.00", "-5", "-102.35", "0.001", "1,000.50", "1_000", "١٢٣", "²", "0x1A", "1e5",
            "99999999999999999999999", "12:00:00 23-11-2026", "23-11-2026 12:00:00", "31-02-2026 00:00:00",
            "01-01-0001 00:00:00", "NFO", "NSE", "B", "S", "M", "LMT", "OPEN", "COMPLETE", "Fill", "\x00", "|#:"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
numeric_text = st.one_of(st.decimals(allow_nan=True, allow_infinity=True).map(str),
                         st.integers(-10**25, 10**25).map(str),
                         st.floats(allow_nan=True, allow_infinity=True).map(repr))
wire_value = st.one_of(st.sampled_from(ODD_TEXT), numeric_text, scalars,
                       st.lists(scalars, max_size=3), st.dictionaries(st.text(max_size=4), scalars, max_size=3))
any_json = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=12)


def mutated(base: dict, extra_keys: tuple[str, ...] = ()):
    """``base`` with some fields removed and some (or new ones) replaced by odd values."""
    keys = sorted(base) + list(extra_keys)
    return st.builds(_mutate, st.just(base), st.sets(st.sampled_from(sorted(base)), max_size=4),
                     st.dictionaries(st.sampled_from(keys), wire_value, max_size=5))


def _mutate(base: dict, dropped: set, changed: dict) -> dict:
    row = {k: v for k, v in base.items() if k not in dropped}
    row.update(changed)
    return row


def row_or_garbage(base: dict, extra_keys: tuple[str, ...] = ()):
    return st.one_of(mutated(base, extra_keys), any_json)


# --- what a sane domain object looks like -----------------------------------------------------------
def sane_time(value: float) -> bool:
    return isinstance(value, float | int) and math.isfinite(value) and 0 <= value <= LATEST_TIME


def is_int(*values) -> bool:
    return all(type(v) is int for v in values)


def assert_sane_order(order: Order) -> None:
    assert isinstance(order, Order) and order.order_id and order.instrument_key and order.account == ACCOUNT
    assert is_int(order.quantity, order.filled_quantity, order.price, order.trigger_price, order.average_price)
    assert order.quantity > 0 and 0 <= order.filled_quantity <= order.quantity
    assert order.price >= 0 and order.trigger_price >= 0 and order.average_price >= 0
    assert sane_time(order.placed_at) and sane_time(order.updated_at)


def assert_sane_trade(trade: Trade) -> None:
    assert isinstance(trade, Trade) and trade.order_id and trade.trade_id and trade.instrument_key
    assert is_int(trade.quantity, trade.price) and trade.quantity > 0 and trade.price > 0
    assert sane_time(trade.timestamp)


def assert_sane_position(position: Position) -> None:
    assert isinstance(position, Position) and position.instrument_key
    assert is_int(position.net_quantity, position.average_price, position.realised_pnl, position.day_buy_quantity,
                  position.day_sell_quantity, position.day_buy_value, position.day_sell_value, position.multiplier)
    assert position.average_price >= 0 and position.multiplier >= 1
    assert min(position.day_buy_quantity, position.day_sell_quantity, position.day_buy_value,
               position.day_sell_value) >= 0


def assert_sane_holding(holding: Holding) -> None:
    assert isinstance(holding, Holding) and holding.instrument_key
    assert is_int(holding.quantity, holding.average_price) and holding.quantity >= 0 and holding.average_price >= 0


def assert_sane_funds(funds: Funds) -> None:
    assert isinstance(funds, Funds)
    assert is_int(funds.opening_balance, funds.available_cash, funds.used_margin, funds.collateral,
                  funds.realised_pnl, funds.unrealised_pnl)
    assert funds.collateral >= 0  # cash, margin used (option premium received) and P&L may be negative


def assert_sane_tick(tick: Tick) -> None:
    assert isinstance(tick, Tick) and tick.key and ":" in tick.key
    numbers = (tick.ltp, tick.last_quantity, tick.volume, tick.average_price, tick.open, tick.high, tick.low,
               tick.close, tick.open_interest, tick.open_interest_day_open, tick.total_buy_quantity,
               tick.total_sell_quantity)
    assert is_int(*numbers) and min(numbers) >= 0
    assert sane_time(tick.timestamp)
    for level in tick.bids + tick.asks:
        assert is_int(level.price, level.quantity, level.orders)
        assert level.price > 0 and level.quantity > 0 and level.orders >= 0


def assert_sane_candles(candles: list[Candle]) -> None:
    for candle in candles:
        assert is_int(candle.start, candle.open, candle.high, candle.low, candle.close, candle.volume)
        assert min(candle.open, candle.high, candle.low, candle.close, candle.volume) >= 0
        assert 0 <= candle.start <= LATEST_TIME
    assert [c.start for c in candles] == sorted(c.start for c in candles)


def assert_sane_instrument(inst: Instrument) -> None:
    assert inst.token and inst.trading_symbol and inst.key == f"{inst.exchange.value}:{inst.token}"
    assert is_int(inst.lot_size, inst.tick_size) and inst.lot_size >= 1 and inst.tick_size > 0
    if inst.kind is InstrumentKind.OPTION:
        assert is_int(inst.strike) and inst.strike > 0 and inst.option_type is not None and inst.expiry
    else:
        assert inst.option_type is None


# --- scalar fields --------------------------------------------------------------------------------
@FUZZ
@given(wire_value)
def test_scalar_fields_are_numbers_or_payload_errors(value):
    row = {"x": value}
    for convert, check in ((units, lambda n: is_int(n) and n >= 0), (paise, lambda n: is_int(n) and n >= 0),
                           (lambda r, n: units(r, n, signed=True), lambda n: is_int(n)),
                           (lambda r, n: paise(r, n, signed=True), lambda n: is_int(n))):
        try:
            result = convert(row, "x")
        except PayloadError:
            continue
        assert check(result), (value, result)
    try:
        when = parse_time(value if isinstance(value, str) else str(value))
    except PayloadError:
        return
    assert sane_time(when), (value, when)


# --- REST replies -----------------------------------------------------------------------------------
@FUZZ
@given(st.one_of(any_json, mutated(fixture("place_order_ok.json")), mutated(fixture("session_expired.json"))),
       st.sampled_from(["PlaceOrder", "OrderBook", "Limits", "CancelOrder"]), st.booleans())
def test_the_reply_envelope_raises_only_broker_errors(reply, route, list_route):
    try:
        result = check_reply(reply, route, list_route=list_route)
    except BrokerError:
        return
    assert isinstance(result, dict | list)


@FUZZ
@given(row_or_garbage(ORDER_ROW, ("fillshares", "avgprc", "rprc", "rejreason")))
def test_order_rows(row):
    try:
        order = order_from_wire(row, ACCOUNT)
    except PayloadError:
        return
    assert_sane_order(order)


@FUZZ
@given(row_or_garbage(TRADE_ROW, ("pcode",)))
def test_trade_rows(row):
    try:
        trade = trade_from_wire(row, ACCOUNT)
    except PayloadError:
        return
    assert_sane_trade(trade)


@FUZZ
@given(row_or_garbage(POSITION_ROW))
def test_position_rows(row):
    try:
        position = position_from_wire(row, ACCOUNT)
    except PayloadError:
        return
    assert_sane_position(position)


@FUZZ
@given(st.one_of(row_or_garbage(HOLDING_ROW),
                 st.builds(lambda row, listing: {**HOLDING_ROW, "exch_tsym": [listing]},
                           st.just(None), mutated(HOLDING_ROW["exch_tsym"][0]))))
def test_holding_rows(row):
    try:
        holding = holding_from_wire(row, ACCOUNT)
    except PayloadError:
        return
    assert_sane_holding(holding)


@FUZZ
@given(row_or_garbage(LIMITS, ("payin", "rpnl", "unmtom")))
def test_limits(row):
    try:
        funds = funds_from_wire(row, ACCOUNT)
    except PayloadError:
        return
    assert_sane_funds(funds)


@FUZZ
@given(st.lists(row_or_garbage(TPSERIES_ROW), max_size=4))
def test_tpseries(rows):
    try:
        candles = candles_from_tpseries(rows)
    except PayloadError:
        return
    assert_sane_candles(candles)


@FUZZ
@given(st.lists(st.one_of(mutated(EOD_ROW).map(json.dumps), mutated(EOD_ROW), any_json,
                          st.text(max_size=30)), max_size=4))
def test_eod_rows(rows):
    try:
        candles = candles_from_eod(rows)
    except PayloadError:
        return
    assert_sane_candles(candles)


@FUZZ
@given(row_or_garbage(DEPTH, ("oi", "poi", "ft")))
def test_quote_replies(row):
    try:
        tick = tick_from_wire(row, key=None, now=1795406635.0)
    except PayloadError:
        return
    assert_sane_tick(tick)


# --- websocket frames ---------------------------------------------------------------------------------
@FUZZ
@given(st.lists(st.one_of(mutated(TOUCHLINE), mutated(DEPTH),
                          mutated({"t": "tf", "e": "NFO", "tk": "40210", "lp": "105.30"}),
                          mutated({"t": "df", "e": "NFO", "tk": "40210", "bp1": "105.25", "bq1": "65"}),
                          any_json), min_size=1, max_size=5))
def test_market_frames_merge_into_sane_ticks(frames):
    cache = TickCache()
    for frame in frames:
        try:
            tick = cache.apply(frame)
        except PayloadError:
            continue
        assert_sane_tick(tick)


@FUZZ
@given(st.one_of(mutated(OM_FILL), mutated(OM_REJECTED), any_json))
def test_order_update_frames(frame):
    try:
        order, trade = order_update_from_wire(frame, ACCOUNT)
    except PayloadError:
        return
    assert_sane_order(order)
    if trade is not None:
        assert_sane_trade(trade)


def frame_text(frame) -> str | bytes:
    return frame if isinstance(frame, str | bytes) else json.dumps(frame)


@FUZZ
@given(st.lists(st.one_of(mutated(TOUCHLINE).map(frame_text), mutated(DEPTH).map(frame_text),
                          mutated(OM_FILL).map(frame_text), any_json.map(frame_text), st.text(max_size=40),
                          st.binary(max_size=40), st.just("[" * 5000)), min_size=1, max_size=4))
def test_the_feed_survives_any_frame_and_pushes_only_sane_objects(messages):
    sink = RecordingSink()
    feed = NorenFeed("ws://127.0.0.1:9/", "FZ00000", lambda: "token", sink, account=ACCOUNT,
                     token_for_symbol=lambda exch, tsym: "40210")
    handler = _DecoderBugs()
    logging.getLogger("terminal.brokers.flattrade.market_feed").addHandler(handler)
    try:
        for message in messages:
            feed.handle_message(message)  # never raises
    finally:
        logging.getLogger("terminal.brokers.flattrade.market_feed").removeHandler(handler)
    assert handler.bugs == []  # every bad frame was a PayloadError, not a decoder crash
    for tick in sink.ticks:
        assert_sane_tick(tick)
    for order in sink.orders:
        assert_sane_order(order)
    for trade in sink.trades:
        assert_sane_trade(trade)


class _DecoderBugs(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.bugs: list[str] = []

    def emit(self, record):
        if record.exc_info:
            self.bugs.append(record.getMessage())


# --- scrip master ---------------------------------------------------------------------------------------
SCRIP_HEADER = "Exchange,Token,Lotsize,Symbol,Tradingsymbol,Instrument,Expiry,Strike,Optiontype"
SCRIP_ROWS = [line for name in ("scrip_master_nfo_index.csv", "scrip_master_nse_equity.csv")
              for line in (RESOURCES / name).read_text().splitlines()[1:]]
csv_cell = st.one_of(st.sampled_from(ODD_TEXT + ["OPTIDX", "FUTIDX", "OPTSTK", "EQ", "CE", "PE", "XX",
                                                 "28-NOV-2024", "31-FEB-2024", "10-jul-2024", "-0.01", "0"]),
                     st.text(max_size=10), numeric_text)


def mutated_scrip_row():
    return st.builds(_mutate_cells, st.sampled_from(SCRIP_ROWS),
                     st.dictionaries(st.integers(0, 9), csv_cell, max_size=3))


def _mutate_cells(line: str, changes: dict[int, str]) -> str:
    cells = line.split(",")
    for index, value in changes.items():
        if index < len(cells):
            cells[index] = value
        else:
            cells.append(value)
    return ",".join(cells)


@FUZZ
@given(st.one_of(st.lists(st.one_of(mutated_scrip_row(), st.sampled_from(SCRIP_ROWS)), max_size=6)
                 .map(lambda rows: "\n".join([SCRIP_HEADER, *rows])),
                 st.text(max_size=200), st.text(max_size=200).map(lambda body: SCRIP_HEADER + "\n" + body)))
def test_scrip_master_parser(text):
    try:
        instruments = parse_scrip_master(text, "fuzz.csv")
    except ScripMasterError as exc:
        assert "fuzz.csv" in str(exc)
        return
    for inst in instruments:
        assert_sane_instrument(inst)


# --- the broker's API over a garbled transport -----------------------------------------------------------
class CannedSession:
    """The edge of the machine: a requests.Session whose every post gets the reply under test."""

    def __init__(self):
        self.status, self.body, self.posts = 200, b"", []

    def post(self, url, data=None, timeout=None, headers=None):
        self.posts.append(url.rsplit("/", 1)[1])
        response = requests.Response()
        response.status_code, response._content, response.encoding = self.status, self.body, "utf-8"
        response.url = url
        return response


@pytest.fixture(scope="module")
def broker_and_session(tmp_path_factory):
    """A logged-in-looking FlattradeBroker whose scrip master is the fixture files, fresh in its cache."""
    cache = tmp_path_factory.mktemp("scrips")
    (cache / "NSE_Equity.csv").write_text((RESOURCES / "scrip_master_nse_equity.csv").read_text())
    (cache / "Nfo_Index_Derivatives.csv").write_text((RESOURCES / "scrip_master_nfo_index.csv").read_text())
    broker = create_broker({"client_id": "FZ00000", "api_key": "key", "rest_url": "http://127.0.0.1:9/PiConnectAPI/",
                            "scrip_files": ["NSE_Equity.csv", "Nfo_Index_Derivatives.csv"]}, cache_dir=cache)
    session = CannedSession()
    broker.http = NorenHttp(broker.config.rest_url, session=session, read_retry_delays=(),
                            limits=RateLimits({"orders": (None, None), "other": (None, None)}))
    broker.http.token = "token"
    broker.instruments()
    return broker, session


REPLY_BODIES = st.one_of(
    st.sampled_from([p.read_bytes() for p in sorted(RESOURCES.glob("*.json"))]),
    st.sampled_from([p.read_bytes() for p in sorted(RESOURCES.glob("*.json"))]).flatmap(
        lambda body: st.integers(0, max(len(body) - 1, 0)).map(lambda cut: body[:cut])),
    st.one_of(any_json, mutated(ORDER_ROW), mutated(LIMITS), mutated(DEPTH), mutated(TRADE_ROW),
              st.lists(st.one_of(mutated(ORDER_ROW), mutated(POSITION_ROW), mutated(TPSERIES_ROW), any_json),
                       max_size=3)).map(lambda payload: json.dumps(payload).encode()),
    st.just(b"<html><head><title>502 Bad Gateway</title></head></html>"), st.binary(max_size=60))
STATUS = st.sampled_from([200, 200, 200, 400, 403, 429, 500, 502, 503, 504])


def call_read(broker, name: str):
    start = datetime(2026, 11, 23, 9, 15, tzinfo=IST)
    option = next(i for i in broker.instruments() if i.kind is InstrumentKind.OPTION)
    calls = {
        "order_book": broker.order_book, "trade_book": broker.trade_book, "positions": broker.positions,
        "holdings": broker.holdings, "funds": broker.funds, "quotes": lambda: broker.quotes(["NSE:2885"]),
        "minutes": lambda: broker.history("NSE:2885", 1, start, start + timedelta(hours=1)),
        "days": lambda: broker.history("NSE:2885", 1440, start - timedelta(days=30), start),
        "order_history": lambda: broker.order_history("26112300000101"),
        "search": lambda: broker.search("NIFTY"), "security_info": lambda: broker.security_info(option.key),
        "option_chain": lambda: broker.option_chain(option.key, option.strike),
    }
    return calls[name]()


SANE = {Order: assert_sane_order, Trade: assert_sane_trade, Position: assert_sane_position,
        Holding: assert_sane_holding, Funds: assert_sane_funds, Tick: assert_sane_tick,
        Instrument: assert_sane_instrument}


def assert_sane(result) -> None:
    if isinstance(result, list):
        for item in result:
            assert_sane(item)
    elif isinstance(result, Candle):
        assert_sane_candles([result])
    else:
        SANE[type(result)](result)


@FUZZ
@given(st.sampled_from(["order_book", "trade_book", "positions", "holdings", "funds", "quotes", "minutes",
                        "days", "order_history", "search", "security_info", "option_chain"]),
       STATUS, REPLY_BODIES)
def test_read_calls_return_sane_objects_or_raise_broker_errors(broker_and_session, name, status, body):
    broker, session = broker_and_session
    session.status, session.body = status, body
    try:
        result = call_read(broker, name)
    except BrokerError:
        return
    assert_sane(result)


@FUZZ
@given(STATUS, REPLY_BODIES)
def test_place_order_is_placed_refused_or_unknown_never_a_false_failure(broker_and_session, status, body):
    """An unclear reply to PlaceOrder must be OrderOutcomeUnknown: FAILED would let a trader resend it."""
    broker, session = broker_and_session
    session.status, session.body = status, body
    request = OrderRequest(broker.account, "NSE:2885", Side.BUY, 1, OrderType.LIMIT, Product.MIS, price=141250)
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        parsed = None
    stat = str(parsed.get("stat") or "").strip().lower() if isinstance(parsed, dict) else ""
    refusal = isinstance(parsed, dict) and stat != "ok" and (stat == "not_ok" or bool(parsed.get("emsg")))
    try:
        order_id = broker.place_order(request)
    except (OrderRejectedError, SessionExpiredError, RateLimitedError, OrderOutcomeUnknown) as exc:
        if not refusal:  # no answer, garbage, or "Ok" without a readable number: it may exist
            assert isinstance(exc, OrderOutcomeUnknown), (body, exc)
        return
    except NetworkError as exc:
        raise AssertionError(f"a PlaceOrder network failure that is not OrderOutcomeUnknown: {exc}") from exc
    assert stat == "ok", body
    assert isinstance(order_id, str) and order_id.strip() == order_id and order_id
