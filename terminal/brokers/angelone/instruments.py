"""The Angel One instrument master (OpenAPIScripMaster.json): download, parse, disk cache, search.

The file is one JSON array of rows whose nine fields are all strings: token, symbol, name,
expiry ("28OCT2025"), strike (x100: "2440000.000000" is Rs 24,400; CDS x10^7), lotsize,
instrumenttype (AMXIDX, FUTIDX, OPTSTK, ...), exch_seg (NSE, NFO, ...), tick_size (paise).
The real file has well over 100,000 rows, so rows are kept as columns sorted for search (index,
equity, futures, options; nearest expiry first), domain Instruments are built only when asked
for, and search scans one joined lower-case text with ``str.find`` instead of every row.
The cache is a pickle of those columns, written once a day.
"""

from __future__ import annotations

import json
import logging
import pickle
from bisect import bisect_right
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

from terminal.domain import Exchange, Instrument, InstrumentKey, InstrumentKind, OptionType

log = logging.getLogger(__name__)

IST = timezone(timedelta(hours=5, minutes=30))
FIELDS = ("token", "symbol", "name", "expiry", "strike", "lotsize", "instrumenttype", "exch_seg", "tick_size")
CACHE_VERSION = 1
_SEGMENTS = {"NSE": Exchange.NSE, "BSE": Exchange.BSE, "NFO": Exchange.NFO, "BFO": Exchange.BFO,
             "MCX": Exchange.MCX, "CDS": Exchange.CDS, "NSE_CM": Exchange.NSE, "BSE_CM": Exchange.BSE,
             "NSE_FO": Exchange.NFO, "BSE_FO": Exchange.BFO, "MCX_FO": Exchange.MCX, "CDE_FO": Exchange.CDS}
_EXPIRY_TIME = {Exchange.MCX: time(23, 30), Exchange.CDS: time(12, 30)}  # others: 15:30 IST
_KIND_RANK = {InstrumentKind.INDEX: 0, InstrumentKind.EQUITY: 1, InstrumentKind.FUTURE: 2, InstrumentKind.OPTION: 3}
_MONTHS = {m: i + 1 for i, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT",
                                           "NOV", "DEC"))}

ProgressCallback = Callable[[int, int | None], None]  # (bytes so far, total bytes or None)


def kind_of(instrument_type: str) -> InstrumentKind:
    if instrument_type == "AMXIDX":
        return InstrumentKind.INDEX
    if instrument_type.startswith("FUT"):
        return InstrumentKind.FUTURE
    if instrument_type.startswith("OPT"):
        return InstrumentKind.OPTION
    return InstrumentKind.EQUITY


def parse_expiry(text: str, exchange: Exchange) -> datetime | None:
    """'28OCT2025' -> 28 Oct 2025 at the segment's closing time, IST. Empty -> None."""
    if not text:
        return None
    try:
        day = date(int(text[5:9]), _MONTHS[text[2:5].upper()], int(text[:2]))
    except (KeyError, ValueError):
        raise ValueError(f"unreadable expiry {text!r}") from None
    return datetime.combine(day, _EXPIRY_TIME.get(exchange, time(15, 30)), IST)


