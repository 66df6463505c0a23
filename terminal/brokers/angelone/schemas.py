"""SmartAPI wire records <-> domain objects. Wire dicts never leave the adapter.

Numbers arrive as JSON strings or numbers for the same concept ("194.00" in the order book,
2298.25 in order details, "- 2235.80" in positions); every reader here accepts both. Prices on
the REST wire are rupees and become integer paise; quantities are units. Times such as
"20-Oct-2020 13:10:59" are IST.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

from terminal.domain import (
    AccountId, Candle, DepthLevel, Exchange, Funds, Holding, Instrument, InstrumentKey, Order, OrderModification,
    OrderRequest, OrderStatus, OrderType, Position, Product, Side, Tick, Trade, Validity, instrument_key,
)
from terminal.brokers.base import BrokerError
from terminal.domain.money import rupees_text, to_paise

log = logging.getLogger(__name__)

IST = timezone(timedelta(hours=5, minutes=30))

PRODUCT_TO_WIRE = {Product.MIS: "INTRADAY", Product.NRML: "CARRYFORWARD", Product.CNC: "DELIVERY"}
PRODUCT_FROM_WIRE = {"INTRADAY": Product.MIS, "CARRYFORWARD": Product.NRML, "DELIVERY": Product.CNC,
                     "MARGIN": Product.NRML, "BO": Product.MIS}
ORDER_TYPE_TO_WIRE = {OrderType.LIMIT: "LIMIT", OrderType.MARKET: "MARKET", OrderType.SL: "STOPLOSS_LIMIT",
                      OrderType.SL_M: "STOPLOSS_MARKET"}
ORDER_TYPE_FROM_WIRE = {v: k for k, v in ORDER_TYPE_TO_WIRE.items()}
STATUS_FROM_WIRE = {
    "open": OrderStatus.OPEN, "open pending": OrderStatus.PENDING, "validation pending": OrderStatus.PENDING,
    "put order req received": OrderStatus.PENDING, "after market order req received": OrderStatus.PENDING,
    "modify pending": OrderStatus.OPEN, "modified": OrderStatus.OPEN, "modify validation pending": OrderStatus.OPEN,
    "trigger pending": OrderStatus.TRIGGER_PENDING, "complete": OrderStatus.COMPLETE,
    "cancelled": OrderStatus.CANCELLED, "cancel pending": OrderStatus.OPEN, "rejected": OrderStatus.REJECTED,
    "cancelled after market order": OrderStatus.CANCELLED,
}
INTERVALS = {1: "ONE_MINUTE", 3: "THREE_MINUTE", 5: "FIVE_MINUTE", 10: "TEN_MINUTE", 15: "FIFTEEN_MINUTE",
             30: "THIRTY_MINUTE", 60: "ONE_HOUR", 1440: "ONE_DAY"}
MAX_DAYS_PER_REQUEST = {"ONE_MINUTE": 30, "THREE_MINUTE": 60, "FIVE_MINUTE": 100, "TEN_MINUTE": 100,
                        "FIFTEEN_MINUTE": 200, "THIRTY_MINUTE": 200, "ONE_HOUR": 400, "ONE_DAY": 2000}


MAX_MAGNITUDE = Decimal(10) ** 15  # no price (rupees) or quantity on any Indian exchange comes near this


class SchemaError(BrokerError, ValueError):
    """A broker record that cannot be read; the message names the field and the value."""


def reads_wire(convert):
    """Make a *_from_wire reader raise SchemaError, and nothing else, for any record it cannot read.

    The explicit checks in each reader name the field; this catches the shapes nobody foresaw
    (a list where an object was expected, a missing key) so that garbage never escapes as a
    TypeError or becomes a domain object.
    """

    @functools.wraps(convert)
    def read(record, *args, **kwargs):
        if convert.__name__ != "candles_from_wire" and not isinstance(record, dict):
            raise SchemaError(f"{convert.__name__}: expected an object, got {type(record).__name__}")
        try:
            return convert(record, *args, **kwargs)
        except SchemaError:
            raise
        except (KeyError, TypeError, AttributeError, ValueError, ArithmeticError) as exc:
            raise SchemaError(f"{convert.__name__}: unreadable record ({type(exc).__name__}: {str(exc)[:60]})") from None

    return read


# --- scalar readers ----------------------------------------------------------------------------
def decimal(value, field: str = "value") -> Decimal:
    """A number from a JSON number or string ("- 2235.80", "1,234.5", ""); empty/None -> 0."""
    if value is None or value == "":
        return Decimal(0)
    if isinstance(value, bool):
        raise SchemaError(f"{field}: expected a number, got {value!r}")
    if not isinstance(value, (str, int, float, Decimal)):
        raise SchemaError(f"{field}: expected a number, got {type(value).__name__}")
    try:
        result = Decimal(str(value).replace(" ", "").replace(",", ""))
    except (InvalidOperation, ValueError):
        raise SchemaError(f"{field}: not a number: {str(value)[:40]!r}") from None
    if not result.is_finite() or abs(result) > MAX_MAGNITUDE:
        raise SchemaError(f"{field}: not a sane number: {str(value)[:40]!r}")
    return result


def paise(value, field: str = "price") -> int:
    """Rupees (string or number) to integer paise."""
    return to_paise(decimal(value, field))


def price(value, field: str = "price") -> int:
    """A price that cannot be negative (order, fill and quote prices), in paise."""
    result = paise(value, field)
    if result < 0:
        raise SchemaError(f"{field}: negative price {value!r}")
    return result


def units(value, field: str = "quantity") -> int:
    number = decimal(value, field)
    if number != number.to_integral_value():
        raise SchemaError(f"{field}: not a whole quantity: {value!r}")
    return int(number)


def _count(value, field: str) -> int:
    """A quantity that cannot be negative (volumes, depth, holdings)."""
    result = units(value, field)
    if result < 0:
        raise SchemaError(f"{field}: negative quantity {str(value)[:40]!r}")
    return result


def _positive(value: int, field: str) -> int:
    if value <= 0:
        raise SchemaError(f"{field}: must be positive, got {value}")
    return value


# Paise to SmartAPI's rupee text with two decimals: 10550 -> "105.50" ("price", "triggerprice").
rupees = rupees_text


def ist_time(text: str | None) -> float:
    """'20-Oct-2020 13:10:59' (IST) to epoch seconds; empty -> 0.0."""
    if not text:
        return 0.0
    for fmt in ("%d-%b-%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%d-%b-%Y %H:%M"):
        try:
            return datetime.strptime(str(text).strip(), fmt).replace(tzinfo=IST).timestamp()
        except ValueError:
            continue
    raise SchemaError(f"time: unreadable {str(text)[:40]!r}")


def wire_exchange(exchange: Exchange | str) -> str:
    return Exchange(exchange).value


def key_of(record: dict) -> InstrumentKey:
    exchange = record.get("exchange") or record.get("exch_seg")
    token = record.get("symboltoken") or record.get("symbolToken") or record.get("token")
    if (not isinstance(exchange, str) or isinstance(token, bool) or not isinstance(token, (str, int))
            or not str(token).strip().isascii() or not str(token).strip().isalnum()):
        raise SchemaError(f"record without a readable exchange/token: {str(record.get('tradingsymbol'))[:40]!r}")
    token = str(token).strip()
    try:
        return instrument_key(str(exchange).upper(), str(token))
    except ValueError:
        raise SchemaError(f"unknown exchange {exchange!r}") from None


# --- orders -------------------------------------------------------------------------------------
def order_status(record: dict) -> OrderStatus:
    text = str(record.get("orderstatus") or record.get("status") or "").strip().lower()
    status = STATUS_FROM_WIRE.get(text)
    if status is None:
        log.warning("angelone: unknown order status %r for order %s; shown as pending", text, record.get("orderid"))
        status = OrderStatus.PENDING
    filled = units(record.get("filledshares") or 0, "filledshares")
    if status is OrderStatus.OPEN and filled > 0:
        return OrderStatus.PARTIALLY_FILLED
    return status


@reads_wire
def order_from_wire(record: dict, account: AccountId) -> Order:
    """One order-book / order-details / order-update record as a domain Order. Raises SchemaError."""
    if not isinstance(record, dict):
        raise SchemaError(f"order record is not an object: {str(record)[:60]!r}")
    try:
        side = Side(str(record.get("transactiontype", "")).upper())
        order_type = ORDER_TYPE_FROM_WIRE[str(record.get("ordertype", "")).upper()]
        product = PRODUCT_FROM_WIRE[str(record.get("producttype", "")).upper()]
    except (ValueError, KeyError) as exc:
        raise SchemaError(f"order {record.get('orderid')}: unreadable field {exc}") from None
    validity = Validity.IOC if str(record.get("duration", "")).upper() == "IOC" else Validity.DAY
    placed = ist_time(record.get("updatetime")) if record.get("updatetime") else 0.0
    updated = ist_time(record.get("exchorderupdatetime") or record.get("updatetime") or "")
    order_id = record.get("orderid")
    if not isinstance(order_id, (str, int)) or isinstance(order_id, bool) or not str(order_id).strip():
        raise SchemaError(f"order record without an order id: {str(order_id)[:40]!r}")
    quantity = units(record.get("quantity"), "quantity")
    filled = units(record.get("filledshares") or 0, "filledshares")
    if quantity < 0 or not 0 <= filled <= quantity:
        raise SchemaError(f"order {order_id}: filled {filled} of {quantity} is not possible")
    return Order(
        account=account, order_id=str(order_id).strip(), instrument_key=key_of(record),
        trading_symbol=str(record.get("tradingsymbol") or ""), side=side,
        quantity=quantity, order_type=order_type, product=product,
        validity=validity, status=order_status(record), price=price(record.get("price"), "price"),
        trigger_price=price(record.get("triggerprice"), "triggerprice"),
        filled_quantity=filled,
        average_price=price(record.get("averageprice"), "averageprice"), tag=str(record.get("ordertag") or ""),
        status_message=str(record.get("text") or ""), placed_at=placed, updated_at=updated,
        exchange_order_id=str(record.get("exchangeorderid") or ""),
    )


def order_to_wire(request: OrderRequest, instrument: Instrument) -> dict:
    """placeOrder body. AMO goes as NORMAL (the broker detects after-hours orders itself)."""
    stop = request.order_type in (OrderType.SL, OrderType.SL_M)
    if len(request.tag) >= 20:
        raise ValueError("Angel One order tags must be shorter than 20 characters.")
    return {
        "variety": "STOPLOSS" if stop else "NORMAL",
        "tradingsymbol": instrument.trading_symbol, "symboltoken": instrument.token,
        "transactiontype": request.side.value, "exchange": wire_exchange(instrument.exchange),
        "ordertype": ORDER_TYPE_TO_WIRE[request.order_type], "producttype": PRODUCT_TO_WIRE[request.product],
        "duration": request.validity.value,
        "price": rupees(request.price if request.order_type.needs_price else 0),
        "triggerprice": rupees(request.trigger_price if request.order_type.needs_trigger else 0),
        "squareoff": "0", "stoploss": "0", "quantity": str(request.quantity), "ordertag": request.tag,
    }


def modification_to_wire(order: Order, modification: OrderModification, instrument: Instrument) -> dict:
    """modifyOrder body: the order's current values with the requested changes applied."""
    order_type = modification.order_type or order.order_type
    price = order.price if modification.price is None else modification.price
    trigger = order.trigger_price if modification.trigger_price is None else modification.trigger_price
    body = {
        "variety": "STOPLOSS" if order_type in (OrderType.SL, OrderType.SL_M) else "NORMAL",
        "orderid": order.order_id, "ordertype": ORDER_TYPE_TO_WIRE[order_type],
        "producttype": PRODUCT_TO_WIRE[order.product], "duration": order.validity.value,
        "price": rupees(price if order_type.needs_price else 0),
        "quantity": str(order.quantity if modification.quantity is None else modification.quantity),
        "tradingsymbol": instrument.trading_symbol, "symboltoken": instrument.token,
        "exchange": wire_exchange(instrument.exchange),
    }
    if order_type.needs_trigger:
        body["triggerprice"] = rupees(trigger)
    return body


