"""Order updates from the websocket (``om`` frames) and the request-to-wire mapping of orders.

An ``om`` frame is an order snapshot; a Fill report also carries the one fill (``flqty`` at
``flprc``, id ``flid``), which becomes a Trade. Flattrade names the product ``pcode`` and the
report ``reporttype``; older Noren servers say ``prd`` and ``rpt``: both are read.
"""

from __future__ import annotations

import math

from terminal.brokers.flattrade.schemas import (
    ORDER_TYPE_TO_WIRE, PRODUCT_TO_WIRE, SIDE_TO_WIRE, VALIDITY_TO_WIRE, order_from_wire, text,
    trade_from_wire, wire_price,
)
from terminal.domain import Order, OrderModification, OrderRequest, OrderType, Trade
from terminal.domain.instrument import Instrument


def report_type(frame: dict) -> str:
    return text(frame, "reporttype") or text(frame, "rpt")


def order_update_from_wire(frame: dict, account: str) -> tuple[Order, Trade | None]:
    """An ``om`` frame as (order snapshot, the fill it reports or None). Raises PayloadError."""
    order = order_from_wire(frame, account)
    trade = None
    if report_type(frame).lower() == "fill" and text(frame, "flqty"):
        trade = trade_from_wire(frame, account)
    return order, trade


def protected_price(side_sign: int, reference: int, percent: float, tick_size: int) -> int:
    """A limit price ``percent`` through ``reference`` (paise): above it to buy, below to sell,
    rounded to the tick away from the reference so the band is never narrower than asked."""
    through = reference + side_sign * reference * percent / 100.0
    ticks = math.ceil(through / tick_size) if side_sign > 0 else math.floor(through / tick_size)
    return max(ticks * tick_size, tick_size)


def place_order_fields(request: OrderRequest, instrument: Instrument, client_id: str, *,
                       price: int, trigger: int, wire_type: str) -> dict:
    """jData of PlaceOrder. ``amo`` is never sent (Flattrade refuses "NO"); the tag goes in remarks."""
    fields = {
        "ordersource": "API", "uid": client_id, "actid": client_id,
        "trantype": SIDE_TO_WIRE[request.side], "prd": PRODUCT_TO_WIRE[request.product],
        "exch": instrument.exchange.value, "tsym": instrument.trading_symbol, "qty": str(request.quantity),
        "dscqty": "0", "prctyp": wire_type, "prc": wire_price(price),
        "ret": VALIDITY_TO_WIRE[request.validity], "remarks": request.tag,
    }
    if wire_type == ORDER_TYPE_TO_WIRE[OrderType.SL]:
        fields["trgprc"] = wire_price(trigger)
    return fields


def modify_order_fields(order: Order, modification: OrderModification, client_id: str, *,
                        price: int, trigger: int, wire_type: str, exchange: str) -> dict:
    """jData of ModifyOrder: ``qty`` is the new TOTAL (filled + pending); ``trgprc`` only for SL-LMT."""
    quantity = order.quantity if modification.quantity is None else modification.quantity
    fields = {
        "ordersource": "API", "uid": client_id, "actid": client_id, "norenordno": order.order_id,
        "exch": exchange, "tsym": order.trading_symbol, "qty": str(quantity), "prctyp": wire_type,
        "prc": wire_price(price), "ret": VALIDITY_TO_WIRE[order.validity],
    }
    if wire_type == ORDER_TYPE_TO_WIRE[OrderType.SL]:
        fields["trgprc"] = wire_price(trigger)
    return fields