class ScripMaster:
    """Columns of the master, sorted for search, with lookups by key and by (exchange, symbol)."""

    def __init__(self, columns: dict[str, list[str]], as_of: date):
        self.columns = columns
        self.as_of = as_of
        tokens, segs, symbols = columns["token"], columns["exch_seg"], columns["symbol"]
        self._row_by_key: dict[InstrumentKey, int] = {f"{seg}:{tok}": i for i, (seg, tok) in enumerate(zip(segs, tokens))}
        self._row_by_symbol: dict[tuple[str, str], int] = {}
        for i, (seg, sym) in enumerate(zip(segs, symbols)):
            self._row_by_symbol.setdefault((seg, sym.upper()), i)
        lines = [f"{sym} {name} {seg}".lower() for sym, name, seg in zip(symbols, columns["name"], segs)]
        self._haystack = "\n".join(lines) + "\n"
        self._line_starts: list[int] = []
        offset = 0
        for line in lines:
            self._line_starts.append(offset)
            offset += len(line) + 1
        self._built: dict[int, Instrument] = {}

    def __len__(self) -> int:
        return len(self.columns["token"])

    # --- construction -------------------------------------------------------------------------------
    @classmethod
    def from_rows(cls, rows: Iterable[dict], as_of: date | None = None) -> "ScripMaster":
        """Rows as in the JSON file. Rows of segments the terminal does not trade are skipped (logged)."""
        kept: list[tuple] = []
        skipped = 0
        for row in rows:
            seg = _SEGMENTS.get(str(row.get("exch_seg", "")).upper())
            if seg is None or not row.get("token"):
                skipped += 1
                continue
            values = [str(row.get(f) or "") for f in FIELDS]
            values[7] = seg.value
            kind = kind_of(values[6])
            expiry = values[3]
            order = (expiry[5:9], _MONTHS.get(expiry[2:5].upper(), 0), expiry[:2]) if expiry else ("", 0, "")
            kept.append((_KIND_RANK[kind], order, values[2], _strike_number(values[4]), values[1], values))
        if skipped:
            log.info("angelone master: %d rows of other segments skipped", skipped)
        kept.sort(key=lambda item: item[:5])
        columns = {f: [item[5][i] for item in kept] for i, f in enumerate(FIELDS)}
        return cls(columns, as_of or datetime.now(IST).date())

    @classmethod
    def parse(cls, raw: bytes | str, as_of: date | None = None) -> "ScripMaster":
        """The downloaded file's bytes. Raises ValueError if it is not a JSON array of rows."""
        try:
            rows = json.loads(raw)
        except ValueError as exc:
            raise ValueError(f"The Angel One instrument master is not valid JSON: {exc}") from None
        if not isinstance(rows, list):
            raise ValueError("The Angel One instrument master is not a JSON array.")
        return cls.from_rows((r for r in rows if isinstance(r, dict)), as_of)

    # --- disk cache ---------------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            pickle.dump({"version": CACHE_VERSION, "as_of": self.as_of.isoformat(), "columns": self.columns}, fh,
                        protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> "ScripMaster | None":
        """The cached master, or None if there is none or it is unreadable/of another version."""
        try:
            with open(path, "rb") as fh:
                saved = pickle.load(fh)
            if saved.get("version") != CACHE_VERSION:
                return None
            return cls(saved["columns"], date.fromisoformat(saved["as_of"]))
        except (OSError, pickle.PickleError, EOFError, KeyError, ValueError, AttributeError):
            return None

    # --- lookups ------------------------------------------------------------------------------------
    def instrument(self, key: InstrumentKey) -> Instrument | None:
        row = self._row_by_key.get(key)
        return None if row is None else self._instrument(row)

    def by_symbol(self, exchange: Exchange | str, trading_symbol: str) -> Instrument | None:
        row = self._row_by_symbol.get((Exchange(exchange).value, trading_symbol.upper()))
        return None if row is None else self._instrument(row)

    def instruments(self) -> list[Instrument]:
        """Every row as an Instrument (builds them all once; a second call is cheap)."""
        return [self._instrument(i) for i in range(len(self))]

    def search(self, text: str, limit: int = 50) -> list[Instrument]:
        """Rows whose symbol, name or exchange contain every word of ``text`` (case-insensitive).

        Indices first, then equities, futures and options by nearest expiry.
        """
        words = text.lower().split()
        if not words or limit <= 0:
            return []
        first, rest = max(words, key=len), [w for w in words]
        hay, starts = self._haystack, self._line_starts
        found: list[int] = []
        seen_line = -1
        pos = hay.find(first)
        while pos >= 0 and len(found) < limit:
            line = bisect_right(starts, pos) - 1
            if line != seen_line:
                seen_line = line
                end = hay.find("\n", starts[line])
                row_text = hay[starts[line]:end]
                if all(w in row_text for w in rest):
                    found.append(line)
                pos = hay.find(first, end)
            else:
                pos = hay.find(first, pos + 1)
        return [self._instrument(i) for i in found]

    def _instrument(self, row: int) -> Instrument:
        built = self._built.get(row)
        if built is None:
            built = self._built[row] = _to_instrument([self.columns[f][row] for f in FIELDS])
        return built


def _strike_number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return -1.0


def _to_instrument(values: list[str]) -> Instrument:
    token, symbol, name, expiry, strike, lot, itype, seg, tick = values
    exchange = Exchange(seg)
    kind = kind_of(itype)
    strike_value = _strike_number(strike)
    strike_paise = None
    if kind is InstrumentKind.OPTION and strike_value >= 0:
        strike_paise = round(strike_value / 100_000) if exchange is Exchange.CDS else round(strike_value)
    option_type = None
    if kind is InstrumentKind.OPTION:
        option_type = OptionType.PUT if symbol.upper().endswith("PE") else OptionType.CALL
    try:
        lot_size = max(1, int(float(lot or 1)))
        tick_size = max(1, round(float(tick or 5)))
    except ValueError:
        lot_size, tick_size = 1, 5
    expiry_at = parse_expiry(expiry, exchange) if kind in (InstrumentKind.FUTURE, InstrumentKind.OPTION) else None
    display = name if kind in (InstrumentKind.EQUITY, InstrumentKind.INDEX) else symbol
    if expiry_at is not None:
        display = f"{name} {expiry_at:%d %b}".upper()
        if strike_paise is not None and option_type is not None:
            rupees = strike_paise / 100
            display += f" {rupees:g} {option_type.value}"
        else:
            display += " FUT"
    return Instrument(exchange=exchange, token=token, trading_symbol=symbol, kind=kind, name=display,
                      underlying=name, expiry=expiry_at, strike=strike_paise, option_type=option_type,
                      lot_size=lot_size, tick_size=tick_size)


def download_master(fetch: Callable[[], object], progress: ProgressCallback | None = None) -> bytes:
    """The master's bytes from ``fetch()`` (a streaming requests.Response), reporting progress."""
    response = fetch()
    total = response.headers.get("Content-Length")  # type: ignore[attr-defined]
    total_bytes = int(total) if total and total.isdigit() else None
    chunks: list[bytes] = []
    done = 0
    for chunk in response.iter_content(chunk_size=1 << 16):  # type: ignore[attr-defined]
        chunks.append(chunk)
        done += len(chunk)
        if progress is not None:
            progress(done, total_bytes)
    return b"".join(chunks)


def load_or_download(cache_path: Path, fetch: Callable[[], object], progress: ProgressCallback | None = None,
                     today: date | None = None) -> ScripMaster:
    """Today's cached master, else a fresh download (cached); a stale cache if the download fails."""
    today = today or datetime.now(IST).date()
    cached = ScripMaster.load(cache_path)
    if cached is not None and cached.as_of == today:
        return cached
    try:
        master = ScripMaster.parse(download_master(fetch, progress), today)
    except Exception as exc:
        if cached is not None:
            log.warning("angelone master download failed (%s); using the copy of %s", exc, cached.as_of)
            return cached
        raise
    master.save(cache_path)
    return master