def variety_of(order: Order) -> str:
    return "STOPLOSS" if order.order_type in (OrderType.SL, OrderType.SL_M) else "NORMAL"


# --- trades, positions, holdings, funds ---------------------------------------------------------
@reads_wire
def trade_from_wire(record: dict, account: AccountId, key: InstrumentKey | None = None) -> Trade:
    """A trade-book record. It carries no token, so ``key`` comes from the instrument master when known."""
    day = datetime.now(IST).date()
    filltime = str(record.get("filltime") or "")
    stamp = 0.0
    if filltime:
        try:
            clock = datetime.strptime(filltime, "%H:%M:%S").time()
            stamp = datetime.combine(day, clock, IST).timestamp()
        except ValueError:
            stamp = ist_time(filltime)
    symbol = str(record.get("tradingsymbol") or "")
    if key is None:
        key = key_of(record) if record.get("symboltoken") else f"{record.get('exchange')}:{symbol}"
    return Trade(
        account=account, trade_id=str(record.get("fillid") or ""), order_id=str(record.get("orderid") or ""),
        instrument_key=key, trading_symbol=symbol, side=Side(str(record.get("transactiontype", "")).upper()),
        quantity=_positive(units(record.get("fillsize"), "fillsize"), "fillsize"),
        price=price(record.get("fillprice"), "fillprice"),
        product=PRODUCT_FROM_WIRE.get(str(record.get("producttype", "")).upper(), Product.MIS), timestamp=stamp,
    )


