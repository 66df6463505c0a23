"""Enumerations shared by every layer. Values are the terminal's own words, not a broker's."""

from __future__ import annotations

from enum import Enum


class Exchange(str, Enum):
    NSE = "NSE"  # cash equities and indices
    BSE = "BSE"
    NFO = "NFO"  # NSE futures and options
    BFO = "BFO"  # BSE futures and options
    MCX = "MCX"  # commodities
    CDS = "CDS"  # currency derivatives

    @property
    def is_derivatives(self) -> bool:
        return self in (Exchange.NFO, Exchange.BFO, Exchange.MCX, Exchange.CDS)


class InstrumentKind(str, Enum):
    INDEX = "INDEX"
    EQUITY = "EQUITY"
    FUTURE = "FUTURE"
    OPTION = "OPTION"


class OptionType(str, Enum):
    CALL = "CE"
    PUT = "PE"


class Side(str, Enum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> "Side":
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(str, Enum):
    LIMIT = "LIMIT"
    MARKET = "MARKET"
    SL = "SL"  # stop-loss limit: trigger price and limit price
    SL_M = "SL-M"  # stop-loss market: trigger price only

    @property
    def needs_price(self) -> bool:
        return self in (OrderType.LIMIT, OrderType.SL)

    @property
    def needs_trigger(self) -> bool:
        return self in (OrderType.SL, OrderType.SL_M)


class Product(str, Enum):
    MIS = "MIS"  # intraday, squared off by the broker
    NRML = "NRML"  # overnight derivatives
    CNC = "CNC"  # delivery equity


class Validity(str, Enum):
    DAY = "DAY"
    IOC = "IOC"


class OrderStatus(str, Enum):
    PENDING = "PENDING"  # sent, not yet acknowledged by the exchange
    OPEN = "OPEN"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    TRIGGER_PENDING = "TRIGGER_PENDING"
    COMPLETE = "COMPLETE"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"

    @property
    def is_terminal(self) -> bool:
        return self in (OrderStatus.COMPLETE, OrderStatus.CANCELLED, OrderStatus.REJECTED)

    @property
    def is_open(self) -> bool:
        return not self.is_terminal
