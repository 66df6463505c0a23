"""GTT and OCO rules: FlattradeBroker's gtt_*/oco_* calls against the loopback Noren sandbox, the
sandbox firing rules at the exchange, and the reply shapes the adapter must read."""

from __future__ import annotations

import json
from urllib.parse import quote_plus

import pytest
import requests

from terminal.brokers.angelone.models import GttRule
from terminal.brokers.base import (
    BrokerError, OrderOutcomeUnknown, OrderRejectedError, SessionExpiredError,
)
from terminal.brokers.flattrade import FlattradeBroker, FlattradeConfig
from terminal.brokers.flattrade.gtt import LTP_ABOVE, LTP_BELOW, OCO, FlattradeGtt, OcoRule, rule_reply
from terminal.brokers.flattrade.http import NorenError
from terminal.domain import OrderStatus, Product, Side

from flattrade_helpers import follow_in_background, wait_for

RELIANCE = "NSE:2885"


class GttBroker(FlattradeBroker, FlattradeGtt):
    """FlattradeBroker with the GTT mixin (a no-op subclass once FlattradeBroker inherits it)."""


@pytest.fixture
def gtt(broker_config, tmp_path):
    b = GttBroker(FlattradeConfig.from_dict(broker_config), opener=follow_in_background,
                  cache_dir=tmp_path / "scrips")
    b.login()
    yield b
    b.disconnect_feed()


def ltp(broker) -> int:
    return broker.quotes([RELIANCE])[0].ltp


def on_tick(paise: float) -> int:
    return int(paise) // 5 * 5  # RELIANCE's tick is 5 paise


def pending_rows(broker) -> list[dict]:
    return broker.http.post("GetPendingGTTOrder", {"uid": broker.config.client_id}, list_route=True)


def post_raw(sandbox, token: str, route: str, data: dict):
    """A rule request as a Noren client sends it (nested jData, string values), bypassing the adapter."""
    body = "jData=" + json.dumps(data) + "&jKey=" + token
    return requests.post(sandbox.info()["rest_url"] + route, data=body, timeout=5).json()


def order_fields(side: str, price: int, qty: int = 1) -> dict:
    return {"tsym": "RELIANCE-EQ", "exch": "NSE", "trantype": side, "prctyp": "LMT", "prd": "C", "ret": "DAY",
            "actid": "FZ00000", "uid": "FZ00000", "ordersource": "API", "qty": str(qty),
            "prc": f"{price / 100:.2f}"}


# --- single GTT rules ---------------------------------------------------------------------
def test_gtt_lifecycle(gtt):
    price = ltp(gtt)
    trigger = on_tick(price * 0.97)
    rule_id = gtt.gtt_create(RELIANCE, Side.BUY, Product.CNC, 1, price=trigger + 50, trigger_price=trigger)
    rule = gtt.gtt_details(rule_id)
    assert isinstance(rule, GttRule)
    assert (rule.rule_id, rule.instrument_key, rule.trading_symbol) == (rule_id, RELIANCE, "RELIANCE-EQ")
    assert (rule.side, rule.product, rule.quantity) == (Side.BUY, Product.CNC, 1)
    assert (rule.price, rule.trigger_price, rule.status) == (trigger + 50, trigger, "ACTIVE")
    assert [r.rule_id for r in gtt.gtt_list()] == [rule_id]

    gtt.gtt_modify(rule, 3, trigger - 100 + 50, trigger - 100)
    changed = gtt.gtt_details(rule_id)
    assert (changed.quantity, changed.price, changed.trigger_price) == (3, trigger - 50, trigger - 100)

    gtt.gtt_cancel(changed)
    assert gtt.gtt_list() == []
    with pytest.raises(BrokerError, match="fired or was cancelled"):
        gtt.gtt_details(rule_id)


def test_gtt_direction_follows_the_last_price(gtt):
    price = ltp(gtt)
    low, high = on_tick(price * 0.95), on_tick(price * 1.05)
    below = gtt.gtt_create(RELIANCE, Side.BUY, Product.CNC, 1, price=low, trigger_price=low)
    above = gtt.gtt_create(RELIANCE, Side.SELL, Product.CNC, 1, price=high, trigger_price=high)
    alerts = {r.get("Al_id") or r.get("al_id"): r["ai_t"] for r in pending_rows(gtt)}
    assert alerts == {below: LTP_BELOW, above: LTP_ABOVE}
    assert {r.rule_id for r in gtt.gtt_list(page=1, count=1)} | {r.rule_id for r in gtt.gtt_list(page=2, count=1)} \
        == {below, above}
    assert gtt.gtt_list(statuses=("CANCELLED",)) == []  # Flattrade keeps no fired or cancelled rules


