"""What the SmartAPI sandbox puts on the wire: order records, quotes, candles, scrip-master rows, tick frames.

Written from the protocol notes independently of the adapter's decoder, so tests that stream
from the sandbox check one implementation against another.
"""

from __future__ import annotations

import struct
from datetime import datetime, timedelta, timezone

from terminal.domain import (
    Candle, Exchange, Instrument, InstrumentKind, Order, OrderStatus, OrderType, Product, Tick, Trade,
)

IST = timezone(timedelta(hours=5, minutes=30))
EXCHANGE_TYPE = {Exchange.NSE: 1, Exchange.NFO: 2, Exchange.BSE: 3, Exchange.BFO: 4, Exchange.MCX: 5, Exchange.CDS: 13}
EXCHANGE_OF_TYPE = {v: k for k, v in EXCHANGE_TYPE.items()}
PRODUCT_WIRE = {Product.MIS: "INTRADAY", Product.NRML: "CARRYFORWARD", Product.CNC: "DELIVERY"}
PRODUCT_FROM = {"INTRADAY": Product.MIS, "CARRYFORWARD": Product.NRML, "DELIVERY": Product.CNC,
                "MARGIN": Product.NRML, "BO": Product.MIS}
ORDER_TYPE_WIRE = {OrderType.LIMIT: "LIMIT", OrderType.MARKET: "MARKET", OrderType.SL: "STOPLOSS_LIMIT",
                   OrderType.SL_M: "STOPLOSS_MARKET"}
ORDER_TYPE_FROM = {v: k for k, v in ORDER_TYPE_WIRE.items()}
STATUS_WIRE = {OrderStatus.PENDING: "open pending", OrderStatus.OPEN: "open", OrderStatus.PARTIALLY_FILLED: "open",
               OrderStatus.TRIGGER_PENDING: "trigger pending", OrderStatus.COMPLETE: "complete",
               OrderStatus.CANCELLED: "cancelled", OrderStatus.REJECTED: "rejected"}
STATUS_CODE = {OrderStatus.PENDING: "AB09", OrderStatus.OPEN: "AB01", OrderStatus.PARTIALLY_FILLED: "AB01",
               OrderStatus.TRIGGER_PENDING: "AB10", OrderStatus.COMPLETE: "AB05", OrderStatus.CANCELLED: "AB02",
               OrderStatus.REJECTED: "AB03"}
INSTRUMENT_TYPE = {(InstrumentKind.INDEX, True): "AMXIDX", (InstrumentKind.INDEX, False): "AMXIDX",
                   (InstrumentKind.EQUITY, True): "", (InstrumentKind.EQUITY, False): "",
                   (InstrumentKind.FUTURE, True): "FUTIDX", (InstrumentKind.FUTURE, False): "FUTSTK",
                   (InstrumentKind.OPTION, True): "OPTIDX", (InstrumentKind.OPTION, False): "OPTSTK"}
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def rupees_text(paise: int) -> str:
    sign = "-" if paise < 0 else ""
    whole, frac = divmod(abs(int(paise)), 100)
    return f"{sign}{whole}.{frac:02d}"


def rupees(paise: int) -> float:
    return round(paise / 100, 2)


def ist_text(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, IST).strftime("%d-%b-%Y %H:%M:%S") if epoch else ""


def order_record(order: Order, instrument: Instrument | None, unique_id: str, *, numbers: bool = False,
                 fill_id: str = "") -> dict:
    """The shared order record (book, details, order update). ``numbers``: prices as JSON numbers."""
    price = (lambda p: rupees(p)) if numbers else rupees_text
    status = STATUS_WIRE[order.status]
    exchange, token = order.instrument_key.split(":", 1)
    return {
        "variety": "STOPLOSS" if order.order_type in (OrderType.SL, OrderType.SL_M) else "NORMAL",
        "ordertype": ORDER_TYPE_WIRE[order.order_type], "ordertag": order.tag,
        "producttype": PRODUCT_WIRE[order.product], "duration": order.validity.value, "price": price(order.price),
        "triggerprice": price(order.trigger_price), "quantity": str(order.quantity), "disclosedquantity": "0",
        "squareoff": price(0), "stoploss": price(0), "trailingstoploss": price(0),
        "tradingsymbol": order.trading_symbol, "transactiontype": order.side.value, "exchange": exchange,
        "symboltoken": token, "instrumenttype": _instrument_type(instrument),
        "strikeprice": price(instrument.strike) if instrument and instrument.strike else (-1.0 if numbers else "-1"),
        "optiontype": instrument.option_type.value if instrument and instrument.option_type else "",
        "expirydate": _expiry_text(instrument), "lotsize": str(instrument.lot_size if instrument else 1),
        "cancelsize": str(order.quantity - order.filled_quantity if order.status is OrderStatus.CANCELLED else 0),
        "averageprice": price(order.average_price), "filledshares": str(order.filled_quantity),
        "unfilledshares": str(order.quantity - order.filled_quantity), "orderid": order.order_id,
        "text": order.status_message if order.status in (OrderStatus.REJECTED, OrderStatus.CANCELLED) else "",
        "status": status, "orderstatus": status, "updatetime": ist_text(order.placed_at),
        "exchtime": ist_text(order.updated_at) if order.status is not OrderStatus.PENDING else "",
        "exchorderupdatetime": ist_text(order.updated_at), "fillid": fill_id, "filltime": "",
        "parentorderid": "", "uniqueorderid": unique_id, "exchangeorderid": order.exchange_order_id,
    }


