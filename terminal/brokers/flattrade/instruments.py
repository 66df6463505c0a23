"""The Flattrade scrip master: segment CSV files, cached on disk for the day, parsed into Instruments.

Header (real files): ``Exchange,Token,Lotsize,Symbol,Tradingsymbol,Instrument,Expiry,Strike,Optiontype``.
Expiry is ``DD-MMM-YYYY``; futures carry Strike ``-0.01`` (NFO) or ``0`` (BFO) and Optiontype
``XX``; equity rows leave Expiry/Strike/Optiontype empty. The files carry no tick size: it is
5 paise here (what F&O and most stocks use), and GetSecurityInfo gives the exact figure.
Trading symbols are read from the file, never built from dates (expiries move with holidays).
Flattrade regenerates the files each morning; a copy fetched after 08:30 IST is good for the day.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Callable, Iterable
from datetime import datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import requests

from terminal.brokers.base import NetworkError
from terminal.domain import Exchange, Instrument, InstrumentKind, OptionType
from terminal.domain.money import to_paise

log = logging.getLogger(__name__)

IST = ZoneInfo("Asia/Kolkata")
HEADER = ("Exchange", "Token", "Lotsize", "Symbol", "Tradingsymbol", "Instrument", "Expiry", "Strike", "Optiontype")
REFRESH_AFTER = time(8, 30)  # IST: the day's files are ready by then
EXPIRY_TIME = time(15, 30)  # NSE/BSE derivatives expire at the close
DEFAULT_TICK = 5  # paise

_KIND = {
    "INDEX": InstrumentKind.INDEX, "UNDIND": InstrumentKind.INDEX,
    "FUTIDX": InstrumentKind.FUTURE, "FUTSTK": InstrumentKind.FUTURE, "FUTCUR": InstrumentKind.FUTURE,
    "FUTCOM": InstrumentKind.FUTURE, "FUTIRC": InstrumentKind.FUTURE, "FUTIRT": InstrumentKind.FUTURE,
    "OPTIDX": InstrumentKind.OPTION, "OPTSTK": InstrumentKind.OPTION, "OPTCUR": InstrumentKind.OPTION,
    "OPTFUT": InstrumentKind.OPTION, "OPTCOM": InstrumentKind.OPTION,
}
_TOKEN = re.compile(r"[A-Za-z0-9_.-]{1,40}")  # the scrip key is EXCH|TOKEN: no "|", "#", ":" or spaces
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")

Progress = Callable[[int, int], None]  # (files done, files in all)


class ScripMasterError(ValueError):
    """A scrip-master file that cannot be read: names the file and line."""


def parse_scrip_master(text: str, source: str = "scrip master") -> list[Instrument]:
    """Instruments from one segment file. A bad row raises ScripMasterError (a half-read master
    would silently hide contracts); rows of exchanges the terminal does not know are skipped."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = tuple(h.strip() for h in next(reader))
    except StopIteration:
        return []
    except csv.Error as exc:
        raise ScripMasterError(f"{source}: unreadable header: {exc}") from None
    if tuple(h.lower() for h in header[:len(HEADER)]) != tuple(h.lower() for h in HEADER):
        raise ScripMasterError(f"{source}: unexpected header {','.join(header)[:200]}")
    instruments = []
    line = 1
    try:
        for line, row in enumerate(reader, start=2):
            if not row or not any(cell.strip() for cell in row):
                continue
            try:
                instrument = _row_to_instrument([cell.strip() for cell in row] + [""] * (len(HEADER) - len(row)))
            except (ValueError, ArithmeticError) as exc:  # InvalidOperation is an ArithmeticError
                raise ScripMasterError(f"{source} line {line}: {exc}") from None
            if instrument is not None:
                instruments.append(instrument)
    except csv.Error as exc:  # a NUL byte, an endless quoted field
        raise ScripMasterError(f"{source} line {line + 1}: {exc}") from None
    return instruments


def _row_to_instrument(row: list[str]) -> Instrument | None:
    exchange_code, token, lot, symbol, tsym, kind_code, expiry_text, strike_text, option_text = row[:9]
    try:
        exchange = Exchange(exchange_code.upper())
    except ValueError:
        return None  # e.g. NCDEX rows: not tradeable in the terminal
    if not token or not tsym:
        raise ValueError("missing token or trading symbol")
    if not _TOKEN.fullmatch(token):
        raise ValueError(f"malformed token {token[:40]!r}")
    kind = _KIND.get(kind_code.upper())
    if kind is None:
        kind = InstrumentKind.EQUITY
    expiry = _expiry(expiry_text) if expiry_text else None
    option_type = (OptionType(option_text.upper())
                   if kind is InstrumentKind.OPTION and option_text.upper() in ("CE", "PE") else None)
    if kind is InstrumentKind.OPTION and (option_type is None or expiry is None):
        raise ValueError(f"option {tsym} without expiry or CE/PE")
    strike = _strike(strike_text, tsym) if kind is InstrumentKind.OPTION else None
    return Instrument(exchange, token, tsym, kind, name=_display_name(symbol, tsym, kind, expiry, strike, option_type),
                      underlying=symbol or tsym, expiry=expiry, strike=strike, option_type=option_type,
                      lot_size=_lot_size(lot), tick_size=DEFAULT_TICK)


