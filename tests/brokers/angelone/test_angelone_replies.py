"""The four reply shapes and the wire records, from fixture files named after their case."""

from __future__ import annotations

import json

import pytest

from angelone_helpers import RESOURCES
from terminal.brokers.angelone.http import EmptyReplyError, parse_reply
from terminal.brokers.angelone.order_updates import FillTracker, parse_order_update
from terminal.brokers.angelone.schemas import order_from_wire, position_from_wire, rupees, tick_from_quote
from terminal.brokers.base import RateLimitedError
from terminal.domain import OrderStatus, Product, Side


def body(name: str) -> bytes:
    return (RESOURCES / name).read_bytes()


def test_gateway_shape_ag8001():
    reply = parse_reply(401, body("ag8001_token_expired.json"))
    assert (reply.ok, reply.code, reply.message) == (False, "AG8001", "Invalid Token")


def test_string_status_and_string_null():
    reply = parse_reply(200, body("login_failed_string_status.json"))
    assert (reply.ok, reply.code, reply.data) == (False, "AB1007", None)


def test_invalid_totp():
    reply = parse_reply(200, body("login_invalid_totp.json"))
    assert not reply.ok and reply.code == "AB1050"


def test_rate_limit_text_is_a_clear_error():
    with pytest.raises(RateLimitedError, match="exceeding access rate"):
        parse_reply(403, body("rate_limit_403.txt"))


def test_empty_body_is_an_unknown_outcome():
    with pytest.raises(EmptyReplyError):
        parse_reply(200, body("place_order_empty_body.txt"))


def test_quote_success_shape_with_unfetched():
    reply = parse_reply(200, body("quote_bad_token.json"))
    assert reply.ok and reply.data["unfetched"][0]["errorCode"] == "AB4018"


def test_order_book_record_to_domain():
    record = json.loads(body("order_book_cancelled.json"))["data"][0]
    order = order_from_wire(record, "angelone:A1")
    assert (order.order_id, order.instrument_key, order.side) == ("201020000000080", "NSE:3045", Side.BUY)
    assert order.status is OrderStatus.CANCELLED and order.price == 19400 and order.product is Product.MIS


def test_position_with_spaced_minus_sign():
    record = json.loads(body("positions_spaced_minus.json"))["data"][0]
    position = position_from_wire(record, "angelone:A1")
    assert position.net_quantity == 1 and position.average_price == 223580 and position.product is Product.CNC


def test_order_update_complete_reports_the_fill():
    text = body("order_update_complete.json").decode()
    order, _fill_id = parse_order_update(text, "angelone:A1")
    assert order.status is OrderStatus.COMPLETE and order.average_price == 26562 and order.tag == "TT1"
    trades = FillTracker().fills(order)
    assert [(t.quantity, t.price) for t in trades] == [(1, 26562)]


def test_quote_item_with_depth():
    item = {"exchange": "NSE", "tradingSymbol": "SBIN-EQ", "symbolToken": "3045", "ltp": 568.2, "open": 567.4,
            "high": 569.35, "low": 566.1, "close": 567.4, "lastTradeQty": 1, "exchFeedTime": "21-Jun-2023 10:46:10",
            "avgPrice": 567.83, "tradeVolume": 3556150, "opnInterest": 0, "totBuyQuan": 839549, "totSellQuan": 1284767,
            "depth": {"buy": [{"price": 568.2, "quantity": 511, "orders": 2}],
                      "sell": [{"price": 568.25, "quantity": 3348, "orders": 5}]}}
    tick = tick_from_quote(item)
    assert tick.key == "NSE:3045" and tick.ltp == 56820 and tick.best_bid == 56820 and tick.best_ask == 56825


def test_rupees_text():
    assert (rupees(10550), rupees(5), rupees(-250)) == ("105.50", "0.05", "-2.50")
