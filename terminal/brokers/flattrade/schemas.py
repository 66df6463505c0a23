"""Noren wire payloads and their conversion to and from domain objects.

Every value on the wire is a string ("102.35", "130"); prices become integer paise here and
nowhere else. Times on the wire are IST wall-clock in two orders ("HH:MM:SS DD-MM-YYYY" and
"DD-MM-YYYY HH:MM:SS") or epoch seconds; all become epoch seconds. Wire dicts never leave the
adapter: callers get domain objects.

Anything unreadable raises PayloadError (a ValueError) naming the field: a row that is not an
object, a list where text belongs, NaN or infinite numbers, out-of-range magnitudes, negative
quantities or prices (only P&L, cash and net quantity are signed), a fill of nothing, more
filled than ordered, or a time before 1970 or after 9999. Garbage never becomes a domain object.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from terminal.domain import (
    Candle, DepthLevel, Exchange, Funds, Holding, Order, OrderStatus, OrderType, Position, Product, Side, Tick,
    Trade, Validity,
)
from terminal.domain.money import rupees_text, to_paise

IST = ZoneInfo("Asia/Kolkata")

SIDE_TO_WIRE = {Side.BUY: "B", Side.SELL: "S"}
SIDE_FROM_WIRE = {v: k for k, v in SIDE_TO_WIRE.items()}
PRODUCT_TO_WIRE = {Product.CNC: "C", Product.NRML: "M", Product.MIS: "I"}
PRODUCT_FROM_WIRE = {v: k for k, v in PRODUCT_TO_WIRE.items()}
# Flattrade takes only LMT and SL-LMT from API clients; MKT/SL-MKT are read back but never sent.
ORDER_TYPE_TO_WIRE = {OrderType.LIMIT: "LMT", OrderType.SL: "SL-LMT"}
ORDER_TYPE_FROM_WIRE = {"LMT": OrderType.LIMIT, "MKT": OrderType.MARKET, "SL-LMT": OrderType.SL,
                        "SL-MKT": OrderType.SL_M}
VALIDITY_TO_WIRE = {Validity.DAY: "DAY", Validity.IOC: "IOC"}
VALIDITY_FROM_WIRE = {"DAY": Validity.DAY, "IOC": Validity.IOC, "EOS": Validity.DAY}

# Noren status words, normalised (upper case, "_" as space), to the terminal's status.
_STATUS = {
    "PENDING": OrderStatus.PENDING, "OPEN PENDING": OrderStatus.PENDING, "NEW": OrderStatus.PENDING,
    "AFTER MARKET ORDER REQ RECEIVED": OrderStatus.PENDING,
    "OPEN": OrderStatus.OPEN, "MODIFY PENDING": OrderStatus.OPEN, "CANCEL PENDING": OrderStatus.OPEN,
    "REPLACED": OrderStatus.OPEN,
    "TRIGGER PENDING": OrderStatus.TRIGGER_PENDING,
    "COMPLETE": OrderStatus.COMPLETE,
    "CANCELED": OrderStatus.CANCELLED, "CANCELLED": OrderStatus.CANCELLED,
    "REJECTED": OrderStatus.REJECTED, "REJECT": OrderStatus.REJECTED,
}


MAX_UNITS = 10**12  # no contract trades a trillion units: beyond this a quantity is garbage
MAX_RUPEES = 10**13  # ₹10 lakh crore: beyond this an amount is garbage
LATEST_TIME = 253402300799.0  # 9999-12-31 23:59:59 UTC in epoch seconds
_TOKEN = re.compile(r"[A-Za-z0-9_.-]{1,40}")  # scrip tokens: digits on Noren; never "|", "#", ":" or spaces


class PayloadError(ValueError):
    """A payload the adapter cannot read: a missing or malformed field, named in the message."""


def wire_row(row, what: str = "reply") -> dict:
    """``row`` if it is a JSON object, else PayloadError (a book row or frame of the wrong shape)."""
    if not isinstance(row, dict):
        raise PayloadError(f"{what} is not an object: {str(row)[:120]!r}")
    return row


# --- scalar fields -------------------------------------------------------------------------
def text(row: dict, name: str, default: str = "") -> str:
    value = wire_row(row).get(name)
    if value is None:
        return default
    if isinstance(value, (dict, list)):
        raise PayloadError(f"field {name!r} is not text: {json.dumps(value)[:80]}")
    return str(value).strip()


def required(row: dict, name: str) -> str:
    value = text(row, name)
    if not value:
        raise PayloadError(f"field {name!r} missing in {row.get('t') or 'reply'}: {_brief(row)}")
    return value


def _number(row: dict, name: str, limit: int, signed: bool) -> Decimal | None:
    """The field as a finite Decimal within ``limit`` (None if absent or empty)."""
    value = text(row, name)
    if not value:
        return None
    try:
        number = Decimal(value.replace(",", ""))
    except InvalidOperation:
        raise PayloadError(f"field {name!r} is not a number: {value[:40]!r}") from None
    if not number.is_finite() or abs(number) > limit:
        raise PayloadError(f"field {name!r} is out of range: {value[:40]!r}")
    if number < 0 and not signed:
        raise PayloadError(f"field {name!r} is negative: {value[:40]!r}")
    return number


def paise(row: dict, name: str, default: int = 0, *, signed: bool = False) -> int:
    """Rupees text to paise; an absent or empty field gives ``default``. Only ``signed`` fields
    (P&L, cash) may be negative."""
    number = _number(row, name, MAX_RUPEES, signed)
    return default if number is None else to_paise(number)


def units(row: dict, name: str, default: int = 0, *, signed: bool = False) -> int:
    """An integer quantity; "130.00" style decimals are accepted when whole. Only ``signed``
    fields (a net position) may be negative."""
    number = _number(row, name, MAX_UNITS, signed)
    if number is None:
        return default
    if number != number.to_integral_value():
        raise PayloadError(f"field {name!r} is not a whole quantity: {text(row, name)[:40]!r}")
    return int(number)


def epoch(row: dict, name: str) -> int:
    """Whole epoch seconds (``ssboe``); PayloadError if negative or past 9999."""
    value = units(row, name)
    if value > LATEST_TIME:
        raise PayloadError(f"field {name!r} is not a time: {value}")
    return value


# Paise to Noren's rupee text with two decimals: 10235 -> "102.35" ("prc", "trgprc", GTT "d").
wire_price = rupees_text


def parse_time(value: str) -> float:
    """Epoch seconds from a Noren time: epoch text, 'HH:MM:SS DD-MM-YYYY' or 'DD-MM-YYYY HH:MM:SS' (IST)."""
    value = (value or "").strip()
    if not value:
        return 0.0
    if re.fullmatch(r"[0-9]+(\.[0-9]*)?", value):
        when = float(value)
    else:
        for pattern in ("%H:%M:%S %d-%m-%Y", "%d-%m-%Y %H:%M:%S", "%d-%b-%Y %H:%M:%S", "%d-%b-%Y"):
            try:
                when = datetime.strptime(value, pattern).replace(tzinfo=IST).timestamp()
                break
            except (ValueError, OverflowError):
                continue
        else:
            raise PayloadError(f"unreadable time {value[:40]!r}")
    if not 0.0 <= when <= LATEST_TIME:
        raise PayloadError(f"time out of range: {value[:40]!r}")
    return when


def normalise_status(value: str) -> OrderStatus:
    word = value.strip().upper().replace("_", " ")
    try:
        return _STATUS[word]
    except KeyError:
        raise PayloadError(f"unknown order status {value!r}") from None


def wire_key(key: str) -> str:
    """'NFO:40210' (terminal) -> 'NFO|40210' (Noren scrip key)."""
    exchange, _, token = key.partition(":")
    return f"{exchange}|{token}"


def domain_key(exchange: str, token: str) -> str:
    """'NFO', '40210' -> 'NFO:40210'; PayloadError for an unknown exchange or a malformed token."""
    if not _TOKEN.fullmatch(token):
        raise PayloadError(f"malformed token {token[:40]!r}")
    return f"{exchange_of(exchange).value}:{token}"


def exchange_of(code: str) -> Exchange:
    try:
        return Exchange(code)
    except ValueError:
        raise PayloadError(f"unknown exchange {code[:20]!r}") from None


def _brief(row: dict) -> str:
    return json.dumps(row)[:200]


# --- orders and trades ---------------------------------------------------------------------
def order_from_wire(row: dict, account: str) -> Order:
    """One OrderBook / SingleOrdHist row or ``om`` frame as an Order.

    A partly filled order that is still working is PARTIALLY_FILLED (Noren says OPEN).
    ``pcode`` (feed) and ``prd`` (books) both carry the product.
    """
    status = normalise_status(required(wire_row(row, "order row"), "status"))
    quantity = units(row, "qty")
    filled = units(row, "fillshares")
    if quantity <= 0 or filled > quantity:
        raise PayloadError(f"order {text(row, 'norenordno')}: quantity {quantity}, filled {filled}")
    if status is OrderStatus.OPEN and 0 < filled < quantity:
        status = OrderStatus.PARTIALLY_FILLED
    product_code = text(row, "prd") or text(row, "pcode")
    prctyp = required(row, "prctyp")
    try:
        side = SIDE_FROM_WIRE[required(row, "trantype")]
        product = PRODUCT_FROM_WIRE[product_code]
        order_type = ORDER_TYPE_FROM_WIRE[prctyp]
    except KeyError as exc:
        raise PayloadError(f"unknown code {exc.args[0]!r} in order {text(row, 'norenordno')}") from None
    validity = VALIDITY_FROM_WIRE.get(text(row, "ret", "DAY"), Validity.DAY)
    price = paise(row, "prc")
    if not price and order_type is OrderType.MARKET:
        price = paise(row, "rprc")
    placed = parse_time(text(row, "ordenttm")) or parse_time(text(row, "norentm"))
    updated = parse_time(text(row, "norentm")) or parse_time(text(row, "exch_tm")) or placed
    return Order(
        account=account, order_id=required(row, "norenordno"),
        instrument_key=_order_key(row), trading_symbol=required(row, "tsym"), side=side,
        quantity=quantity, order_type=order_type, product=product, validity=validity, status=status,
        price=price, trigger_price=paise(row, "trgprc"), filled_quantity=filled,
        average_price=paise(row, "avgprc"), tag=text(row, "remarks"), status_message=text(row, "rejreason"),
        placed_at=placed, updated_at=updated, exchange_order_id=text(row, "exchordid"),
    )


def _order_key(row: dict) -> str:
    """Order rows carry ``token`` in the books; an ``om`` frame may not (then the key uses the tsym)."""
    exchange = required(row, "exch")
    token = text(row, "token")
    return domain_key(exchange, token) if token else f"{exchange_of(exchange).value}:{required(row, 'tsym')}"


def trade_from_wire(row: dict, account: str) -> Trade:
    """One TradeBook row (or an ``om`` Fill frame): a single fill of ``flqty`` at ``flprc``.

    ``fillshares``/``avgprc`` on a fill row are the parent order's running totals and are ignored.
    """
    try:
        side = SIDE_FROM_WIRE[required(wire_row(row, "trade row"), "trantype")]
        product = PRODUCT_FROM_WIRE[text(row, "prd") or text(row, "pcode")]
    except KeyError as exc:
        raise PayloadError(f"unknown code {exc.args[0]!r} in fill {text(row, 'flid')}") from None
    quantity = units(row, "flqty")
    if quantity <= 0:
        raise PayloadError(f"fill {text(row, 'flid')} of order {text(row, 'norenordno')} has no quantity")
    fill_price = paise(row, "flprc")
    if fill_price <= 0:
        raise PayloadError(f"fill {text(row, 'flid')} of order {text(row, 'norenordno')} has no price")
    order_id = required(row, "norenordno")
    return Trade(
        account=account, trade_id=f"{order_id}:{required(row, 'flid')}", order_id=order_id,
        instrument_key=_order_key(row), trading_symbol=required(row, "tsym"), side=side, quantity=quantity,
        price=fill_price, product=product, timestamp=parse_time(text(row, "fltm")),
    )


def filled_quantity(trades: list[Trade], order_id: str) -> int:
    """Units filled for ``order_id``: the sum of its fills (never a repeated running total)."""
    return sum(t.quantity for t in trades if t.order_id == order_id)


# --- portfolio -----------------------------------------------------------------------------
def position_from_wire(row: dict, account: str) -> Position:
    try:
        product = PRODUCT_FROM_WIRE[required(wire_row(row, "position row"), "prd")]
    except KeyError:
        raise PayloadError(f"unknown product {text(row, 'prd')!r} in position {text(row, 'tsym')}") from None
    mult = max(units(row, "mult", 1), 1)
    return Position(
        account=account, instrument_key=domain_key(required(row, "exch"), required(row, "token")),
        trading_symbol=required(row, "tsym"), product=product,
        net_quantity=units(row, "netqty", signed=True), average_price=paise(row, "netavgprc"),
        realised_pnl=paise(row, "rpnl", signed=True),
        overnight_quantity=units(row, "cfbuyqty") - units(row, "cfsellqty"),
        day_buy_quantity=units(row, "daybuyqty"), day_buy_value=paise(row, "daybuyamt"),
        day_sell_quantity=units(row, "daysellqty"), day_sell_value=paise(row, "daysellamt"),
        multiplier=mult,
    )


def holding_from_wire(row: dict, account: str, last_price: int = 0) -> Holding:
    """Quantity is what can be sold today: btst + hold + unpledged + beneficiary + DP - used."""
    listings = wire_row(row, "holding row").get("exch_tsym") or []
    if not isinstance(listings, list) or not listings or not all(isinstance(x, dict) for x in listings):
        raise PayloadError(f"holding without a readable exch_tsym: {_brief(row)}")
    listing = next((x for x in listings if x.get("exch") == "NSE"), listings[0])
    quantity = (units(row, "btstqty") + units(row, "holdqty") + units(row, "unplgdqty") + units(row, "benqty")
                + units(row, "dpqty") - units(row, "usedqty"))
    if quantity < 0:
        raise PayloadError(f"holding {text(listing, 'tsym')}: more used ({units(row, 'usedqty')}) than held")
    return Holding(account=account, instrument_key=domain_key(required(listing, "exch"), required(listing, "token")),
                   trading_symbol=required(listing, "tsym"), quantity=quantity,
                   average_price=paise(row, "upldprc"), last_price=last_price)


def funds_from_wire(row: dict, account: str) -> Funds:
    """Limits -> Funds. Available cash = cash + payin; collateral = brkcollamt; margin used = marginused."""
    cash = paise(wire_row(row, "limits reply"), "cash", signed=True)  # a debit balance is negative
    return Funds(account=account, opening_balance=cash, available_cash=cash + paise(row, "payin"),
                 used_margin=paise(row, "marginused", signed=True), collateral=paise(row, "brkcollamt"),
                 realised_pnl=paise(row, "rpnl", signed=True),
                 unrealised_pnl=paise(row, "urmtom", signed=True) or paise(row, "unmtom", signed=True))


# --- market data ---------------------------------------------------------------------------
def depth_from_wire(row: dict) -> tuple[tuple[DepthLevel, ...], tuple[DepthLevel, ...]]:
    """Five levels each side from bp1..5/bq1..5/bo1..5 and sp/sq/so; empty levels are dropped."""
    bids, asks = [], []
    for level in range(1, 6):
        for side, (p, q, o) in ((bids, ("bp", "bq", "bo")), (asks, ("sp", "sq", "so"))):
            quantity = units(row, f"{q}{level}")
            price = paise(row, f"{p}{level}")
            if quantity > 0 and price > 0:
                side.append(DepthLevel(price, quantity, units(row, f"{o}{level}")))
    return tuple(bids), tuple(asks)


def tick_from_wire(row: dict, key: str | None = None, now: float = 0.0) -> Tick:
    """A merged touchline/depth record (or a GetQuotes reply) as a Tick.

    ``c`` is the previous close; ``ft`` the feed time (epoch seconds), else ``now``.
    """
    if key is None:
        key = domain_key(required(row, "e") if "e" in wire_row(row, "quote") else required(row, "exch"),
                         required(row, "tk") if "tk" in row else required(row, "token"))
    bids, asks = depth_from_wire(row)
    return Tick(
        key=key, ltp=paise(row, "lp"), timestamp=parse_time(text(row, "ft")) or now,
        last_quantity=units(row, "ltq"), volume=units(row, "v"), average_price=paise(row, "ap"),
        open=paise(row, "o"), high=paise(row, "h"), low=paise(row, "l"), close=paise(row, "c"),
        open_interest=units(row, "oi"), open_interest_day_open=units(row, "poi"),
        total_buy_quantity=units(row, "tbq"), total_sell_quantity=units(row, "tsq"), bids=bids, asks=asks,
    )


def candles_from_tpseries(rows: list[dict]) -> list[Candle]:
    """TPSeries rows (newest first) -> candles oldest first; all-zero minutes are skipped."""
    candles = []
    for row in rows:
        o, h, low, c = paise(row, "into"), paise(row, "inth"), paise(row, "intl"), paise(row, "intc")
        if not (o or h or low or c):
            continue
        start = epoch(row, "ssboe") if text(row, "ssboe") else int(parse_time(required(row, "time")))
        candles.append(Candle(start, o, h, low, c, units(row, "intv"), units(row, "oi")))
    candles.sort(key=lambda candle: candle.start)
    return candles


def candles_from_eod(rows: list) -> list[Candle]:
    """EODChartData: an array of JSON *strings* (newest first) -> daily candles oldest first."""
    parsed = []
    for row in rows:
        if isinstance(row, str):
            try:
                row = json.loads(row)
            except (ValueError, RecursionError) as exc:
                raise PayloadError(f"EOD row is not JSON: {row[:80]!r}") from exc
        parsed.append(wire_row(row, "EOD row"))
    candles = [Candle(epoch(r, "ssboe"), paise(r, "into"), paise(r, "inth"), paise(r, "intl"), paise(r, "intc"),
                      units(r, "intv")) for r in parsed]
    candles.sort(key=lambda candle: candle.start)
    return candles
