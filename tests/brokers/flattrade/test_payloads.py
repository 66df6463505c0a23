"""Captured-style Noren payloads (tests/resources/flattrade, one file per case) through the
production decoders; the transport is the only thing left out. Plus the pure helpers."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from flattrade_helpers import RecordingSink

from terminal.brokers.base import RateLimitedError, SessionExpiredError
from terminal.brokers.flattrade.auth import code_from_redirect_url, token_checksum, token_valid_until
from terminal.brokers.flattrade.http import NorenError, check_reply, encode_body
from terminal.brokers.flattrade.instruments import ScripMasterError, last_refresh_boundary, parse_scrip_master
from terminal.brokers.flattrade.order_updates import protected_price
from terminal.brokers.flattrade.schemas import (
    IST, PayloadError, candles_from_eod, candles_from_tpseries, funds_from_wire, holding_from_wire,
    order_from_wire, parse_time, position_from_wire, trade_from_wire,
)
from terminal.brokers.flattrade.market_feed import NorenFeed
from terminal.domain import InstrumentKind, OptionType, OrderStatus, OrderType, Product, Side

RESOURCES = Path(__file__).parents[2] / "resources" / "flattrade"
ACCOUNT = "flattrade:FZ00000"


def load(name: str):
    text = (RESOURCES / name).read_text()
    return json.loads(text) if name.endswith(".json") else text


def feed(sink, token_for_symbol=lambda exch, tsym: {"NIFTY24NOV26C26000": "40210",
                                                    "NIFTY24NOV26P25900": "40211"}.get(tsym, "")):
    return NorenFeed("ws://unused", "FZ00000", lambda: "t", sink, account=ACCOUNT, token_for_symbol=token_for_symbol)


# --- envelopes -----------------------------------------------------------------------------
def test_place_order_ok_and_rejected():
    assert check_reply(load("place_order_ok.json"), "PlaceOrder")["norenordno"] == "26112300000101"
    with pytest.raises(NorenError, match="invalid input") as info:
        check_reply(load("place_order_rejected.json"), "PlaceOrder")
    assert info.value.emsg == 'Error Occurred : 2 "invalid input"'


def test_empty_book_is_an_empty_list_only_for_book_routes():
    assert check_reply(load("order_book_empty.json"), "OrderBook", list_route=True) == []
    with pytest.raises(NorenError):
        check_reply(load("order_book_empty.json"), "Limits")


def test_session_expired_and_rate_limited():
    with pytest.raises(SessionExpiredError):
        check_reply(load("session_expired.json"), "OrderBook", list_route=True)
    with pytest.raises(RateLimitedError):
        check_reply(load("rate_limited.json"), "PlaceOrder")


def test_body_is_jdata_and_jkey_with_string_values_and_escaped_text():
    body = encode_body({"tsym": "M&M-EQ", "qty": 65, "remarks": "a+b c", "trgprc": None}, "tok")
    assert body == 'jData={"tsym":"M%26M-EQ","qty":"65","remarks":"a%2Bb+c"}&jKey=tok'
    from urllib.parse import parse_qs
    assert json.loads(parse_qs(body)["jData"][0]) == {"tsym": "M&M-EQ", "qty": "65", "remarks": "a+b c"}


# --- orders and trades ---------------------------------------------------------------------
def test_order_book_rows():
    orders = [order_from_wire(row, ACCOUNT) for row in load("order_book.json")]
    sl, rejected, complete, cancelled = orders
    assert (sl.status, sl.order_type, sl.price, sl.trigger_price) == (OrderStatus.TRIGGER_PENDING, OrderType.SL,
                                                                      9600, 9650)
    assert rejected.status is OrderStatus.REJECTED and rejected.status_message == "RED:Margin Shortfall"
    assert (complete.filled_quantity, complete.average_price, complete.tag) == (130, 10220, "TT-0002")
    assert complete.instrument_key == "NFO:40210" and complete.side is Side.BUY and complete.product is Product.NRML
    assert cancelled.status is OrderStatus.CANCELLED and cancelled.placed_at == 1795405811.0
    assert complete.updated_at == datetime(2026, 11, 23, 9, 23, 2, tzinfo=IST).timestamp()


def test_trade_book_sums_fill_quantities_not_repeated_totals():
    trades = [trade_from_wire(row, ACCOUNT) for row in load("trade_book_partial_fills.json")]
    assert [(t.quantity, t.price) for t in trades] == [(65, 10225), (65, 10215)]
    assert sum(t.quantity for t in trades) == 130 and len({t.trade_id for t in trades}) == 2


def test_order_update_partial_fill_gives_order_and_trade():
    sink = RecordingSink()
    feed(sink).handle_message(json.dumps(load("order_update_partial_fill.json")))
    (order,), (trade,) = sink.orders, sink.trades
    assert order.status is OrderStatus.PARTIALLY_FILLED and order.filled_quantity == 65
    assert order.instrument_key == "NFO:40210" and order.product is Product.NRML
    assert (trade.quantity, trade.price, trade.order_id) == (65, 10215, "26112300000102")


def test_order_update_rejected_and_prd_rpt_aliases():
    sink = RecordingSink()
    f = feed(sink)
    f.handle_message(json.dumps(load("order_update_rejected.json")))
    f.handle_message(json.dumps(load("order_update_prd_and_rpt.json")))
    rejected, complete = sink.orders
    assert rejected.status is OrderStatus.REJECTED and rejected.status_message == "RED:Margin Shortfall"
    assert rejected.instrument_key == "NFO:40211"
    assert complete.status is OrderStatus.COMPLETE and complete.product is Product.NRML
    assert sink.trades[0].quantity == 65 and sink.trades[0].timestamp == parse_time("00:00:00 01-01-1980")


def test_bad_frames_are_logged_not_raised(caplog):
    sink = RecordingSink()
    f = feed(sink)
    f.handle_message("not json")
    f.handle_message(json.dumps({"t": "om", "norenordno": "1", "status": "WHATEVER"}))
    f.handle_message(json.dumps({"t": "tf", "lp": "1.00"}))
    assert not sink.orders and not sink.ticks
    assert len([r for r in caplog.records if r.levelname == "ERROR"]) == 3


# --- market data ---------------------------------------------------------------------------
def test_tick_delta_carrying_only_lp_keeps_the_rest_of_the_record():
    sink = RecordingSink()
    f = feed(sink)
    f.handle_message(json.dumps(load("tick_touchline_ack.json")))
    f.handle_message(json.dumps(load("tick_delta_lp_only.json")))
    f.handle_message(json.dumps(load("tick_delta_zero_open.json")))
    first, delta, zero_open = sink.ticks
    assert first.ltp == 10510 and first.close == 9760 and first.bids[0].price == 10505
    assert delta.ltp == 10525 and delta.volume == 4521300 and delta.open == 9800 and delta.bids == first.bids
    assert delta.timestamp == 1795406636.0
    assert zero_open.open == 9800 and zero_open.ltp == 10530  # a "0" open in a delta is not a new open


def test_depth_ack_and_delta():
    sink = RecordingSink()
    f = feed(sink)
    f.handle_message(json.dumps(load("depth_ack.json")))
    f.handle_message(json.dumps(load("depth_delta.json")))
    full, delta = sink.ticks
    assert len(full.bids) == 5 and len(full.asks) == 5 and full.total_buy_quantity == 312000
    assert delta.bids[0].price == 10525 and delta.bids[0].quantity == 130 and delta.asks[1].quantity == 1040
    assert delta.bids[1] == full.bids[1]


def test_tpseries_newest_first_becomes_oldest_first_without_empty_minutes():
    candles = candles_from_tpseries(load("tpseries.json"))
    assert [c.start for c in candles] == [1795405500, 1795405620]
    assert candles[0].open == 2599000 and candles[1].close == 2601605


def test_eod_rows_are_json_strings():
    candles = candles_from_eod(load("eod_chart.json"))
    assert [c.start for c in candles] == [1795046400, 1795132800] and candles[1].volume == 8123456


# --- portfolio -----------------------------------------------------------------------------
def test_positions_holdings_limits():
    (position,) = [position_from_wire(r, ACCOUNT) for r in load("position_book.json")]
    assert (position.net_quantity, position.average_price, position.day_buy_value) == (130, 10220, 1328600)
    assert position.unrealised_pnl(10510) == 37700  # the payload's urmtom, 377.00 rupees
    (holding,) = [holding_from_wire(r, ACCOUNT) for r in load("holdings.json")]
    assert (holding.instrument_key, holding.quantity, holding.average_price) == ("NSE:2885", 10, 141250)
    funds = funds_from_wire(load("limits.json"), ACCOUNT)
    assert funds.available_margin == 25000000 - 1328600 and funds.unrealised_pnl == 37700


def test_malformed_rows_raise_payload_error():
    row = dict(load("order_book.json")[0], qty="1.5")
    with pytest.raises(PayloadError, match="qty"):
        order_from_wire(row, ACCOUNT)
    with pytest.raises(PayloadError, match="status"):
        order_from_wire(dict(row, qty="130", status="MYSTERY"), ACCOUNT)


# --- scrip master --------------------------------------------------------------------------
def test_scrip_master_rows():
    derivatives = {i.trading_symbol: i for i in parse_scrip_master(load("scrip_master_nfo_index.csv"))}
    call = derivatives["BANKNIFTY10JUL24C58400"]
    assert (call.kind, call.option_type, call.strike, call.lot_size) == (InstrumentKind.OPTION, OptionType.CALL,
                                                                         5840000, 15)
    assert call.expiry == datetime(2024, 7, 10, 15, 30, tzinfo=IST) and call.key == "NFO:35300"
    future = derivatives["NIFTY27JUN24F"]
    assert future.kind is InstrumentKind.FUTURE and future.strike is None and future.underlying == "NIFTY"
    cash = {i.trading_symbol: i for i in parse_scrip_master(load("scrip_master_nse_equity.csv"))}
    assert cash["M&M-EQ"].kind is InstrumentKind.EQUITY and cash["Nifty 50"].kind is InstrumentKind.INDEX


def test_scrip_master_refuses_a_bad_header_or_row():
    with pytest.raises(ScripMasterError, match="header"):
        parse_scrip_master("Exchange,Token,LotSize,Symbol,TradingSymbol,Expiry,Instrument,OptionType\n")
    bad = load("scrip_master_nfo_index.csv") + "NFO,1,25,NIFTY,NIFTYX,OPTIDX,,100.00,CE\n"
    with pytest.raises(ScripMasterError, match="line 6"):
        parse_scrip_master(bad)


def test_refresh_boundary_is_0830_ist():
    assert last_refresh_boundary(datetime(2026, 11, 23, 9, 0, tzinfo=IST)) == datetime(2026, 11, 23, 8, 30,
                                                                                         tzinfo=IST)
    assert last_refresh_boundary(datetime(2026, 11, 23, 8, 0, tzinfo=IST)) == datetime(2026, 11, 22, 8, 30,
                                                                                         tzinfo=IST)


# --- auth and pricing helpers --------------------------------------------------------------
def test_token_checksum_matches_the_protocol_fixture():
    assert token_checksum("a1b2c3d4e5f60718293a4b5c6d7e8f90", "c0de1234abcd",
                          "2026.5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d") == \
        "dbadeae015d081d1ea493b9e0b3a290f163bf6b45954bb263f9d916b3adebe6d"


def test_redirect_url_code_names():
    assert code_from_redirect_url("http://127.0.0.1:8080/?code=c0de1234abcd&client=FZ00000") == "c0de1234abcd"
    assert code_from_redirect_url("http://127.0.0.1:8080/cb?request_code=xyz") == "xyz"
    with pytest.raises(Exception, match="no login code"):
        code_from_redirect_url("http://127.0.0.1:8080/?client=FZ00000")


def test_token_dies_at_the_next_0500_ist():
    assert token_valid_until(datetime(2026, 11, 23, 10, 0, tzinfo=IST)) == datetime(2026, 11, 24, 5, 0, tzinfo=IST)
    assert token_valid_until(datetime(2026, 11, 24, 3, 0, tzinfo=IST)) == datetime(2026, 11, 24, 5, 0, tzinfo=IST)
    assert token_valid_until(datetime(2026, 11, 24, 5, 30, tzinfo=IST)) == datetime(2026, 11, 24, 6, 0, tzinfo=IST)


@pytest.mark.parametrize("side,reference,percent,tick,expected", [
    (1, 10000, 2.0, 5, 10200), (-1, 10000, 2.0, 5, 9800), (1, 10003, 2.0, 5, 10205), (-1, 10003, 2.0, 5, 9800),
    (1, 10, 2.0, 5, 15), (-1, 10, 2.0, 5, 5),
])
def test_market_protection_band(side, reference, percent, tick, expected):
    assert protected_price(side, reference, percent, tick) == expected