def test_gtt_modify_refuses_a_trigger_that_would_fire_at_once(gtt):
    price = ltp(gtt)
    trigger = on_tick(price * 0.96)
    rule = gtt.gtt_details(gtt.gtt_create(RELIANCE, Side.BUY, Product.CNC, 1, price=trigger, trigger_price=trigger))
    with pytest.raises(OrderRejectedError, match="would fire at once"):
        gtt.gtt_modify(rule, 1, on_tick(price * 1.04), on_tick(price * 1.04))
    assert gtt.gtt_details(rule.rule_id).trigger_price == trigger


@pytest.mark.parametrize("quantity, price, trigger", [(0, 100_00, 100_00), (1, 0, 100_00), (1, 100_00, -5)])
def test_gtt_create_refuses_bad_numbers_before_sending(gtt, sandbox, quantity, price, trigger):
    with pytest.raises(OrderRejectedError):
        gtt.gtt_create(RELIANCE, Side.BUY, Product.CNC, quantity, price=price, trigger_price=trigger)
    assert gtt.gtt_list() == []


def test_gtt_alert_types(gtt):
    assert gtt.gtt_alert_types() == [LTP_ABOVE, LTP_BELOW, OCO]


def test_gtt_errors_map_to_the_terminal_types(gtt, sandbox):
    price = ltp(gtt)
    ghost = GttRule("99999", RELIANCE, "RELIANCE-EQ", Side.BUY, Product.CNC, 1, price, price)
    with pytest.raises(OrderRejectedError, match="Invalid Oi"):
        gtt.gtt_cancel(ghost)
    rule = gtt.gtt_details(gtt.gtt_create(RELIANCE, Side.BUY, Product.CNC, 1, price=on_tick(price * 0.9),
                                          trigger_price=on_tick(price * 0.9)))
    sandbox.expire_sessions()
    with pytest.raises(SessionExpiredError):
        gtt.gtt_cancel(rule)


def test_lost_gtt_reply_is_an_unknown_outcome_and_the_rule_exists(gtt, sandbox):
    price = ltp(gtt)
    sandbox.set_faults("drop_reply_after_accept=1,routes=PlaceGTTOrder")
    with pytest.raises(OrderOutcomeUnknown):
        gtt.gtt_create(RELIANCE, Side.BUY, Product.CNC, 1, price=on_tick(price * 0.9),
                       trigger_price=on_tick(price * 0.9))
    sandbox.set_faults(None)
    assert len(gtt.gtt_list()) == 1  # sent once, never retried


def test_a_rule_fires_when_the_ltp_reaches_its_trigger(gtt, sandbox):
    """Placed as a Noren client would, with the condition already met: the sandbox fires it at the
    next market step, places the order with the rule's remarks as its tag, and drops the rule."""
    price = ltp(gtt)
    limit = on_tick(price * 0.95)  # a buy below the market: it rests, inside the exchange's ±10% band
    reply = post_raw(sandbox, gtt.token, "PlaceGTTOrder", {
        "uid": "FZ00000", "ai_t": LTP_ABOVE, "validity": "GTT", "d": f"{on_tick(price * 0.97) / 100:.2f}",
        "remarks": "fire-me", "dscqty": "0", **order_fields("B", limit)})
    assert reply[0]["stat"] == "Oi created"
    rule_id = reply[0]["Al_id"]
    wait_for(lambda: not gtt.gtt_list())
    order = next(o for o in gtt.order_book() if o.tag == "fire-me")
    assert (order.side, order.quantity, order.price, order.product) == (Side.BUY, 1, limit, Product.CNC)
    assert order.status in (OrderStatus.OPEN, OrderStatus.PENDING)
    assert sandbox.gtt.fired[rule_id] == order.order_id


# --- OCO rules ------------------------------------------------------------------------------
def test_oco_lifecycle(gtt):
    price = ltp(gtt)
    upper, lower = on_tick(price * 1.04), on_tick(price * 0.96)
    rule_id = gtt.oco_create(RELIANCE, Side.SELL, Product.CNC, 2, upper_trigger=upper, upper_price=upper - 50,
                             lower_trigger=lower, lower_price=lower - 50)
    [rule] = gtt.oco_list()
    assert rule == OcoRule(rule_id, RELIANCE, "RELIANCE-EQ", Side.SELL, Product.CNC, 2, upper, upper - 50, lower,
                           lower - 50)
    assert gtt.gtt_list() == []  # single rules only
    with pytest.raises(BrokerError, match="OCO"):
        gtt.gtt_details(rule_id)

    gtt.oco_modify(rule, 1, upper + 100, upper + 50, lower - 100, lower - 150)
    [changed] = gtt.oco_list()
    assert (changed.quantity, changed.upper_trigger, changed.lower_price) == (1, upper + 100, lower - 150)

    gtt.oco_cancel(changed)
    assert gtt.oco_list() == []


def test_oco_needs_the_market_between_its_triggers(gtt):
    price = ltp(gtt)
    with pytest.raises(OrderRejectedError, match="between"):
        gtt.oco_create(RELIANCE, Side.SELL, Product.CNC, 1, upper_trigger=on_tick(price * 0.98),
                       upper_price=on_tick(price * 0.98), lower_trigger=on_tick(price * 0.97),
                       lower_price=on_tick(price * 0.97))
    assert gtt.oco_list() == []


