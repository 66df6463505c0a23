"""FlattradeBroker against the loopback Noren sandbox: login, every REST call, the error mapping."""

from __future__ import annotations

import socket
import threading
from datetime import datetime, timedelta

import pytest
import requests

from terminal.brokers.base import (
    AuthenticationError, BrokerError, NetworkError, OrderOutcomeUnknown, RateLimitedError, SessionExpiredError,
)
from terminal.brokers.flattrade import create_broker
from terminal.brokers.flattrade.http import NorenHttp
from terminal.brokers.ratelimit import RateLimits
from terminal.domain import (
    Exchange, InstrumentKind, OptionType, OrderModification, OrderRequest, OrderStatus, OrderType, Product, Side,
)
from terminal.sim.calendar import IST
from terminal.storage import secrets

from flattrade_helpers import follow_in_background, wait_for


def option(broker, offset_strikes=0, option_type=OptionType.CALL):
    """A NIFTY option of the nearest expiry, ``offset_strikes`` away from the money."""
    nifty = broker.quotes(["NSE:26000"])[0].ltp
    chain = [i for i in broker.instruments() if i.kind is InstrumentKind.OPTION and i.underlying == "NIFTY"
             and i.option_type is option_type]
    expiry = min(i.expiry for i in chain)
    chain = sorted((i for i in chain if i.expiry == expiry), key=lambda i: i.strike)
    atm = min(range(len(chain)), key=lambda n: abs(chain[n].strike - nifty))
    return chain[atm + offset_strikes]


def limit(broker, inst, side, price, quantity=None, **kwargs):
    return OrderRequest(broker.account, inst.key, side, quantity or inst.lot_size, OrderType.LIMIT, Product.NRML,
                        price=price, **kwargs)


# --- login ---------------------------------------------------------------------------------
def test_browser_login_gets_a_token_and_the_user(broker, sandbox):
    assert broker.token == sandbox.token_for(sandbox.user_id)
    assert broker.user_name == "SANDBOX TRADER"


def test_pasted_redirect_url_logs_in(broker_config, sandbox, tmp_path):
    b = create_broker(broker_config, cache_dir=tmp_path)
    redirect = requests.get(sandbox.info()["auth_url"], params={"app_key": broker_config["api_key"]},
                            allow_redirects=False, timeout=5)
    assert redirect.status_code == 302
    session = b.login_with_redirect_url(redirect.headers["Location"])
    assert session.account == "flattrade:FZ00000"
    assert b.token == sandbox.token_for("FZ00000")
    with pytest.raises(AuthenticationError):  # a code works once
        b.login_with_redirect_url(redirect.headers["Location"])


def test_second_login_reuses_the_days_token_without_a_browser(broker, broker_config, tmp_path):
    def no_browser(url):
        raise AssertionError("the browser should not be needed")

    again = create_broker(broker_config, opener=no_browser, cache_dir=tmp_path)
    session = again.login()
    assert again.token == broker.token and session.expires_at is not None


def test_wrong_secret_is_refused(broker_config, tmp_path):
    secrets.save_secret("flattrade", broker_config["client_id"], "api_secret", "not-the-secret")
    secrets.delete_secret("flattrade", broker_config["client_id"], "session_token")
    b = create_broker(broker_config, opener=follow_in_background, cache_dir=tmp_path)
    with pytest.raises(AuthenticationError, match="checksum"):
        b.login()


