"""Instruments: what can be traded or watched, identified by exchange and token."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from terminal.domain.enums import Exchange, InstrumentKind, OptionType

InstrumentKey = str  # "NFO:43650": exchange and the exchange token, the same for every broker


def instrument_key(exchange: Exchange | str, token: str) -> InstrumentKey:
    return f"{Exchange(exchange).value}:{token}"


@dataclass(frozen=True, slots=True)
class Instrument:
    """One tradeable or watchable contract.

    Prices (strike, tick size) are integer paise; quantities (lot size, freeze quantity) are
    units. ``freeze_quantity`` is the exchange's published figure: an order of that many units
    or more is frozen, so the largest single order is ``freeze_quantity - 1`` rounded down to
    whole lots. ``expiry`` is the exact expiry moment (15:30 IST for NSE derivatives).
    """

    exchange: Exchange
    token: str
    trading_symbol: str
    kind: InstrumentKind
    name: str = ""  # what people call it: "NIFTY 25 NOV 24500 CE", "RELIANCE"
    underlying: str = ""  # "NIFTY", "BANKNIFTY", or the stock symbol
    expiry: datetime | None = None
    strike: int | None = None  # paise
    option_type: OptionType | None = None
    lot_size: int = 1
    tick_size: int = 5  # paise
    freeze_quantity: int | None = None
    key: InstrumentKey = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "exchange", Exchange(self.exchange))
        object.__setattr__(self, "key", instrument_key(self.exchange, self.token))
        if self.lot_size < 1:
            raise ValueError(f"{self.trading_symbol}: lot size must be at least 1")
        if self.tick_size < 1:
            raise ValueError(f"{self.trading_symbol}: tick size must be at least one paisa")

    @property
    def display_name(self) -> str:
        return self.name or self.trading_symbol

    @property
    def is_option(self) -> bool:
        return self.kind is InstrumentKind.OPTION

    @property
    def is_derivative(self) -> bool:
        return self.kind in (InstrumentKind.FUTURE, InstrumentKind.OPTION)

    @property
    def is_tradeable(self) -> bool:
        return self.kind is not InstrumentKind.INDEX

    @property
    def max_order_quantity(self) -> int | None:
        """Largest quantity one order may carry (whole lots below the freeze), or None."""
        if self.freeze_quantity is None:
            return None
        lots = (self.freeze_quantity - 1) // self.lot_size
        return max(lots, 1) * self.lot_size
