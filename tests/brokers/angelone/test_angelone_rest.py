"""The adapter's REST routes against the loopback sandbox: session, orders, books, portfolio, data, extras."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests

from angelone_helpers import make_broker
from terminal.brokers.angelone import AngelOneConfig, create_broker
from terminal.brokers.base import (
    AuthenticationError, OrderOutcomeUnknown, OrderRejectedError, RateLimitedError,
)
from terminal.domain import OrderModification, OrderRequest, OrderStatus, OrderType, Product, Side
from terminal.storage.secrets import save_secret

RELIANCE = "NSE:2885"
IST = timezone(timedelta(hours=5, minutes=30))


def limit_buy(broker, key=RELIANCE, away=0.95, **kw):
    ltp = broker.quotes([key])[0].ltp
    price = int(ltp * away) // 5 * 5
    return OrderRequest(broker.account, key, Side.BUY, kw.pop("quantity", 1), OrderType.LIMIT, Product.MIS,
                        price=price, **kw)


def test_login_sends_the_documented_headers(sandbox, broker):
    info = broker.login()
    assert info.account == f"angelone:{sandbox.client_code}" and info.user_name == "SANDBOX TRADER"
    assert info.expires_at is not None
    method, path, headers = sandbox.requests[-1]
    assert path.endswith("/getProfile") and headers["authorization"].startswith("Bearer ")
    for name in ("x-privatekey", "x-usertype", "x-sourceid", "x-clientlocalip", "x-clientpublicip", "x-macaddress"):
        assert headers[name]
    assert headers["x-usertype"] == "USER" and headers["x-sourceid"] == "WEB"


def test_wrong_pin_and_missing_secrets_are_clear(sandbox, tmp_path):
    broker = make_broker(sandbox, tmp_path)
    save_secret("angelone", sandbox.client_code, "pin", "9999")
    with pytest.raises(AuthenticationError, match="AB1007"):
        broker.login()
    other = create_broker({"client_code": "NOSECRETS", "api_key": "k", "rest_url": sandbox.info["rest_url"]})
    with pytest.raises(AuthenticationError, match="keyring"):
        other.login()


def test_config_refuses_unknown_keys():
    with pytest.raises(ValueError, match="Unknown"):
        AngelOneConfig.from_dict({"client_code": "A", "api_key": "k", "pin": "1234"})


def test_token_refresh_on_ag8001(sandbox, broker):
    before = broker.session.tokens
    sandbox.expire_tokens()
    funds = broker.funds()  # AG8001 -> generateTokens -> repeated call
    assert funds.available_cash > 0
    assert broker.session.tokens.jwt != before.jwt
    paths = [p for _, p, _ in sandbox.requests[-3:]]
    assert paths[0].endswith("getRMS") and paths[1].endswith("generateTokens") and paths[2].endswith("getRMS")


def test_place_modify_cancel_and_find_by_tag(broker):
    request = limit_buy(broker)
    order_id = broker.place_order(request)
    found = broker.find_order_by_tag(request.tag)
    assert found is not None and found.order_id == order_id and found.status is OrderStatus.OPEN
    assert found.price == request.price and found.instrument_key == RELIANCE
    broker.modify_order(order_id, OrderModification(price=request.price - 100))
    assert broker.find_order_by_tag(request.tag).price == request.price - 100
    assert broker.order_details(order_id).order_id == order_id
    broker.cancel_order(order_id)
    assert broker.find_order_by_tag(request.tag).status is OrderStatus.CANCELLED


def test_stop_loss_order_goes_as_stoploss_variety(sandbox, broker):
    ltp = broker.quotes([RELIANCE])[0].ltp
    trigger = int(ltp * 1.03) // 5 * 5
    request = OrderRequest(broker.account, RELIANCE, Side.BUY, 1, OrderType.SL, Product.MIS, price=trigger + 50,
                           trigger_price=trigger)
    broker.place_order(request)
    order = broker.find_order_by_tag(request.tag)
    assert order.status is OrderStatus.TRIGGER_PENDING and order.trigger_price == trigger


def test_market_order_fills_and_shows_in_trades_positions(broker):
    request = OrderRequest(broker.account, RELIANCE, Side.BUY, 2, OrderType.MARKET, Product.MIS)
    order_id = broker.place_order(request)
    assert broker.find_order_by_tag(request.tag).status is OrderStatus.COMPLETE
    trades = [t for t in broker.trade_book() if t.order_id == order_id]
    assert sum(t.quantity for t in trades) == 2 and trades[0].instrument_key == RELIANCE
    position = next(p for p in broker.positions() if p.instrument_key == RELIANCE)
    assert position.net_quantity == 2 and position.average_price > 0


def test_rejection_shows_in_the_book_with_reason(broker):
    request = limit_buy(broker, away=0.5)  # outside the price band
    broker.place_order(request)  # accepted by the API, refused by the exchange
    order = broker.find_order_by_tag(request.tag)
    assert order.status is OrderStatus.REJECTED and order.status_message


def test_empty_body_on_place_is_unknown_and_reconciles_by_tag(sandbox, broker):
    sandbox.fail_next("placeOrder", "empty")
    request = limit_buy(broker)
    with pytest.raises(OrderOutcomeUnknown):
        broker.place_order(request)
    assert broker.find_order_by_tag(request.tag) is not None  # the order did reach the exchange
    placed = [p for _, p, _ in sandbox.requests if p.endswith("placeOrder")]
    assert len(placed) == 1  # never resent


def test_lost_reply_on_place_is_unknown(sandbox, broker):
    sandbox.fail_next("placeOrder", "drop")
    request = limit_buy(broker)
    with pytest.raises(OrderOutcomeUnknown):
        broker.place_order(request)
    assert broker.find_order_by_tag(request.tag) is not None


def test_rate_limit_403_is_a_clear_error(sandbox, broker):
    sandbox.fail_next("getOrderBook", "ratelimit")
    with pytest.raises(RateLimitedError):
        broker.order_book()
    sandbox.fail_next("placeOrder", "ratelimit")
    with pytest.raises(RateLimitedError):
        broker.place_order(limit_buy(broker))


def test_sandbox_enforces_documented_rate_limit(sandbox, broker):
    sandbox.enforce_rate_limits = True
    headers = {"X-PrivateKey": sandbox.api_key, "X-UserType": "USER", "X-SourceID": "WEB",
               "Authorization": f"Bearer {broker.session.tokens.jwt}"}
    url = sandbox.info["rest_url"] + "/rest/secure/angelbroking/order/v1/getOrderBook"
    replies = [requests.get(url, headers=headers, timeout=5) for _ in range(3)]
    assert replies[0].status_code == 200 and replies[-1].status_code == 403
    assert replies[-1].text == "Access denied because of exceeding access rate"


def test_sandbox_refuses_bad_headers(sandbox, broker):
    url = sandbox.info["rest_url"] + "/rest/secure/angelbroking/user/v1/getRMS"
    reply = requests.get(url, headers={"X-PrivateKey": "wrong", "X-UserType": "USER", "X-SourceID": "WEB"}, timeout=5)
    assert reply.json()["status"] is False
    reply = requests.get(url, headers={"X-PrivateKey": sandbox.api_key, "X-UserType": "USER", "X-SourceID": "WEB"},
                         timeout=5)
    assert reply.json()["errorCode"] == "AG8003"


def test_portfolio_routes(broker):
    holdings = broker.holdings()
    assert {h.trading_symbol for h in holdings} >= {"RELIANCE-EQ", "INFY-EQ"}
    all_holdings, totals = broker.all_holdings()
    assert len(all_holdings) == len(holdings) and totals["totalinvvalue"] > 0
    funds = broker.funds()
    assert funds.available_cash == 10_00_000_00
    assert broker.positions() == [] or all(p.account == broker.account for p in broker.positions())


def test_quotes_ltp_and_unknown_tokens(broker):
    keys = [RELIANCE, "NSE:3045", "NSE:999999"]
    ticks = broker.quotes(keys)
    assert [t.key for t in ticks] == keys[:2]
    assert ticks[0].bids and ticks[0].asks and ticks[0].best_bid < ticks[0].best_ask
    assert abs(broker.ltp(RELIANCE) - ticks[0].ltp) < ticks[0].ltp * 0.05


def test_quotes_are_batched_fifty_a_call(sandbox, broker):
    keys = [i.key for i in broker.instruments() if i.exchange.value == "NFO"][:120]
    before = sum(1 for _, p, _ in sandbox.requests if p.endswith("/quote"))
    assert len(broker.quotes(keys)) == 120
    assert sum(1 for _, p, _ in sandbox.requests if p.endswith("/quote")) - before == 3


def test_history_is_chunked_by_the_interval_day_limit(sandbox, broker):
    end = datetime.now(IST)
    start = end - timedelta(days=45)
    candles = broker.history(RELIANCE, 1, start, end)
    calls = [p for _, p, _ in sandbox.requests if p.endswith("getCandleData")]
    assert len(calls) == 2  # 30 days a request for ONE_MINUTE
    assert candles and all(a.start < b.start for a, b in zip(candles, candles[1:]))
    daily = broker.history(RELIANCE, 1440, start, end)
    assert daily and daily[-1].close > 0


def test_instrument_master_download_cache_and_search(sandbox, broker, tmp_path):
    master = broker.master()
    assert len(master) == len(sandbox.exchange.instruments())
    assert master.instrument(RELIANCE).trading_symbol == "RELIANCE-EQ"
    hits = broker.search("reliance")
    assert hits[0].key == RELIANCE
    option = next(i for i in sandbox.exchange.instruments() if i.is_option)
    assert master.search(option.trading_symbol.lower())[0].key == option.key
    found = master.search(option.trading_symbol.lower())[0]
    assert (found.strike, found.option_type, found.lot_size, found.expiry.date()) == (
        option.strike, option.option_type, option.lot_size, option.expiry.date())
    for hit in master.search("nifty ce", limit=20):
        assert "nifty" in (hit.trading_symbol + hit.name).lower()
    again = make_broker(sandbox, tmp_path)  # same cache folder: no second download
    downloads = sum(1 for _, p, _ in sandbox.requests if p.endswith("OpenAPIScripMaster.json"))
    assert len(again.master()) == len(master)
    assert sum(1 for _, p, _ in sandbox.requests if p.endswith("OpenAPIScripMaster.json")) == downloads


def test_gtt_lifecycle(sandbox, broker):
    ltp = broker.quotes([RELIANCE])[0].ltp
    rule_id = broker.gtt_create(RELIANCE, Side.BUY, Product.CNC, 1, price=int(ltp * 0.9) // 5 * 5,
                                trigger_price=int(ltp * 0.91) // 5 * 5)
    rule = broker.gtt_details(rule_id)
    assert rule.status == "NEW" and rule.quantity == 1 and rule.instrument_key == RELIANCE
    broker.gtt_modify(rule, 2, rule.price - 100, rule.trigger_price - 100)
    assert broker.gtt_details(rule_id).quantity == 2
    assert rule_id in {r.rule_id for r in broker.gtt_list()}
    broker.gtt_cancel(rule)
    assert broker.gtt_details(rule_id).status == "CANCELLED"


def test_gtt_triggers_an_order(sandbox, broker):
    ltp = broker.quotes([RELIANCE])[0].ltp
    trigger = int(ltp * 1.02) // 5 * 5
    rule_id = broker.gtt_create(RELIANCE, Side.BUY, Product.CNC, 1, price=trigger + 50, trigger_price=trigger)
    assert broker.gtt_details(rule_id).status == "NEW"
    # The simulated market moves too slowly to cross 2% in a test; flip the rule's direction so the
    # price already stands on the trigger side, and let the sandbox's pump fire it.
    sandbox._gtt[rule_id].above = False
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and broker.gtt_details(rule_id).status != "SENTTOEXCHANGE":
        time.sleep(0.05)
    assert broker.gtt_details(rule_id).status == "SENTTOEXCHANGE"
    order = broker.find_order_by_tag(f"GTT{rule_id}")
    assert order is not None and order.price == trigger + 50 and order.product is Product.CNC


def test_market_analytics_routes(broker):
    pcr = broker.put_call_ratio()
    assert pcr and all(r.pcr >= 0 for r in pcr)
    movers = broker.gainers_losers("PercPriceGainers", "NEAR")
    assert movers == sorted(movers, key=lambda m: -m.percent_change)
    for kind in ("Long Built Up", "Short Built Up", "Short Covering", "Long Unwinding"):
        broker.oi_buildup(kind, "NEAR")
    option = next(i for i in broker.instruments() if i.is_option and i.underlying == "NIFTY")
    greeks = broker.option_greeks("NIFTY", f"{option.expiry:%d%b%Y}".upper())
    assert greeks and any(0 < g.delta < 1 for g in greeks if g.option_type == "CE")


def test_charges_margin_and_edis(broker):
    request = limit_buy(broker, quantity=10)
    estimate = broker.estimate_charges([request])
    assert estimate.total > 0 and estimate.trade_value == request.price * 10 and "Brokerage" in estimate.parts
    assert broker.margin_required([request]) > 0
    form = broker.edis_verify("INE002A01018", 5)
    broker.edis_generate_tpin(form["DPId"], form["ReqId"], form["BOID"], "ABCDE1234F")
    assert broker.edis_status(form["ReqId"]) is True


def test_convert_position_refusal_is_clear(broker):
    broker.place_order(OrderRequest(broker.account, RELIANCE, Side.BUY, 1, OrderType.MARKET, Product.MIS))
    position = next(p for p in broker.positions() if p.instrument_key == RELIANCE)
    with pytest.raises(Exception, match="conversion"):
        broker.convert_position(position, Product.CNC, 1)


def test_logout_invalidates_the_session(sandbox, broker):
    broker.logout()
    assert broker.session.tokens is None
    reply = requests.get(sandbox.info["rest_url"] + "/rest/secure/angelbroking/user/v1/getRMS", timeout=5,
                         headers={"X-PrivateKey": sandbox.api_key, "X-UserType": "USER", "X-SourceID": "WEB",
                                  "Authorization": "Bearer x"})
    assert json.loads(reply.text)["errorCode"] == "AG8001"