def trade_record(trade: Trade, instrument: Instrument | None) -> dict:
    exchange = trade.instrument_key.split(":", 1)[0]
    return {
        "exchange": exchange, "producttype": PRODUCT_WIRE[trade.product], "tradingsymbol": trade.trading_symbol,
        "instrumenttype": _instrument_type(instrument), "symbolgroup": "EQ" if exchange == "NSE" else "XX",
        "strikeprice": rupees_text(instrument.strike) if instrument and instrument.strike else "-1",
        "optiontype": instrument.option_type.value if instrument and instrument.option_type else "",
        "expirydate": _expiry_text(instrument), "marketlot": str(instrument.lot_size if instrument else 1),
        "precision": "2", "multiplier": "-1", "tradevalue": rupees_text(trade.price * trade.quantity),
        "transactiontype": trade.side.value, "fillprice": rupees_text(trade.price), "fillsize": str(trade.quantity),
        "orderid": trade.order_id, "fillid": trade.trade_id,
        "filltime": datetime.fromtimestamp(trade.timestamp, IST).strftime("%H:%M:%S"),
    }


def _instrument_type(instrument: Instrument | None) -> str:
    if instrument is None:
        return ""
    index_like = instrument.underlying in ("NIFTY", "BANKNIFTY", "FINNIFTY") or instrument.kind is InstrumentKind.INDEX
    return INSTRUMENT_TYPE[(instrument.kind, index_like)]


def _expiry_text(instrument: Instrument | None) -> str:
    if instrument is None or instrument.expiry is None:
        return ""
    e = instrument.expiry.astimezone(IST)
    return f"{e.day:02d}{MONTHS[e.month - 1]}{e.year}"


def scrip_row(instrument: Instrument) -> dict:
    """One OpenAPIScripMaster.json row: every value a string, strike x100, tick size in paise."""
    return {
        "token": instrument.token, "symbol": instrument.trading_symbol,
        "name": instrument.underlying or instrument.trading_symbol.split("-")[0],
        "expiry": _expiry_text(instrument),
        "strike": f"{instrument.strike:.6f}" if instrument.strike is not None else "-1.000000",
        "lotsize": str(instrument.lot_size), "instrumenttype": _instrument_type(instrument),
        "exch_seg": instrument.exchange.value, "tick_size": f"{instrument.tick_size:.6f}",
    }


def quote_item(tick: Tick, instrument: Instrument, mode: str) -> dict:
    item = {"exchange": instrument.exchange.value, "tradingSymbol": instrument.trading_symbol,
            "symbolToken": instrument.token, "ltp": rupees(tick.ltp)}
    if mode == "LTP":
        return item
    item.update(open=rupees(tick.open), high=rupees(tick.high), low=rupees(tick.low), close=rupees(tick.close))
    if mode == "OHLC":
        return item
    item.update(
        lastTradeQty=tick.last_quantity, exchFeedTime=ist_text(tick.timestamp), exchTradeTime=ist_text(tick.timestamp),
        netChange=rupees(tick.change), percentChange=round(tick.change_percent, 2), avgPrice=rupees(tick.average_price),
        tradeVolume=tick.volume, opnInterest=tick.open_interest, lowerCircuit=0.05, upperCircuit=rupees(tick.ltp * 2),
        totBuyQuan=tick.total_buy_quantity, totSellQuan=tick.total_sell_quantity, **{"52WeekLow": 0, "52WeekHigh": 0},
        depth={"buy": [{"price": rupees(d.price), "quantity": d.quantity, "orders": d.orders} for d in tick.bids],
               "sell": [{"price": rupees(d.price), "quantity": d.quantity, "orders": d.orders} for d in tick.asks]},
    )
    return item


def candle_row(candle: Candle) -> list:
    stamp = datetime.fromtimestamp(candle.start, IST).isoformat()
    return [stamp, rupees(candle.open), rupees(candle.high), rupees(candle.low), rupees(candle.close), candle.volume]


# --- binary tick frames (LTP 51, QUOTE 123, SNAP_QUOTE 379 bytes, little-endian) ---------------------------
_LTP = struct.Struct("<BB25sqqq")
_QUOTE = struct.Struct("<BB25sqqqqqqddqqqq")
_SNAP = struct.Struct("<BB25sqqqqqqddqqqqqqd" + "hqqh" * 10 + "qqqq")


def tick_frame(tick: Tick, mode: int, sequence: int) -> bytes:
    exchange, token = tick.key.split(":", 1)
    head = (mode, EXCHANGE_TYPE[Exchange(exchange)], token.encode(), sequence, int(tick.timestamp * 1000), tick.ltp)
    if mode == 1:
        return _LTP.pack(*head)
    quote = (tick.last_quantity, tick.average_price, tick.volume, float(tick.total_buy_quantity),
             float(tick.total_sell_quantity), tick.open, tick.high, tick.low, tick.close)
    if mode == 2:
        return _QUOTE.pack(*head, *quote)
    depth = []
    for flag, side in ((1, tick.bids), (0, tick.asks)):
        for i in range(5):
            level = side[i] if i < len(side) else None
            depth += [flag, level.quantity, level.price, level.orders] if level else [flag, 0, 0, 0]
    return _SNAP.pack(*head, *quote, int(tick.timestamp), tick.open_interest, 0.0, *depth,
                      tick.ltp * 2, 5, 0, 0)