# --- reference and market data -----------------------------------------------------------
def test_scrip_master_is_downloaded_parsed_and_cached(broker, sandbox):
    instruments = broker.instruments()
    assert {i.key for i in instruments} == set(sandbox.instruments)
    nifty_opt = option(broker)
    assert nifty_opt.trading_symbol.startswith("NIFTY") and nifty_opt.lot_size == 65
    assert nifty_opt.trading_symbol[-len(str(nifty_opt.strike // 100)) - 1] == "C"
    assert all(broker.scrip_master.is_fresh(broker.scrip_master.cache_dir / f) for f in broker.config.scrip_files)


def test_quotes_for_index_and_option_with_depth(broker):
    inst = option(broker)
    index, opt = broker.quotes(["NSE:26000", inst.key])
    assert index.key == "NSE:26000" and index.ltp > 0 and not index.bids
    assert opt.key == inst.key and opt.ltp > 0 and len(opt.bids) == 5 and len(opt.asks) == 5
    assert broker.quotes(["NFO:1"]) == []


def test_history_intraday_and_daily(broker):
    end = datetime.now(IST)
    minutes = broker.history("NSE:26000", 5, end - timedelta(days=3), end)
    assert minutes and all(a.start < b.start for a, b in zip(minutes, minutes[1:]))
    assert all(c.low <= min(c.open, c.close) and c.high >= max(c.open, c.close) for c in minutes)
    days = broker.history("NSE:2885", 1440, end - timedelta(days=20), end)
    assert len(days) >= 5 and days[0].start < days[-1].start


@pytest.mark.parametrize("minutes", [7, 10, 120, 240])
def test_history_asks_only_for_the_terminals_intervals(broker, sandbox, minutes):
    """10/120/240 exist on TPSeries but not in the terminal (nor the sandbox): refused before any call."""
    end = datetime.now(IST)
    sandbox.set_faults("session_expired=1,routes=TPSeries+EODChartData")  # a call would fail differently
    with pytest.raises(ValueError, match=r"supported: 1, 3, 5, 15, 30, 60 minutes and 1440 \(daily\)") as caught:
        broker.history("NSE:26000", minutes, end - timedelta(days=1), end)
    assert isinstance(caught.value, BrokerError)  # the chart's BrokerError handler still catches it


@pytest.mark.parametrize("minutes", [1, 3, 5, 15, 30, 60])
def test_history_serves_every_intraday_interval_of_the_terminal(broker, minutes):
    end = datetime.now(IST)
    bars = broker.history("NSE:26000", minutes, end - timedelta(days=4), end)
    assert bars and all(b.start - a.start >= minutes * 60 for a, b in zip(bars, bars[1:]))


def test_search_security_info_and_option_chain(broker):
    found = broker.search("RELIANCE", Exchange.NSE)
    assert [i.trading_symbol for i in found] == ["RELIANCE-EQ"]
    inst = option(broker)
    info = broker.security_info(inst.key)
    assert info.freeze_quantity == 1801 and info.tick_size == 5
    chain = broker.option_chain(inst.key, inst.strike, count=2)
    assert len(chain) == 8 and inst in chain
    assert {i.expiry for i in chain} == {inst.expiry}


# --- orders --------------------------------------------------------------------------------
def test_limit_order_place_find_modify_cancel(broker):
    inst = option(broker, offset_strikes=3)
    ltp = broker.quotes([inst.key])[0].ltp
    far = max((ltp * 7 // 10) // 5 * 5, 5)
    request = limit(broker, inst, Side.BUY, far)
    order_id = broker.place_order(request)
    assert len(order_id) == 14
    found = broker.find_order_by_tag(request.tag)
    assert found is not None and found.order_id == order_id and found.status is OrderStatus.OPEN
    assert found.price == far and found.trading_symbol == inst.trading_symbol and found.instrument_key == inst.key

    broker.modify_order(order_id, OrderModification(price=far - 5, quantity=2 * inst.lot_size))
    modified = broker.order(order_id)
    assert (modified.price, modified.quantity, modified.status) == (far - 5, 2 * inst.lot_size, OrderStatus.OPEN)

    broker.cancel_order(order_id)
    assert broker.order(order_id).status is OrderStatus.CANCELLED
    history = broker.order_history(order_id)
    assert [o.status for o in history[:3]] == [OrderStatus.PENDING, OrderStatus.PENDING, OrderStatus.OPEN]
    with pytest.raises(BrokerError, match="not found to Cancel"):
        broker.cancel_order(order_id)


def test_marketable_order_fills_into_trades_positions_and_funds(broker):
    inst = option(broker)
    ask = broker.quotes([inst.key])[0].asks[0].price
    order_id = broker.place_order(limit(broker, inst, Side.BUY, ask + 100))
    done = wait_for(lambda: (o := broker.order(order_id)).status is OrderStatus.COMPLETE and o)
    trades = [t for t in broker.trade_book() if t.order_id == order_id]
    assert sum(t.quantity for t in trades) == done.quantity == done.filled_quantity
    position = next(p for p in broker.positions() if p.instrument_key == inst.key)
    assert position.net_quantity == inst.lot_size and position.product is Product.NRML
    funds = broker.funds()
    assert funds.used_margin > 0 and funds.available_cash > 0


def test_market_order_goes_out_as_a_protected_limit(broker):
    inst = option(broker)
    ltp = broker.quotes([inst.key])[0].ltp
    request = OrderRequest(broker.account, inst.key, Side.BUY, inst.lot_size, OrderType.MARKET, Product.NRML)
    order_id = broker.place_order(request)
    sent = broker.order_history(order_id)[0]
    assert sent.order_type is OrderType.LIMIT
    assert sent.price >= ltp * 1.02 * 0.95 and sent.price % inst.tick_size == 0


def test_exchange_rejection_shows_in_the_book_with_the_reason(broker):
    inst = option(broker)
    ltp = broker.quotes([inst.key])[0].ltp
    order_id = broker.place_order(limit(broker, inst, Side.BUY, ltp, quantity=inst.lot_size * 40))  # over freeze
    order = broker.order(order_id)
    assert order.status is OrderStatus.REJECTED and "freeze" in order.status_message.lower()


def test_index_cannot_be_ordered_and_account_must_match(broker):
    with pytest.raises(BrokerError):
        broker.place_order(OrderRequest(broker.account, "NSE:26000", Side.BUY, 1, price=100))
    with pytest.raises(BrokerError, match="account"):
        broker.place_order(OrderRequest("flattrade:OTHER", "NSE:2885", Side.BUY, 1, price=100))


def test_holdings_and_empty_books(broker):
    holdings = broker.holdings()
    assert {h.trading_symbol for h in holdings} == {"RELIANCE-EQ", "INFY-EQ", "ITC-EQ"}
    assert next(h for h in holdings if h.trading_symbol == "ITC-EQ").quantity == 100
    assert broker.order_book() == [] and broker.trade_book() == [] and broker.positions() == []


# --- errors --------------------------------------------------------------------------------
def test_expired_session_raises_session_expired(broker, sandbox):
    sandbox.expire_sessions()
    with pytest.raises(SessionExpiredError):
        broker.order_book()


def test_server_rate_limit_maps_to_rate_limited(broker, sandbox):
    http = NorenHttp(broker.config.rest_url, limits=RateLimits({}))  # no client-side pacing
    http.token = broker.token
    inst = option(broker, offset_strikes=5)
    body = {"ordersource": "API", "uid": "FZ00000", "actid": "FZ00000", "trantype": "B", "prd": "M",
            "exch": "NFO", "tsym": inst.trading_symbol, "qty": str(inst.lot_size), "dscqty": "0",
            "prctyp": "LMT", "prc": "0.05", "ret": "DAY", "remarks": "burst"}
    with pytest.raises(RateLimitedError, match="exceeds Limit 10"):
        for _ in range(12):
            http.post("PlaceOrder", body)


def test_lost_place_order_reply_is_outcome_unknown_but_refused_connection_is_not(broker_config, tmp_path):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(silent.accept()), daemon=True).start()
    http = NorenHttp(f"http://127.0.0.1:{silent.getsockname()[1]}/PiConnectAPI/", timeout=0.5)
    http.token = "t"
    with pytest.raises(OrderOutcomeUnknown):
        http.post("PlaceOrder", {"uid": "FZ00000"})
    silent.close()

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    http = NorenHttp(f"http://127.0.0.1:{port}/PiConnectAPI/", timeout=0.5)
    http.token = "t"
    with pytest.raises(NetworkError) as info:
        http.post("PlaceOrder", {"uid": "FZ00000"})
    assert not isinstance(info.value, OrderOutcomeUnknown)