def _lot_size(text: str) -> int:
    """Units a lot: whole and at most a crore; empty or 0 (index rows) means 1."""
    number = Decimal(text) if text else Decimal(1)
    if not number.is_finite() or number < 0 or number > 10**7 or number != number.to_integral_value():
        raise ValueError(f"lot size {text[:20]!r} is not a whole number of units")
    return max(int(number), 1)


def _strike(text: str, tsym: str) -> int:
    """An option's strike in paise: positive and below ₹1 crore."""
    strike = to_paise(text)
    if not 0 < strike < 10**9:
        raise ValueError(f"option {tsym} has strike {text[:20]!r}")
    return strike


def _expiry(text: str) -> datetime:
    day = datetime.strptime(text.title(), "%d-%b-%Y").date()
    return datetime.combine(day, EXPIRY_TIME, tzinfo=IST)


def _display_name(symbol: str, tsym: str, kind: InstrumentKind, expiry: datetime | None, strike: int | None,
                  option_type: OptionType | None) -> str:
    if kind is InstrumentKind.OPTION and expiry and strike is not None and option_type:
        rupees = f"{strike // 100}" if strike % 100 == 0 else f"{strike / 100:.2f}"
        return f"{symbol} {expiry.day:02d} {_MONTHS[expiry.month - 1]} {rupees} {option_type.value}"
    if kind is InstrumentKind.FUTURE and expiry:
        return f"{symbol} {expiry.day:02d} {_MONTHS[expiry.month - 1]} FUT"
    return symbol if kind is InstrumentKind.EQUITY and symbol else tsym


def last_refresh_boundary(now: datetime) -> datetime:
    """The latest 08:30 IST at or before ``now``: a cached file older than this is stale."""
    now = now.astimezone(IST)
    boundary = datetime.combine(now.date(), REFRESH_AFTER, tzinfo=IST)
    return boundary if now >= boundary else boundary - timedelta(days=1)


class ScripMaster:
    """Downloads the segment files once a day into ``cache_dir`` and parses them."""

    def __init__(self, base_url: str, files: Iterable[str], cache_dir: Path, *, timeout: float = 30.0,
                 session: requests.Session | None = None, clock: Callable[[], datetime] = lambda: datetime.now(IST)):
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.files = tuple(files)
        self.cache_dir = Path(cache_dir)
        self.timeout = timeout
        self._session = session or requests.Session()
        self._clock = clock

    def is_fresh(self, path: Path) -> bool:
        if not path.exists():
            return False
        modified = datetime.fromtimestamp(path.stat().st_mtime, IST)
        return modified >= last_refresh_boundary(self._clock())

    def load(self, progress: Progress | None = None, force: bool = False) -> list[Instrument]:
        """All instruments of the configured segments; downloads what is stale. ``progress(done, total)``."""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        instruments: list[Instrument] = []
        total = len(self.files)
        for done, name in enumerate(self.files, start=1):
            path = self.cache_dir / name
            if force or not self.is_fresh(path):
                self._download(name, path)
            instruments += parse_scrip_master(path.read_text(encoding="utf-8"), name)
            if progress is not None:
                progress(done, total)
        return instruments

    def _download(self, name: str, path: Path) -> None:
        url = self.base_url + name
        try:
            response = self._session.get(url, timeout=self.timeout)
        except requests.RequestException as exc:
            if path.exists():
                log.warning("Scrip master %s not refreshed (%s); using yesterday's copy", name, exc)
                return
            raise NetworkError(f"Cannot download the Flattrade scrip master {name}: {exc}") from exc
        if response.status_code != 200:
            if path.exists():
                log.warning("Scrip master %s: HTTP %s; using the cached copy", name, response.status_code)
                return
            raise NetworkError(f"Cannot download the Flattrade scrip master {name}: HTTP {response.status_code}")
        parse_scrip_master(response.text, name)  # refuse to cache a file that does not parse
        tmp = path.with_suffix(".part")
        tmp.write_text(response.text, encoding="utf-8")
        tmp.replace(path)