def test_oco_fires_one_leg_and_the_other_goes_with_it(gtt, sandbox):
    price = ltp(gtt)
    x, y = on_tick(price * 1.10), on_tick(price * 1.05)  # the LTP is below y: the lower leg's condition holds
    reply = post_raw(sandbox, gtt.token, "PlaceOCOOrder", {
        "uid": "FZ00000", "ai_t": OCO, "remarks": "oco-fire", "validity": "GTT", "tsym": "RELIANCE-EQ",
        "exch": "NSE",
        "oivariable": [{"d": f"{x / 100:.2f}", "var_name": "x"}, {"d": f"{y / 100:.2f}", "var_name": "y"}],
        "place_order_params": order_fields("S", x),
        "place_order_params_leg2": order_fields("S", on_tick(price * 1.06))})
    assert reply["stat"] == "OI created"
    wait_for(lambda: not gtt.oco_list())
    tagged = [o for o in gtt.order_book() if o.tag == "oco-fire"]
    assert len(tagged) == 1 and tagged[0].side is Side.SELL and tagged[0].price == on_tick(price * 1.06)


def test_sandbox_refuses_bad_rules(gtt, sandbox):
    price = ltp(gtt)
    market = {**order_fields("B", price), "prctyp": "MKT"}
    reply = post_raw(sandbox, gtt.token, "PlaceGTTOrder", {"uid": "FZ00000", "ai_t": LTP_BELOW, "validity": "GTT",
                                                            "d": "1.00", "remarks": "x", **market})
    assert reply["stat"] == "Not_Ok" and "Market orders" in reply["emsg"]
    reply = post_raw(sandbox, gtt.token, "PlaceOCOOrder", {
        "uid": "FZ00000", "ai_t": OCO, "remarks": "x", "validity": "GTT", "tsym": "RELIANCE-EQ", "exch": "NSE",
        "oivariable": [{"d": "10.00", "var_name": "x"}, {"d": "20.00", "var_name": "y"}],
        "place_order_params": order_fields("S", price), "place_order_params_leg2": order_fields("S", price)})
    assert reply["stat"] == "Not_Ok" and "x must be above y" in reply["emsg"]
    assert post_raw(sandbox, gtt.token, "GetPendingGTTOrder", {"uid": "FZ00000"})["emsg"] == "no data"


def test_symbols_with_an_ampersand_survive_the_form_encoding(gtt, sandbox):
    """Nested jData is form-escaped leaf by leaf: M&M-EQ must not cut the body short."""
    key = next((i.key for i in gtt.instruments() if i.trading_symbol == "M&M-EQ"), None)
    if key is None:
        pytest.skip("the simulator lists no M&M")
    price = gtt.quotes([key])[0].ltp
    tick = gtt.instrument(key).tick_size
    upper, lower = (price * 11 // 10) // tick * tick, (price * 9 // 10) // tick * tick
    gtt.oco_create(key, Side.SELL, Product.CNC, 1, upper, upper, lower, lower)
    [rule] = gtt.oco_list()
    assert rule.trading_symbol == "M&M-EQ" and rule.instrument_key == key


# --- reply shapes ----------------------------------------------------------------------------
@pytest.mark.parametrize("reply", [
    [{"request_time": "10:02:06 15-04-2021", "stat": "Oi created", "Al_id": "21041500000010"}],
    {"request_time": "18:56:26 08-10-2021", "stat": "OI created", "al_id": "21041500000010"},
    {"stat": "OI replaced", "al_id": "21041500000010"},
    [{"stat": "Oi delete success", "Al_id": "21041500000010"}],
])
def test_rule_replies_in_every_documented_shape(reply):
    row = rule_reply(reply, "PlaceGTTOrder")
    assert (row.get("al_id") or row.get("Al_id")) == "21041500000010"


def test_rule_reply_refusals_and_unclear_answers():
    with pytest.raises(NorenError, match="Invalid Oi"):
        rule_reply({"stat": "Invalid Oi"}, "ModifyOCOOrder")
    with pytest.raises(SessionExpiredError):
        rule_reply({"stat": "Not_Ok", "emsg": "Session Expired : Invalid Session Key"}, "PlaceGTTOrder")
    with pytest.raises(OrderOutcomeUnknown):
        rule_reply({"stat": "Oi created"}, "PlaceGTTOrder")  # created, but which rule?
    with pytest.raises(OrderOutcomeUnknown):
        rule_reply([], "PlaceGTTOrder")


def test_form_safe_escapes_nested_leaves():
    from terminal.brokers.flattrade.gtt import form_safe
    assert form_safe({"tsym": "M&M-EQ", "legs": [{"qty": 1, "remarks": "a b"}], "skip": None}) == \
        {"tsym": quote_plus("M&M-EQ"), "legs": [{"qty": "1", "remarks": "a+b"}]}
