"""The SmartAPI sandbox's REST routes: each takes (sandbox, JSON body, path) and returns the reply envelope."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np

from terminal.analytics.greeks import greeks_black76, implied_volatility_black76
from terminal.domain import (
    Exchange, InstrumentKind, OptionType, OrderModification, OrderRequest, OrderType, Position, Side, Validity,
)
from terminal.domain.money import to_paise
from terminal.sim.accounts import margin_after_fill
from terminal.sim.errors import ModificationRejectedError, OrderNotOpenError, SimError, UnknownOrderError
from terminal.sim.servers import smartapi_wire as wire
from terminal.sim.servers.smartapi import (
    CANDLE_INTERVALS, SECURE, ApiError, GttState, _fail, _ok, route,
)

AUTH = "/rest/auth/angelbroking"


def _price(value, field: str) -> int:
    try:
        return to_paise(value if value not in (None, "") else 0)
    except ValueError:
        raise ApiError(f"Invalid {field}", "AB2000") from None


def _quantity(value) -> int:
    try:
        quantity = int(str(value))
    except (TypeError, ValueError):
        raise ApiError("Invalid quantity", "AB2000") from None
    if quantity <= 0:
        raise ApiError("Invalid quantity", "AB2000")
    return quantity


# --- session ------------------------------------------------------------------------------------------
@route("POST", f"{AUTH}/user/v1/loginByPassword", "login")
def login(box, params, path):
    if params.get("clientcode") != box.client_code:
        return _fail("Invalid clientcode", "AB1007")
    if params.get("password") != box.pin:
        return _fail("Login Id or password is invalid", "AB1007")
    import pyotp

    if not pyotp.TOTP(box.totp_secret).verify(str(params.get("totp") or ""), valid_window=1):
        return _fail("Invalid totp", "AB1050")
    data = box._issue()
    if "state" in params:
        data["state"] = params["state"]
    return _ok(data)


@route("POST", f"{AUTH}/jwt/v1/generateTokens", "refresh")
def refresh(box, params, path):
    token = params.get("refreshToken")
    with box._lock:
        known = token in box._refresh_tokens
    if not known:
        return _fail("Invalid Refresh Token", "AB8050")
    return _ok(box._issue())


@route("GET", f"{SECURE}/user/v1/getProfile", "profile")
def profile(box, params, path):
    return _ok({"clientcode": box.client_code, "name": "SANDBOX TRADER", "email": "", "mobileno": "",
                "exchanges": ["nse_cm", "nse_fo"], "products": ["DELIVERY", "INTRADAY", "MARGIN"],
                "lastlogintime": "", "brokerid": "B2C"})


@route("POST", f"{SECURE}/user/v1/logout", "logout")
def logout(box, params, path):
    if params.get("clientcode") != box.client_code:
        return _fail("Invalid clientcode", "AB1007")
    box.expire_tokens()
    return {"status": True, "message": "SUCCESS", "errorcode": "", "data": ""}


@route("GET", f"{SECURE}/user/v1/getRMS", "rms")
def rms(box, params, path):
    funds = box.exchange.funds(box.account)
    cash = funds.opening_balance + funds.realised_pnl
    t = wire.rupees_text
    return _ok({"net": t(cash + funds.collateral - funds.used_margin), "availablecash": t(cash),
                "availableintradaypayin": "0", "availablelimitmargin": "0", "collateral": t(funds.collateral),
                "m2munrealized": t(funds.unrealised_pnl), "m2mrealized": t(funds.realised_pnl),
                "utiliseddebits": t(funds.used_margin), "utilisedspan": "0", "utilisedoptionpremium": "0",
                "utilisedholdingsales": "0", "utilisedexposure": "0", "utilisedturnover": "0", "utilisedpayout": "0"})


# --- orders -------------------------------------------------------------------------------------------
def _order_request(box, params) -> OrderRequest:
    inst = box.instrument_for(params)
    if params.get("tradingsymbol") not in (None, inst.trading_symbol):
        raise ApiError("Symbol Not Found", "AB1009")
    variety = str(params.get("variety") or "")
    if variety not in ("NORMAL", "STOPLOSS", "ROBO"):
        raise ApiError("Invalid Order Variety", "AB1008")
    try:
        order_type = wire.ORDER_TYPE_FROM[str(params.get("ordertype"))]
        side = Side(str(params.get("transactiontype")))
        product = wire.PRODUCT_FROM[str(params.get("producttype"))]
        validity = Validity(str(params.get("duration") or "DAY"))
    except (KeyError, ValueError):
        raise ApiError("Invalid order parameters", "AB2000") from None
    if (variety == "STOPLOSS") != (order_type in (OrderType.SL, OrderType.SL_M)):
        raise ApiError("Invalid Order Variety", "AB1008")
    tag = str(params.get("ordertag") or "")
    if len(tag) >= 20:
        raise ApiError("ordertag length should be less than 20 characters", "AB4008")
    return OrderRequest(box.account, inst.key, side, _quantity(params.get("quantity")), order_type, product, validity,
                        _price(params.get("price"), "price") if order_type.needs_price else 0,
                        _price(params.get("triggerprice"), "triggerprice") if order_type.needs_trigger else 0,
                        tag=tag)


@route("POST", f"{SECURE}/order/v1/placeOrder", "orders")
def place_order(box, params, path):
    order = box.exchange.place(box.account, _order_request(box, params))
    record = box.record(order)
    return _ok({"script": order.trading_symbol, "orderid": order.order_id, "uniqueorderid": record["uniqueorderid"]})


def _own_order(box, order_id):
    try:
        return box.exchange.order(box.account, str(order_id))
    except UnknownOrderError:
        raise ApiError("Order not found", "AB1013") from None


@route("POST", f"{SECURE}/order/v1/modifyOrder", "orders")
def modify_order(box, params, path):
    order = _own_order(box, params.get("orderid"))
    try:
        order_type = wire.ORDER_TYPE_FROM[str(params.get("ordertype") or wire.ORDER_TYPE_WIRE[order.order_type])]
    except KeyError:
        raise ApiError("Invalid order type", "AB2000") from None
    change = OrderModification(
        quantity=_quantity(params["quantity"]) if params.get("quantity") not in (None, "") else None,
        price=_price(params["price"], "price") if order_type.needs_price and params.get("price") not in (None, "") else None,
        trigger_price=_price(params["triggerprice"], "triggerprice")
        if order_type.needs_trigger and params.get("triggerprice") not in (None, "") else None,
        order_type=order_type)
    try:
        box.exchange.modify(box.account, order.order_id, change)
    except (ModificationRejectedError, OrderNotOpenError) as exc:
        return _fail(str(exc), "AB1013" if isinstance(exc, OrderNotOpenError) else "AB2000")
    return _ok({"orderid": order.order_id, "uniqueorderid": box.record(order)["uniqueorderid"]})


@route("POST", f"{SECURE}/order/v1/cancelOrder", "orders")
def cancel_order(box, params, path):
    order = _own_order(box, params.get("orderid"))
    try:
        box.exchange.cancel(box.account, order.order_id)
    except OrderNotOpenError as exc:
        return _fail(str(exc), "AB1013")
    return _ok({"orderid": order.order_id, "uniqueorderid": box.record(order)["uniqueorderid"]})


@route("GET", f"{SECURE}/order/v1/getOrderBook", "order_book")
def order_book(box, params, path):
    orders = box.exchange.orders(box.account)
    return _ok([box.record(o) for o in orders] or None)  # an empty book comes back as null


@route("GET", f"{SECURE}/order/v1/details/", "order_details")
def order_details(box, params, path):
    unique = path.rsplit("/", 1)[-1]
    with box._lock:
        order_id = box._unique.get(unique)
    if order_id is None:
        return _fail("Order not found", "AB1013")
    return _ok(box.record(box.exchange.order(box.account, order_id), numbers=True))


@route("GET", f"{SECURE}/order/v1/getTradeBook", "trade_book")
def trade_book(box, params, path):
    trades = box.exchange.trades(box.account)
    return _ok([wire.trade_record(t, box.exchange.master.by_key.get(t.instrument_key)) for t in trades] or None)


@route("GET", f"{SECURE}/order/v1/getPosition", "positions")
def positions(box, params, path):
    rows = []
    t = wire.rupees_text
    for p in box.exchange.positions(box.account):
        inst = box.exchange.master.by_key[p.instrument_key]
        ltp = box.exchange.quote(p.instrument_key).ltp
        buy_avg = p.day_buy_value // p.day_buy_quantity if p.day_buy_quantity else 0
        sell_avg = p.day_sell_value // p.day_sell_quantity if p.day_sell_quantity else 0
        exchange, token = p.instrument_key.split(":", 1)
        rows.append({
            "exchange": exchange, "symboltoken": token, "producttype": wire.PRODUCT_WIRE[p.product],
            "tradingsymbol": p.trading_symbol, "symbolname": inst.underlying, "instrumenttype": wire._instrument_type(inst),
            "priceden": "1.00", "pricenum": "1.00", "genden": "1.00", "gennum": "1.00", "precision": "2",
            "multiplier": "-1", "boardlotsize": "1", "buyqty": str(p.day_buy_quantity),
            "sellqty": str(p.day_sell_quantity), "buyamount": t(p.day_buy_value), "sellamount": t(p.day_sell_value),
            "symbolgroup": "EQ", "strikeprice": t(inst.strike) if inst.strike else "-1",
            "optiontype": inst.option_type.value if inst.option_type else "", "expirydate": wire._expiry_text(inst),
            "lotsize": str(inst.lot_size), "cfbuyqty": str(max(p.overnight_quantity, 0)),
            "cfsellqty": str(max(-p.overnight_quantity, 0)), "cfbuyamount": "0.00", "cfsellamount": "0.00",
            "buyavgprice": t(buy_avg), "sellavgprice": t(sell_avg), "avgnetprice": t(p.average_price),
            "netvalue": t(-p.average_price * p.net_quantity), "netqty": str(p.net_quantity),
            "totalbuyvalue": t(p.day_buy_value), "totalsellvalue": t(p.day_sell_value), "netprice": t(p.average_price),
            "ltp": t(ltp), "pnl": t(p.total_pnl(ltp)),
        })
    return _ok(rows or None)


@route("POST", f"{SECURE}/order/v1/convertPosition", "convert")
def convert_position(box, params, path):
    # The simulated exchange cannot move a position between products; the reply says so.
    box.instrument_for(params)
    return _fail("Position conversion failed: not supported by the simulated exchange", "AB1017")


def _holding_rows(box):
    rows = []
    for h in box.exchange.holdings(box.account):
        quote = box.exchange.quote(h.instrument_key)
        exchange, token = h.instrument_key.split(":", 1)
        rows.append({"tradingsymbol": h.trading_symbol, "exchange": exchange, "isin": f"INE{token:0>7}01",
                     "t1quantity": 0, "realisedquantity": h.quantity, "quantity": h.quantity, "authorisedquantity": 0,
                     "product": "DELIVERY", "collateralquantity": None, "collateraltype": None, "haircut": 0,
                     "averageprice": wire.rupees(h.average_price), "ltp": wire.rupees(h.last_price),
                     "symboltoken": token, "close": wire.rupees(quote.close), "profitandloss": wire.rupees(h.pnl),
                     "pnlpercentage": round(100 * (h.last_price - h.average_price) / h.average_price, 2)})
    return rows


@route("GET", f"{SECURE}/portfolio/v1/getHolding", "holdings")
def holdings(box, params, path):
    return _ok(_holding_rows(box))


@route("GET", f"{SECURE}/portfolio/v1/getAllHolding", "all_holdings")
def all_holdings(box, params, path):
    rows = _holding_rows(box)
    value = sum(r["ltp"] * r["quantity"] for r in rows)
    invested = sum(r["averageprice"] * r["quantity"] for r in rows)
    return _ok({"holdings": rows, "totalholding": {
        "totalholdingvalue": round(value, 2), "totalinvvalue": round(invested, 2),
        "totalprofitandloss": round(value - invested, 2),
        "totalpnlpercentage": round(100 * (value - invested) / invested, 2) if invested else 0}})


# --- market data --------------------------------------------------------------------------------------
@route("POST", f"{SECURE}/order/v1/getLtpData", "ltp")
def ltp_data(box, params, path):
    inst = box.instrument_for(params)
    tick = box.exchange.quote(inst.key)
    t = wire.rupees_text
    return _ok({"exchange": inst.exchange.value, "tradingsymbol": inst.trading_symbol, "symboltoken": inst.token,
                "open": t(tick.open), "high": t(tick.high), "low": t(tick.low), "close": t(tick.close),
                "ltp": t(tick.ltp)})


@route("POST", f"{SECURE}/market/v1/quote", "quote")
def quote(box, params, path):
    mode = str(params.get("mode") or "")
    if mode not in ("LTP", "OHLC", "FULL"):
        return _fail("Invalid mode", "AB4020")
    tokens = params.get("exchangeTokens") or {}
    if not isinstance(tokens, dict) or sum(len(v or []) for v in tokens.values()) > 50:
        return _fail("Maximum 50 tokens per request", "AB4019")
    fetched, unfetched = [], []
    for exchange, token_list in tokens.items():
        for token in token_list or []:
            inst = box.exchange.master.by_key.get(f"{exchange}:{token}")
            if not token:
                unfetched.append({"exchange": exchange, "symbolToken": token, "message": "Symbol token cannot be empty",
                                  "errorCode": "AB4018"})
            elif inst is None:
                unfetched.append({"exchange": exchange, "symbolToken": token, "message": "Invalid Token",
                                  "errorCode": "AB4018"})
            else:
                fetched.append(wire.quote_item(box.exchange.quote(inst.key), inst, mode))
    # the gateway answers quotes in its own envelope (shape B)
    return {"success": True, "message": "SUCCESS", "errorCode": "", "data": {"fetched": fetched, "unfetched": unfetched}}


@route("POST", f"{SECURE}/historical/v1/getCandleData", "candles")
def candles(box, params, path):
    inst = box.instrument_for(params)
    spec = CANDLE_INTERVALS.get(str(params.get("interval")))
    if spec is None:
        return _fail("Invalid interval", "AB2001")
    minutes, max_days = spec
    try:
        start = datetime.strptime(str(params.get("fromdate")), "%Y-%m-%d %H:%M").replace(tzinfo=wire.IST)
        end = datetime.strptime(str(params.get("todate")), "%Y-%m-%d %H:%M").replace(tzinfo=wire.IST)
    except ValueError:
        return _fail("Invalid date format, use yyyy-MM-dd HH:mm", "AB2001")
    if end < start or end - start > timedelta(days=max_days):
        return _fail(f"Date range exceeds {max_days} days for {params.get('interval')}", "AB2001")
    bars = box.exchange.history(inst.key, minutes, start, end)
    return _ok([wire.candle_row(c) for c in bars])


@route("POST", f"{SECURE}/order/v1/searchScrip", "search")
def search_scrip(box, params, path):
    exchange = str(params.get("exchange") or "").upper()
    text = str(params.get("searchscrip") or "").upper()
    if not text:
        return _fail("Invalid searchscrip", "AB2000")
    rows = [{"exchange": i.exchange.value, "tradingsymbol": i.trading_symbol, "symboltoken": i.token}
            for i in box.exchange.instruments() if i.exchange.value == exchange and text in i.trading_symbol.upper()]
    return _ok(rows[:500])


# --- GTT ------------------------------------------------------------------------------------------------
@route("POST", f"{SECURE}/gtt/v1/createRule", "gtt_write")
def gtt_create(box, params, path):
    inst = box.instrument_for(params)
    if inst.exchange not in (Exchange.NSE, Exchange.BSE):
        return _fail("Invalid Exchange Segment", "AB9010")
    if params.get("producttype") not in ("DELIVERY", "MARGIN"):
        return _fail("Invalid Product Type", "AB9015")
    if params.get("transactiontype") not in ("BUY", "SELL"):
        return _fail("Invalid Order Side", "AB9014")
    try:
        qty = _quantity(params.get("qty"))
    except ApiError:
        return _fail("Invalid Order Quantity", "AB9006")
    price, trigger = _price(params.get("price"), "price"), _price(params.get("triggerprice"), "triggerprice")
    if price <= 0:
        return _fail("Invalid Price", "AB9008")
    ltp = box.exchange.quote(inst.key).ltp
    if trigger <= 0 or trigger == ltp:
        return _fail("Invalid Trigger Price", "AB9009")
    now = datetime.now(wire.IST)
    with box._lock:
        box._gtt_seq += 1
        rule_id = str(box._gtt_seq)
        rule = {"id": rule_id, "status": "NEW", "createddate": now.isoformat(), "updateddate": now.isoformat(),
                "expirydate": (now + timedelta(days=int(params.get("timeperiod") or 365))).isoformat(),
                "clientid": box.client_code, "tradingsymbol": inst.trading_symbol, "symboltoken": inst.token,
                "exchange": inst.exchange.value, "transactiontype": params["transactiontype"],
                "producttype": params["producttype"], "price": wire.rupees_text(price), "qty": str(qty),
                "triggerprice": wire.rupees_text(trigger), "disclosedqty": str(params.get("disclosedqty") or "0")}
        box._gtt[rule_id] = GttState(rule, inst.key, above=trigger > ltp)
    return _ok({"id": rule_id})


def _gtt(box, rule_id):
    with box._lock:
        state = box._gtt.get(str(rule_id))
    if state is None:
        raise ApiError("Invalid Rule ID", "AB9013")
    return state


@route("POST", f"{SECURE}/gtt/v1/modifyRule", "gtt_write")
def gtt_modify(box, params, path):
    state = _gtt(box, params.get("id"))
    if state.rule["status"] not in ("NEW", "ACTIVE"):
        return _fail("Invalid Rule ID", "AB9013")
    price, trigger = _price(params.get("price"), "price"), _price(params.get("triggerprice"), "triggerprice")
    qty = _quantity(params.get("qty") or params.get("quantity"))
    ltp = box.exchange.quote(state.key).ltp
    with box._lock:
        state.rule.update(price=wire.rupees_text(price), triggerprice=wire.rupees_text(trigger), qty=str(qty),
                          updateddate=datetime.now(wire.IST).isoformat())
        state.above = trigger > ltp
    return _ok({"id": state.rule["id"]})


@route("POST", f"{SECURE}/gtt/v1/cancelRule", "gtt_write")
def gtt_cancel(box, params, path):
    state = _gtt(box, params.get("id"))
    with box._lock:
        state.rule["status"] = "CANCELLED"
    return _ok({"id": state.rule["id"]})


@route("POST", f"{SECURE}/gtt/v1/ruleDetails", "gtt_read")
def gtt_details(box, params, path):
    return _ok(dict(_gtt(box, params.get("id")).rule))


@route("POST", f"{SECURE}/gtt/v1/ruleList", "gtt_read")
def gtt_list(box, params, path):
    statuses = params.get("status")
    if not isinstance(statuses, list) or not statuses:
        return _fail("Invalid Status Array Size", "AB9004")
    page, count = int(params.get("page") or 1), int(params.get("count") or 10)
    if page < 1:
        return _fail("Invalid Page Value", "AB9017")
    if count < 1:
        return _fail("Invalid Count Value", "AB9018")
    with box._lock:
        rules = [dict(s.rule) for s in box._gtt.values() if "FORALL" in statuses or s.rule["status"] in statuses]
    return _ok(rules[(page - 1) * count: page * count])


# --- analytics ------------------------------------------------------------------------------------------
def _near_futures(box, expirytype: str):
    futures = [i for i in box.exchange.instruments() if i.kind is InstrumentKind.FUTURE]
    expiries = sorted({f.expiry for f in futures})
    index = {"NEAR": 0, "NEXT": 1, "FAR": 2}.get(expirytype)
    if index is None or index >= len(expiries):
        raise ApiError("Invalid expirytype", "AB2000")
    return [f for f in futures if f.expiry == expiries[index]]


@route("POST", f"{SECURE}/marketData/v1/gainersLosers", "movers")
def gainers_losers(box, params, path):
    datatype = params.get("datatype")
    rows = []
    for f in _near_futures(box, str(params.get("expirytype"))):
        t = box.exchange.quote(f.key)
        oi_change = t.open_interest - t.open_interest_day_open
        oi_pct = 100 * oi_change / t.open_interest_day_open if t.open_interest_day_open else 0.0
        rows.append({"tradingSymbol": f.trading_symbol, "percentChange": round(
            t.change_percent if "Price" in str(datatype) else oi_pct, 2), "symbolToken": int(f.token),
            "opnInterest": t.open_interest, "netChangeOpnInterest": oi_change})
    if datatype not in ("PercOIGainers", "PercOILosers", "PercPriceGainers", "PercPriceLosers"):
        return _fail("Invalid datatype", "AB2000")
    rows.sort(key=lambda r: r["percentChange"], reverse=datatype.endswith("Gainers"))
    return _ok(rows[:10])


@route("GET", f"{SECURE}/marketData/v1/putCallRatio", "movers")
def put_call_ratio(box, params, path):
    calls: dict[str, int] = {}
    puts: dict[str, int] = {}
    for inst in box.exchange.instruments():
        if inst.kind is InstrumentKind.OPTION:
            oi = box.exchange.quote(inst.key).open_interest
            (calls if inst.option_type is OptionType.CALL else puts)[inst.underlying] = (
                (calls if inst.option_type is OptionType.CALL else puts).get(inst.underlying, 0) + oi)
    rows = []
    for f in _near_futures(box, "NEAR"):
        if calls.get(f.underlying):
            rows.append({"pcr": round(puts.get(f.underlying, 0) / calls[f.underlying], 2),
                         "tradingSymbol": f.trading_symbol})
    return _ok(rows)


@route("POST", f"{SECURE}/marketData/v1/OIBuildup", "movers")
def oi_buildup(box, params, path):
    kinds = {"Long Built Up": (1, 1), "Short Built Up": (-1, 1), "Short Covering": (1, -1), "Long Unwinding": (-1, -1)}
    wanted = kinds.get(str(params.get("datatype")))
    if wanted is None:
        return _fail("Invalid datatype", "AB2000")
    rows = []
    for f in _near_futures(box, str(params.get("expirytype"))):
        t = box.exchange.quote(f.key)
        oi_change = t.open_interest - t.open_interest_day_open
        if (int(np.sign(t.change)), int(np.sign(oi_change))) == wanted:
            rows.append({"symbolToken": f.token, "ltp": wire.rupees_text(t.ltp), "netChange": wire.rupees_text(t.change),
                         "percentChange": f"{t.change_percent:.2f}", "opnInterest": str(t.open_interest),
                         "netChangeOpnInterest": str(oi_change), "tradingSymbol": f.trading_symbol})
    return _ok(rows)


@route("POST", f"{SECURE}/marketData/v1/optionGreek", "greeks")
def option_greek(box, params, path):
    name, expiry = str(params.get("name") or ""), str(params.get("expirydate") or "").upper()
    options = [i for i in box.exchange.instruments()
               if i.kind is InstrumentKind.OPTION and i.underlying == name and wire._expiry_text(i) == expiry]
    if not options:
        return _fail("No Data Available", "AB2001")
    now = box.exchange.now().timestamp()
    spot = box.spot(options[0].key)
    years = np.array([max(o.expiry.timestamp() - now, 60.0) / (365 * 86400) for o in options])
    forward = spot * np.exp(0.065 * years)
    strikes = np.array([o.strike for o in options], dtype=float)
    prices = np.array([box.exchange.quote(o.key).ltp for o in options], dtype=float)
    is_call = np.array([o.option_type is OptionType.CALL for o in options])
    vol = implied_volatility_black76(prices, forward, strikes, years, 0.065, is_call)
    g = greeks_black76(forward, strikes, years, 0.065, np.nan_to_num(vol, nan=0.0), is_call)
    rows = []
    for i, o in enumerate(options):
        rows.append({"name": name, "expiry": expiry, "strikePrice": f"{o.strike / 100:.6f}",
                     "optionType": o.option_type.value, "delta": f"{g.delta[i]:.6f}", "gamma": f"{g.gamma[i] * 100:.6f}",
                     "theta": f"{g.theta[i] / 100 / 365:.6f}", "vega": f"{g.vega[i] / 100 / 100:.6f}",
                     "impliedVolatility": f"{0.0 if math.isnan(vol[i]) else vol[i] * 100:.6f}",
                     "tradeVolume": f"{box.exchange.quote(o.key).volume:.2f}"})
    return _ok(rows)


# --- margin, charges, EDIS ------------------------------------------------------------------------------
@route("POST", f"{SECURE}/margin/v1/batch", "margin")
def margin_batch(box, params, path):
    total = 0
    for leg in params.get("positions") or []:
        inst = box.instrument_for({"exchange": leg.get("exchange"), "symboltoken": leg.get("token")})
        product = wire.PRODUCT_FROM.get(str(leg.get("productType")), wire.Product.MIS)
        ltp = box.exchange.quote(inst.key).ltp
        price = _price(leg.get("price"), "price") or ltp
        spot = box.spot(inst.key) if inst.is_derivative else ltp
        total += margin_after_fill(inst, product, Position(box.account, inst.key, inst.trading_symbol, product),
                                   Side(str(leg.get("tradeType"))), _quantity(leg.get("qty")), price, ltp, spot)
    return _ok({"totalMarginRequired": wire.rupees(total), "marginComponents": {
        "netPremium": 0, "spanMargin": wire.rupees(total), "marginBenefit": 0, "deliveryMargin": 0,
        "nonNFOMargin": 0, "totOptionsPremium": 0}})


@route("POST", f"{SECURE}/brokerage/v1/estimateCharges", "charges")
def estimate_charges(box, params, path):
    """Charges by a published-style schedule: brokerage min(Rs 20, 0.1%) (0 on delivery), STT, exchange
    fee, SEBI fee, stamp duty and 18% GST on brokerage + fees. All figures in rupees."""
    totals = {"Brokerage": 0.0, "STT": 0.0, "Exchange transaction charges": 0.0, "SEBI fees": 0.0,
              "Stamp duty": 0.0, "GST": 0.0}
    trade_value = 0.0
    per_order = []
    for order in params.get("orders") or []:
        value = float(order.get("price") or 0) * int(order.get("quantity") or 0)
        option = box.exchange.master.by_key.get(f"{order.get('exchange')}:{order.get('token')}")
        is_option = option is not None and option.kind is InstrumentKind.OPTION
        delivery = order.get("product_type") == "DELIVERY"
        sell = order.get("transaction_type") == "SELL"
        brokerage = 0.0 if delivery else min(20.0, value * 0.001)
        stt = value * (0.001 if delivery else 0.001 if is_option and sell else 0.00025 if sell else 0.0)
        exchange_fee = value * (0.0003503 if is_option else 0.0000297)
        sebi = value * 0.000001
        stamp = 0.0 if sell else value * (0.00015 if delivery else 0.00003)
        gst = 0.18 * (brokerage + exchange_fee + sebi)
        parts = {"Brokerage": brokerage, "STT": stt, "Exchange transaction charges": exchange_fee, "SEBI fees": sebi,
                 "Stamp duty": stamp, "GST": gst}
        for k, v in parts.items():
            totals[k] += v
        trade_value += value
        per_order.append({"total_charges": round(sum(parts.values()), 2), "trade_value": round(value, 2),
                          "breakup": [{"name": k, "amount": round(v, 2), "msg": "", "breakup": []} for k, v in parts.items()]})
    return _ok({"summary": {"total_charges": round(sum(totals.values()), 2), "trade_value": round(trade_value, 2),
                            "breakup": [{"name": k, "amount": round(v, 2), "msg": "", "breakup": []}
                                        for k, v in totals.items()]}, "charges": per_order})


@route("POST", f"{SECURE}/edis/v1/verifyDis", "edis")
def verify_dis(box, params, path):
    if not params.get("isin") or not params.get("quantity"):
        return _fail("Something went wrong", "AG2001")
    return _ok({"ReqId": f"REQ{abs(hash(params['isin'])) % 10**8:08d}", "ReturnURL": "", "DPId": "12345678",
                "BOID": "1234567800000001", "TransDtls": "SANDBOX", "version": "1.1"})


@route("POST", f"{SECURE}/edis/v1/generateTPIN", "edis")
def generate_tpin(box, params, path):
    if not all(params.get(k) for k in ("dpId", "ReqId", "boid", "pan")):
        return _fail("Something went wrong", "AG2001")
    return _ok(None)


@route("POST", f"{SECURE}/edis/v1/getTranStatus", "edis")
def tran_status(box, params, path):
    if not params.get("ReqId"):
        return _fail("Something went wrong", "AG2001")
    return _ok({"ReqId": params["ReqId"], "status": "1", "TransResDtls": {"ReqId": params["ReqId"], "ResStatus": "0"}})