@reads_wire
def position_from_wire(record: dict, account: AccountId) -> Position:
    net = units(record.get("netqty"), "netqty")
    buy_qty, sell_qty = units(record.get("buyqty"), "buyqty"), units(record.get("sellqty"), "sellqty")
    buy_avg, sell_avg = paise(record.get("buyavgprice")), paise(record.get("sellavgprice"))
    average = buy_avg if net > 0 else sell_avg if net < 0 else 0
    if record.get("netprice") not in (None, "", "0", 0) and net:
        average = paise(record.get("netprice"))
    multiplier = units(record.get("multiplier") or 1, "multiplier")
    closed = min(buy_qty, sell_qty)
    overnight = units(record.get("cfbuyqty") or 0) - units(record.get("cfsellqty") or 0)
    return Position(
        account=account, instrument_key=key_of(record), trading_symbol=str(record.get("tradingsymbol") or ""),
        product=PRODUCT_FROM_WIRE.get(str(record.get("producttype", "")).upper(), Product.MIS),
        net_quantity=net, average_price=average,
        realised_pnl=(sell_avg - buy_avg) * closed * (multiplier if multiplier > 0 else 1),
        overnight_quantity=overnight, day_buy_quantity=buy_qty, day_buy_value=paise(record.get("buyamount")),
        day_sell_quantity=sell_qty, day_sell_value=paise(record.get("sellamount")),
        multiplier=multiplier if multiplier > 0 else 1,
    )


