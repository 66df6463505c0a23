"""The simulator's instrument master: three NSE indices, their futures and options, and liquid stocks.

Everything is computed from "now", so the master is always current: futures for the current and
next monthly expiry (last Tuesday, 15:30 IST), NIFTY options for the next four weekly expiries
plus the two monthlies, BANKNIFTY and FINNIFTY options for the two monthlies only. Strikes are
centred on each index's reference level, ``strikes_each_side`` either side of it.

Derivative tokens are synthetic: a CRC of the trading symbol, so the same contract gets the same
token in every run on the same date (collisions are resolved in a fixed order).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime

from terminal.domain import Exchange, Instrument, InstrumentKey, InstrumentKind, OptionType
from terminal.sim.calendar import as_ist, monthly_expiries, weekly_expiries

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKLY_MONTH_CODES = "123456789OND"  # NSE weekly symbols: YY + month code + DD


@dataclass(frozen=True, slots=True)
class UnderlyingSpec:
    """One simulated price process: an index (with F&O) or a cash stock.

    ``reference_price`` is paise: the level the simulation starts near and strikes centre on.
    ``annual_vol`` is the annual volatility of the spot (0.13 = 13%); ``market_beta`` how much
    of that comes from the common market factor (0..1).
    """

    symbol: str  # NIFTY, BANKNIFTY, RELIANCE
    trading_symbol: str  # NIFTY 50, RELIANCE-EQ
    token: str
    kind: InstrumentKind
    reference_price: int
    annual_vol: float
    market_beta: float
    name: str = ""
    lot_size: int = 1
    freeze_quantity: int | None = None
    strike_step: int = 0  # paise; 0: no options
    weekly_options: bool = False
    minute_volume: int = 0  # typical units traded per minute (cash); 0 for indices


def _index(symbol: str, tsym: str, token: str, level: int, vol: float, beta: float, lot: int, freeze: int,
           step: int, weekly: bool) -> UnderlyingSpec:
    return UnderlyingSpec(symbol, tsym, token, InstrumentKind.INDEX, level * 100, vol, beta, tsym, lot, freeze,
                          step * 100, weekly)


def _stock(symbol: str, token: str, rupees: float, vol: float, minute_volume: int, name: str) -> UnderlyingSpec:
    return UnderlyingSpec(symbol, f"{symbol}-EQ", token, InstrumentKind.EQUITY, round(rupees * 100), vol, 0.45,
                          name, minute_volume=minute_volume)


INDICES: tuple[UnderlyingSpec, ...] = (
    _index("NIFTY", "NIFTY 50", "26000", 25_500, 0.13, 0.90, 65, 1801, 50, True),
    _index("BANKNIFTY", "NIFTY BANK", "26009", 55_500, 0.15, 0.80, 30, 601, 100, False),
    _index("FINNIFTY", "NIFTY FIN SERVICE", "26037", 26_000, 0.15, 0.80, 60, 1801, 50, False),
)

# Real NSE cash tokens; prices near late-2025 levels (after the 2025 bonus/split adjustments).
STOCKS: tuple[UnderlyingSpec, ...] = (
    _stock("RELIANCE", "2885", 1545.0, 0.22, 9000, "Reliance Industries"),
    _stock("HDFCBANK", "1333", 990.0, 0.18, 16000, "HDFC Bank"),
    _stock("ICICIBANK", "4963", 1390.0, 0.20, 12000, "ICICI Bank"),
    _stock("INFY", "1594", 1560.0, 0.24, 9000, "Infosys"),
    _stock("TCS", "11536", 3150.0, 0.22, 3500, "Tata Consultancy Services"),
    _stock("SBIN", "3045", 960.0, 0.24, 14000, "State Bank of India"),
    _stock("AXISBANK", "5900", 1240.0, 0.24, 8000, "Axis Bank"),
    _stock("KOTAKBANK", "1922", 2120.0, 0.22, 4000, "Kotak Mahindra Bank"),
    _stock("LT", "11483", 4020.0, 0.24, 2500, "Larsen & Toubro"),
    _stock("ITC", "1660", 405.0, 0.18, 20000, "ITC"),
    _stock("HINDUNILVR", "1394", 2450.0, 0.18, 2500, "Hindustan Unilever"),
    _stock("BHARTIARTL", "10604", 2090.0, 0.22, 5000, "Bharti Airtel"),
    _stock("BAJFINANCE", "317", 1010.0, 0.30, 9000, "Bajaj Finance"),
    _stock("MARUTI", "10999", 15900.0, 0.24, 600, "Maruti Suzuki"),
    _stock("ASIANPAINT", "236", 2890.0, 0.22, 2000, "Asian Paints"),
    _stock("HCLTECH", "7229", 1610.0, 0.24, 5000, "HCL Technologies"),
    _stock("WIPRO", "3787", 246.0, 0.26, 18000, "Wipro"),
    _stock("SUNPHARMA", "3351", 1760.0, 0.22, 4000, "Sun Pharmaceutical"),
    _stock("TATASTEEL", "3499", 172.0, 0.30, 60000, "Tata Steel"),
    _stock("M&M", "2031", 3690.0, 0.28, 3000, "Mahindra & Mahindra"),
    _stock("NTPC", "11630", 330.0, 0.24, 20000, "NTPC"),
    _stock("TITAN", "3506", 3850.0, 0.24, 1800, "Titan Company"),
)

UNDERLYINGS: tuple[UnderlyingSpec, ...] = INDICES + STOCKS


def underlying_key(spec: UnderlyingSpec) -> InstrumentKey:
    return f"{Exchange.NSE.value}:{spec.token}"


def monthly_symbol(symbol: str, expiry: datetime) -> str:
    return f"{symbol}{expiry:%y}{MONTHS[expiry.month - 1]}"


def weekly_symbol(symbol: str, expiry: datetime) -> str:
    return f"{symbol}{expiry:%y}{WEEKLY_MONTH_CODES[expiry.month - 1]}{expiry:%d}"


def option_strikes(centre: int, step: int, each_side: int) -> list[int]:
    """Strikes (paise) around ``centre`` rounded to the strike step, ``each_side`` either side."""
    atm = round(centre / step) * step
    return [atm + i * step for i in range(-each_side, each_side + 1)]


@dataclass(frozen=True, slots=True)
class InstrumentMaster:
    """The instrument list and its indexes. ``underlying_of`` maps every key to its spec symbol."""

    instruments: tuple[Instrument, ...]
    by_key: dict[InstrumentKey, Instrument]
    by_symbol: dict[tuple[Exchange, str], Instrument]
    underlying_of: dict[InstrumentKey, str]
    specs: dict[str, UnderlyingSpec]

    def __len__(self) -> int:
        return len(self.instruments)


def build_instrument_master(now: datetime, strikes_each_side: int = 50,
                            underlyings: tuple[UnderlyingSpec, ...] = UNDERLYINGS) -> InstrumentMaster:
    """The master as of ``now`` (timezone-aware): spot instruments, then futures, then options."""
    now = as_ist(now)
    spot: list[Instrument] = []
    derivatives: list[tuple[str, dict]] = []  # (underlying symbol, Instrument kwargs without token)
    for spec in underlyings:
        spot.append(Instrument(Exchange.NSE, spec.token, spec.trading_symbol, spec.kind, name=spec.name or spec.symbol,
                               underlying=spec.symbol, lot_size=1, tick_size=5))
        if spec.kind is not InstrumentKind.INDEX:
            continue
        monthlies = monthly_expiries(now, 2)
        common = dict(underlying=spec.symbol, lot_size=spec.lot_size, tick_size=5,
                      freeze_quantity=spec.freeze_quantity)
        for expiry in monthlies:
            derivatives.append((spec.symbol, dict(
                trading_symbol=f"{monthly_symbol(spec.symbol, expiry)}FUT", kind=InstrumentKind.FUTURE,
                name=f"{spec.symbol} {MONTHS[expiry.month - 1]} FUT", expiry=expiry, **common)))
        option_expiries = {e: monthly_symbol(spec.symbol, e) for e in monthlies}
        if spec.weekly_options:
            for e in weekly_expiries(now, 4):
                option_expiries.setdefault(e, weekly_symbol(spec.symbol, e))
        strikes = option_strikes(spec.reference_price, spec.strike_step, strikes_each_side)
        for expiry in sorted(option_expiries):
            prefix = option_expiries[expiry]
            for strike in strikes:
                rupees = strike // 100
                for option_type in (OptionType.CALL, OptionType.PUT):
                    derivatives.append((spec.symbol, dict(
                        trading_symbol=f"{prefix}{rupees}{option_type.value}", kind=InstrumentKind.OPTION,
                        name=f"{spec.symbol} {expiry.day:02d} {MONTHS[expiry.month - 1]} {rupees} {option_type.value}",
                        expiry=expiry, strike=strike, option_type=option_type, **common)))
    tokens = _synthetic_tokens([kw["trading_symbol"] for _, kw in derivatives],
                               taken={s.token for s in underlyings})
    instruments = list(spot)
    underlying_of = {inst.key: inst.underlying for inst in spot}
    for (symbol, kwargs), token in zip(derivatives, tokens):
        inst = Instrument(Exchange.NFO, token, **kwargs)
        instruments.append(inst)
        underlying_of[inst.key] = symbol
    return InstrumentMaster(
        instruments=tuple(instruments),
        by_key={i.key: i for i in instruments},
        by_symbol={(i.exchange, i.trading_symbol): i for i in instruments},
        underlying_of=underlying_of,
        specs={s.symbol: s for s in underlyings},
    )


def _synthetic_tokens(symbols: list[str], taken: set[str]) -> list[str]:
    """A stable five-or-six digit token per symbol; a collision takes the next free number."""
    used = set(taken)
    tokens = []
    for symbol in sorted(symbols):
        number = 35000 + zlib.crc32(symbol.encode()) % 900_000
        while str(number) in used:
            number = 35000 + (number - 35000 + 1) % 900_000
        used.add(str(number))
        tokens.append((symbol, str(number)))
    by_symbol = dict(tokens)
    return [by_symbol[s] for s in symbols]
