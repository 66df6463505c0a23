"""Market data: ticks with five-level depth, and candles. All prices are integer paise."""

from __future__ import annotations

from dataclasses import dataclass, field

from terminal.domain.instrument import InstrumentKey


@dataclass(frozen=True, slots=True)
class DepthLevel:
    price: int  # paise
    quantity: int  # units
    orders: int = 0


EMPTY_DEPTH: tuple[DepthLevel, ...] = ()


@dataclass(frozen=True, slots=True)
class Tick:
    """The latest state of one instrument. Immutable once emitted; a newer tick replaces it.

    ``timestamp`` is epoch seconds (exchange time where the broker gives it). ``close`` is the
    previous session's close, the base of change and change %.
    """

    key: InstrumentKey
    ltp: int
    timestamp: float
    last_quantity: int = 0
    volume: int = 0
    average_price: int = 0
    open: int = 0
    high: int = 0
    low: int = 0
    close: int = 0
    open_interest: int = 0
    open_interest_day_open: int = 0
    total_buy_quantity: int = 0
    total_sell_quantity: int = 0
    bids: tuple[DepthLevel, ...] = field(default=EMPTY_DEPTH)
    asks: tuple[DepthLevel, ...] = field(default=EMPTY_DEPTH)

    @property
    def change(self) -> int:
        return self.ltp - self.close if self.close else 0

    @property
    def change_percent(self) -> float:
        return 100.0 * (self.ltp - self.close) / self.close if self.close else 0.0

    @property
    def open_interest_change(self) -> int:
        return self.open_interest - self.open_interest_day_open if self.open_interest_day_open else 0

    @property
    def best_bid(self) -> int | None:
        return self.bids[0].price if self.bids else None

    @property
    def best_ask(self) -> int | None:
        return self.asks[0].price if self.asks else None


@dataclass(frozen=True, slots=True)
class Candle:
    """One bar. ``start`` is epoch seconds of the bar's opening moment; prices are paise."""

    start: int
    open: int
    high: int
    low: int
    close: int
    volume: int = 0
    open_interest: int = 0


# Bar intervals in minutes, as the chart offers them; 1440 is one trading day.
INTERVALS_MINUTES: tuple[int, ...] = (1, 3, 5, 15, 30, 60, 1440)