@reads_wire
def holding_from_wire(record: dict, account: AccountId) -> Holding:
    return Holding(account=account, instrument_key=key_of(record), trading_symbol=str(record.get("tradingsymbol") or ""),
                   quantity=_count(record.get("quantity"), "quantity"),
                   average_price=price(record.get("averageprice")), last_price=price(record.get("ltp")))


@reads_wire
def funds_from_wire(record: dict, account: AccountId) -> Funds:
    """getRMS: availablecash is the cash balance, utiliseddebits the margin in use (paise)."""
    return Funds(account=account, opening_balance=paise(record.get("availablecash")),
                 available_cash=paise(record.get("availablecash")), used_margin=paise(record.get("utiliseddebits")),
                 collateral=paise(record.get("collateral")), realised_pnl=paise(record.get("m2mrealized")),
                 unrealised_pnl=paise(record.get("m2munrealized")))


# --- market data ---------------------------------------------------------------------------------
@reads_wire
def tick_from_quote(item: dict) -> Tick:
    """A market/v1/quote ``fetched`` item (FULL, OHLC or LTP mode; rupees) as a Tick."""
    depth = item.get("depth") or {}

    def levels(side: str) -> tuple[DepthLevel, ...]:
        return tuple(DepthLevel(price(level.get("price")), _count(level.get("quantity"), "depth quantity"),
                                _count(level.get("orders") or 0, "depth orders"))
                     for level in depth.get(side) or [] if level)

    stamp = item.get("exchFeedTime") or item.get("exchTradeTime")
    return Tick(
        key=key_of({"exchange": item.get("exchange"), "symboltoken": item.get("symbolToken")}),
        ltp=price(item.get("ltp"), "ltp"), timestamp=ist_time(stamp) if stamp else 0.0,
        last_quantity=_count(item.get("lastTradeQty") or 0, "lastTradeQty"),
        volume=_count(item.get("tradeVolume") or 0, "tradeVolume"), average_price=price(item.get("avgPrice"), "avgPrice"),
        open=price(item.get("open"), "open"), high=price(item.get("high"), "high"), low=price(item.get("low"), "low"),
        close=price(item.get("close"), "close"), open_interest=_count(item.get("opnInterest") or 0, "opnInterest"),
        total_buy_quantity=_count(int(decimal(item.get("totBuyQuan"))), "totBuyQuan"),
        total_sell_quantity=_count(int(decimal(item.get("totSellQuan"))), "totSellQuan"),
        bids=levels("buy"), asks=levels("sell"),
    )


@reads_wire
def candles_from_wire(rows) -> list[Candle]:
    """getCandleData rows [iso time, o, h, l, c, volume] (rupees) as Candles, oldest first."""
    candles = []
    for row in rows or []:
        if not isinstance(row, (list, tuple)) or len(row) < 6:
            raise SchemaError(f"candle: unreadable row {str(row)[:60]!r}")
        start = int(datetime.fromisoformat(str(row[0])).timestamp())
        candles.append(Candle(start, price(row[1], "open"), price(row[2], "high"), price(row[3], "low"),
                              price(row[4], "close"), _count(row[5] or 0, "volume")))
    candles.sort(key=lambda c: c.start)
    return candles


def candle_windows(interval: str, start: datetime, end: datetime) -> list[tuple[str, str]]:
    """(fromdate, todate) pairs in IST 'yyyy-MM-dd HH:mm', each within the interval's day limit."""
    span = timedelta(days=MAX_DAYS_PER_REQUEST[interval])
    begin, finish = start.astimezone(IST), end.astimezone(IST)
    windows = []
    while begin <= finish:
        stop = min(begin + span - timedelta(minutes=1), finish)
        windows.append((begin.strftime("%Y-%m-%d %H:%M"), stop.strftime("%Y-%m-%d %H:%M")))
        begin = stop + timedelta(minutes=1)
    return windows
