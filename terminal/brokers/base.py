"""The one contract every broker implements, and the errors an adapter raises.

Rules every adapter keeps (the UI and services rely on them):
- Every method may be called from any thread and is safe to call concurrently.
- REST-like methods block until the broker answers; the services run them in a worker pool,
  never on the UI thread.
- ``connect_feed`` returns at once; the adapter runs its own I/O thread, reconnects and
  resubscribes by itself, and pushes decoded domain objects into the FeedSink from that thread.
- Wire payloads never leave the adapter: everything returned or pushed is a domain object.
- ``place_order`` is never retried by the adapter. A lost reply raises OrderOutcomeUnknown so
  that the caller reconciles by the request's client tag instead of sending it again.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Protocol

from terminal.domain import (
    AccountId, Candle, Funds, Holding, Instrument, InstrumentKey, Order, OrderModification, OrderRequest,
    Position, Tick, Trade,
)


Progress = Callable[[int, "int | None"], None]  # (units done, units in all or None)


class BrokerError(Exception):
    """Base of every error an adapter raises. ``hint`` tells the trader what to do."""

    hint = ""

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        if hint is not None:
            self.hint = hint


class AuthenticationError(BrokerError):
    hint = "Check the credentials in Settings > Brokers and log in again."


class SessionExpiredError(AuthenticationError):
    hint = "The broker session has expired: log in again."


class RateLimitedError(BrokerError):
    hint = "The broker is limiting requests; wait a moment and try again."


class OrderRejectedError(BrokerError):
    """The broker or exchange refused the order; ``reason`` is in the broker's words."""

    def __init__(self, reason: str, *, hint: str | None = None):
        super().__init__(reason, hint=hint if hint is not None else rejection_hint(reason))
        self.reason = reason


class NetworkError(BrokerError):
    hint = "Check the internet connection; the terminal reconnects by itself."


class OrderOutcomeUnknown(NetworkError):
    """The request may or may not have reached the broker. Reconcile by tag; never resend."""

    hint = "Checking the broker's order book for this order before doing anything else."


class InstrumentNotFoundError(BrokerError):
    hint = "Refresh the instrument master (File > Refresh instruments) and search again."


def rejection_hint(reason: str) -> str:
    """A plain-language next step for a broker's rejection text."""
    text = reason.lower()
    if "margin" in text or "fund" in text or "insufficient" in text:
        return "Margin shortfall: check the Funds panel, add funds or reduce the quantity."
    if "lot" in text:
        return "Use a quantity that is a whole number of lots."
    if "tick" in text:
        return "Use a price that is a multiple of the tick size."
    if "freeze" in text:
        return "Reduce the quantity below the freeze limit, or turn on order slicing."
    if "price band" in text or "circuit" in text or "dpr" in text or "range" in text:
        return "The price is outside the exchange's allowed band; price it nearer the LTP."
    if "symbol" in text or "instrument" in text or "token" in text or "scrip" in text:
        return "Invalid symbol: refresh the instrument master and search again."
    if "session" in text or "token expired" in text or "login" in text:
        return "Session expired: log in again."
    return "See the order book for details."


class FeedState(str, Enum):
    CONNECTING = "CONNECTING"
    CONNECTED = "CONNECTED"
    RECONNECTING = "RECONNECTING"
    DISCONNECTED = "DISCONNECTED"


class FeedSink(Protocol):
    """Where an adapter's I/O thread delivers what it decoded. Implementations are thread-safe."""

    def on_ticks(self, ticks: Iterable[Tick]) -> None: ...

    def on_order_update(self, order: Order) -> None: ...

    def on_trade(self, trade: Trade) -> None: ...

    def on_feed_state(self, state: FeedState, message: str = "") -> None: ...


@dataclass(frozen=True, slots=True)
class SessionInfo:
    account: AccountId
    user_name: str
    expires_at: datetime | None = None  # when the broker's token dies, if known


class Broker(ABC):
    """A connection to one trading account at one broker."""

    #: short name used in account ids and the UI: "paper", "flattrade", "angelone"
    name: str = ""

    @property
    @abstractmethod
    def account(self) -> AccountId: ...

    # --- session -------------------------------------------------------------------------
    @abstractmethod
    def login(self) -> SessionInfo: ...

    @abstractmethod
    def logout(self) -> None: ...

    # --- reference and market data -------------------------------------------------------
    @abstractmethod
    def instruments(self, progress: Progress | None = None) -> list[Instrument]:
        """The instrument master this account can trade and watch.

        A download reports ``progress(done, total)`` from the calling thread; ``total`` is None
        (or 0) when the size is not known.
        """

    @abstractmethod
    def quotes(self, keys: list[InstrumentKey]) -> list[Tick]:
        """A snapshot of the latest tick for each key (unknown keys are left out)."""

    @abstractmethod
    def history(self, key: InstrumentKey, interval_minutes: int, start: datetime, end: datetime) -> list[Candle]:
        """Bars oldest first between ``start`` and ``end`` (timezone-aware)."""

    # --- streaming -----------------------------------------------------------------------
    @abstractmethod
    def connect_feed(self, sink: FeedSink) -> None:
        """Start streaming ticks and order updates into ``sink``; returns at once."""

    @abstractmethod
    def disconnect_feed(self) -> None: ...

    @abstractmethod
    def subscribe(self, keys: list[InstrumentKey]) -> None: ...

    @abstractmethod
    def unsubscribe(self, keys: list[InstrumentKey]) -> None: ...

    # --- orders --------------------------------------------------------------------------
    @abstractmethod
    def place_order(self, request: OrderRequest) -> str:
        """Send one order; returns the broker's order id. Never retried inside the adapter."""

    @abstractmethod
    def modify_order(self, order_id: str, modification: OrderModification) -> None: ...

    @abstractmethod
    def cancel_order(self, order_id: str) -> None: ...

    @abstractmethod
    def order_book(self) -> list[Order]: ...

    @abstractmethod
    def trade_book(self) -> list[Trade]: ...

    # --- portfolio -----------------------------------------------------------------------
    @abstractmethod
    def positions(self) -> list[Position]: ...

    @abstractmethod
    def holdings(self) -> list[Holding]: ...

    @abstractmethod
    def funds(self) -> Funds: ...

    # --- helpers every adapter gets ------------------------------------------------------
    def find_order_by_tag(self, tag: str) -> Order | None:
        """The order carrying client tag ``tag``, from a fresh order book; None if absent."""
        for order in self.order_book():
            if order.tag == tag:
                return order
        return None
