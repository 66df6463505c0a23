"""Angel One-only data the panels show (GTT rules, market movers, greeks, charges). Prices in paise."""

from __future__ import annotations

from dataclasses import dataclass

from terminal.domain import InstrumentKey, Product, Side


@dataclass(frozen=True, slots=True)
class GttRule:
    """A good-till-triggered rule: when the LTP reaches ``trigger_price`` a LIMIT order at ``price`` is placed."""

    rule_id: str
    instrument_key: InstrumentKey
    trading_symbol: str
    side: Side
    product: Product
    quantity: int
    price: int
    trigger_price: int
    status: str = "NEW"  # NEW, ACTIVE, CANCELLED, SENTTOEXCHANGE, ...
    disclosed_quantity: int = 0
    time_period_days: int = 365


@dataclass(frozen=True, slots=True)
class MarketMover:
    trading_symbol: str
    token: str
    percent_change: float
    open_interest: int = 0
    oi_change: int = 0
    ltp: int = 0  # paise (OI build-up only)
    net_change: int = 0  # paise (OI build-up only)


@dataclass(frozen=True, slots=True)
class PutCallRatio:
    trading_symbol: str
    pcr: float


@dataclass(frozen=True, slots=True)
class OptionGreek:
    name: str
    expiry: str
    strike: int  # paise
    option_type: str
    delta: float
    gamma: float
    theta: float
    vega: float
    implied_volatility: float  # percent
    volume: int


@dataclass(frozen=True, slots=True)
class ChargeEstimate:
    """Total charges and their parts for a set of orders, in paise."""

    total: int
    trade_value: int
    parts: dict[str, int]
