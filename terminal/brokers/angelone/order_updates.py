"""The order-update socket (smart-order-update): one JSON text frame per order state change.

Frames: ``{"user-id", "status-code", "order-status": "AB00".."AB11", "error-message", "orderData": {...}}``;
AB00 is the connect acknowledgement with an empty order. Each update becomes a domain Order;
when the filled quantity grows, the new part is also reported as a Trade (priced from the
change in average price), so fills arrive without polling the trade book.

Updates sent while the socket was down are lost, so after every reconnect the order book is
read once and each order is reported again (fills that happened meanwhile become Trades).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

import websocket

from terminal.brokers.angelone.auth import SessionTokens
from terminal.brokers.angelone.config import AngelOneConfig
from terminal.brokers.angelone.schemas import SchemaError, order_from_wire
from terminal.brokers.angelone.sockets import ReconnectingSocket
from terminal.brokers.base import BrokerError, FeedSink
from terminal.domain import AccountId, Order, Trade

log = logging.getLogger(__name__)

ORDER_STATUS_CODES = {
    "AB00": "connected", "AB01": "open", "AB02": "cancelled", "AB03": "rejected", "AB04": "modified",
    "AB05": "complete", "AB06": "after market order req received", "AB07": "cancelled after market order",
    "AB08": "modify after market order req received", "AB09": "open pending", "AB10": "trigger pending",
    "AB11": "modify pending",
}


def parse_order_update(text: str, account: AccountId) -> tuple[Order, str] | None:
    """(the Order, its fill id) in one update frame; None for the connect ack or an empty order.

    Raises SchemaError for anything else that is not a readable order update.
    """
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):
        raise SchemaError(f"order update is not JSON: {text[:80]!r}") from None
    if not isinstance(message, dict):
        raise SchemaError(f"order update is not an object: {text[:80]!r}")
    if message.get("order-status") == "AB00":
        return None
    record = message.get("orderData")
    if record in (None, "", {}):
        return None
    if not isinstance(record, dict):
        raise SchemaError(f"order update without an order record: {text[:80]!r}")
    if not record.get("orderid"):
        return None
    return order_from_wire(record, account), str(record.get("fillid") or "")


class FillTracker:
    """Turns successive updates of one order into the fills between them."""

    def __init__(self):
        self._seen: dict[str, tuple[int, int]] = {}  # order id -> (filled units, average paise)
        self._lock = threading.Lock()

    def fills(self, order: Order, fill_id: str = "") -> list[Trade]:
        with self._lock:
            filled_before, average_before = self._seen.get(order.order_id, (0, 0))
            self._seen[order.order_id] = (max(order.filled_quantity, filled_before), order.average_price)
        new = order.filled_quantity - filled_before
        if new <= 0:
            return []
        value = order.average_price * order.filled_quantity - average_before * filled_before
        price = round(value / new)
        trade_id = fill_id or f"{order.order_id}-{order.filled_quantity}"
        return [Trade(order.account, trade_id, order.order_id, order.instrument_key, order.trading_symbol, order.side,
                      new, price, order.product, order.updated_at)]


class OrderUpdateSocket(ReconnectingSocket):
    label = "order updates"

    def __init__(self, config: AngelOneConfig, tokens: Callable[[], SessionTokens], account: AccountId,
                 sink: FeedSink, renew_tokens: Callable[[], None], resync: Callable[[], list[Order]] | None = None):
        super().__init__(config.order_ws_url, ping_interval=config.ping_interval, stall_timeout=config.stall_timeout,
                         reconnect_delay=config.reconnect_delay, reconnect_max_delay=config.reconnect_max_delay,
                         on_state=self._state, renew_tokens=renew_tokens)
        self._config = config
        self._tokens = tokens
        self._account = account
        self._sink = sink
        self.fills = FillTracker()
        self._resync = resync
        self.resyncs = 0  # order-book reads after a reconnect (tests and diagnostics)

    def _state(self, state, message: str) -> None:
        log.info("angelone order updates: %s %s", state.value, message)

    def headers(self) -> dict[str, str]:
        tokens = self._tokens()
        return {"Authorization": f"Bearer {tokens.jwt}", "x-api-key": self._config.api_key,
                "x-client-code": self._config.client_code, "x-feed-token": tokens.feed}

    def heartbeat(self, ws: websocket.WebSocket) -> None:
        ws.ping()  # this socket answers control pings (the docs' 10 s ping/pong)

    def on_open(self, ws: websocket.WebSocket) -> None:
        if self.connections > 1 and self._resync is not None:
            self.resync()

    def resync(self) -> None:
        """Report every order in the book again: what changed while the socket was down."""
        try:
            orders = self._resync()
        except BrokerError as exc:
            log.warning("angelone order updates: order book unavailable after reconnect: %s", exc)
            return
        self.resyncs += 1
        for order in orders:
            self._report(order, "")

    def on_text(self, text: str) -> None:
        if text.strip() == "pong":
            return
        try:
            update = parse_order_update(text, self._account)
        except SchemaError as exc:
            log.warning("angelone order update unreadable: %s", exc)
            return
        if update is not None:
            self._report(*update)

    def _report(self, order: Order, fill_id: str) -> None:
        self._sink.on_order_update(order)
        for trade in self.fills.fills(order, fill_id):
            self._sink.on_trade(trade)
