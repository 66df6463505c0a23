"""The Angel One instrument master (OpenAPIScripMaster.json): download, parse, disk cache, search.

The file is one JSON array of rows whose nine fields are all strings: token, symbol, name,
expiry ("28OCT2025"), strike (x100: "2440000.000000" is Rs 24,400; CDS x10^7), lotsize,
instrumenttype (AMXIDX, FUTIDX, OPTSTK, ...), exch_seg (NSE, NFO, ...), tick_size (paise).
The real file has well over 100,000 rows, so the master keeps a handful of big strings, not
a million small ones: one text of records (a row per line, tab-separated, sorted for search:
index, equity, futures, options; nearest expiry first) and the keys; domain Instruments are
built only when asked for. The disk cache (written once a day) holds exactly those strings and
the line offsets as raw arrays, so loading 150,000 rows takes tens of milliseconds.

The terminal's InstrumentCatalog is built from the master's catalog columns (symbol, name,
underlying, search text, kind, expiry of every row, and the catalog's search index, worked out
once when the file is parsed and cached with it), not from 150,000 Instruments:
``instruments()`` hands over a lazy sequence that builds an Instrument only when one is read.
Search is the catalog's (:meth:`ScripMaster.search` asks a catalog over the master).
"""

from __future__ import annotations

import json
import logging
import pickle
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from pathlib import Path

from terminal.domain import Exchange, Instrument, InstrumentKey, InstrumentKind, OptionType
from terminal.domain.catalog import CatalogColumns, InstrumentCatalog, SearchIndex, compact_search_text

log = logging.getLogger(__name__)

IST = timezone(timedelta(hours=5, minutes=30))
FIELDS = ("token", "symbol", "name", "expiry", "strike", "lotsize", "instrumenttype", "exch_seg", "tick_size")
CACHE_VERSION = 4  # 3: with the catalog columns; 4: with the catalog's search index, compact search texts
_SEGMENTS = {"NSE": Exchange.NSE, "BSE": Exchange.BSE, "NFO": Exchange.NFO, "BFO": Exchange.BFO,
             "MCX": Exchange.MCX, "CDS": Exchange.CDS, "NSE_CM": Exchange.NSE, "BSE_CM": Exchange.BSE,
             "NSE_FO": Exchange.NFO, "BSE_FO": Exchange.BFO, "MCX_FO": Exchange.MCX, "CDE_FO": Exchange.CDS}
_SEGMENT_CODES = {name: exchange.value for name, exchange in _SEGMENTS.items()}  # plain strings: no Enum per row
_EXCHANGE_OF = {exchange.value: exchange for exchange in Exchange}
_EXPIRY_TIME = {Exchange.MCX: time(23, 30), Exchange.CDS: time(12, 30)}  # others: 15:30 IST
_KIND_RANK = {InstrumentKind.INDEX: 0, InstrumentKind.EQUITY: 1, InstrumentKind.FUTURE: 2, InstrumentKind.OPTION: 3}
_MONTHS = {m: i + 1 for i, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT",
                                           "NOV", "DEC"))}
_KIND_CODES = {InstrumentKind.INDEX: "I", InstrumentKind.EQUITY: "E", InstrumentKind.FUTURE: "F",
               InstrumentKind.OPTION: "O"}  # one character a row in the cached kinds column
_KIND_OF_CODE = {code: kind for kind, code in _KIND_CODES.items()}
_COLUMNS = ("symbols", "names", "underlyings", "haystacks", "expiries")  # "\n"-joined, one line a row
_OFFSETS = "q"  # array type of line offsets: 8-byte signed, the same on every platform

ProgressCallback = Callable[[int, int | None], None]  # (bytes so far, total bytes or None)


def kind_of(instrument_type: str) -> InstrumentKind:
    if instrument_type == "AMXIDX":
        return InstrumentKind.INDEX
    if instrument_type.startswith("FUT"):
        return InstrumentKind.FUTURE
    if instrument_type.startswith("OPT"):
        return InstrumentKind.OPTION
    return InstrumentKind.EQUITY


@lru_cache(maxsize=4096)  # a master has a few hundred distinct expiries
def parse_expiry(text: str, exchange: Exchange) -> datetime | None:
    """'28OCT2025' -> 28 Oct 2025 at the segment's closing time, IST. Empty -> None."""
    if not text:
        return None
    try:
        day = date(int(text[5:9]), _MONTHS[text[2:5].upper()], int(text[:2]))
    except (KeyError, ValueError):
        raise ValueError(f"unreadable expiry {text!r}") from None
    return datetime.combine(day, _EXPIRY_TIME.get(exchange, time(15, 30)), IST)


def _offsets(lines: list[str]) -> array:
    """Start offset of every line of ``"\n".join(lines)``, and the end of the text last."""
    starts = array(_OFFSETS, [0]) * (len(lines) + 1)
    offset = 0
    for i, line in enumerate(lines):
        starts[i] = offset
        offset += len(line) + 1
    starts[len(lines)] = offset
    return starts


def _clean(value: object) -> str:
    """A field as text that cannot break the line and tab layout of the records."""
    text = str(value or "")
    return text.replace("\t", " ").replace("\n", " ") if ("\t" in text or "\n" in text) else text


class ScripMaster:
    """The master as a few big strings, sorted for search, with lookups by key and by (exchange, symbol).

    Immutable after construction except for the memo of built Instruments, so it may be read
    from several threads.
    """

    def __init__(self, records: str, record_starts: array, keys: str, as_of: date, columns: dict[str, str],
                 search_state: dict):
        self.as_of = as_of
        self._records, self._record_starts = records, record_starts
        self._keys = keys
        self._columns = columns  # the catalog columns as texts: each of _COLUMNS, and "kinds" (a char a row)
        self._search_state = search_state  # SearchIndex.state() of the catalog columns
        self._key_list = keys.split("\n") if keys else []  # the same str objects as the dict's keys
        self._row_by_key: dict[InstrumentKey, int] = dict(zip(self._key_list, range(len(self._key_list))))
        self._row_by_symbol: dict[tuple[str, str], int] | None = None  # built on first use
        self._built: dict[int, Instrument] = {}
        self._catalog: InstrumentCatalog | None = None  # for search(), made on first use

    def __len__(self) -> int:
        return len(self._row_by_key)

    # --- construction -------------------------------------------------------------------------------
    @classmethod
    def from_rows(cls, rows: Iterable[dict], as_of: date | None = None) -> "ScripMaster":
        """Rows as in the JSON file. Rows of segments the terminal does not trade are skipped (logged)."""
        kept: list[tuple] = []
        skipped = 0
        seen: set[str] = set()
        for row in rows:
            segment = _SEGMENT_CODES.get(str(row.get("exch_seg", "")).upper())
            if segment is None or not row.get("token"):
                skipped += 1
                continue
            values = [str(row.get(f) or "") for f in FIELDS]
            record = "\t".join(values)
            if record.count("\t") != 8 or "\n" in record:  # a tab or newline inside a field (rare): clean
                values = [_clean(v) for v in values]
            values[7] = segment
            key = f"{segment}:{values[0]}"
            if key in seen:  # the same instrument twice: keep the first, as a key must name one row
                skipped += 1
                continue
            try:
                facts = _facts(values)
            except ValueError as exc:  # an unreadable expiry: the row is no instrument the terminal can trade
                log.warning("angelone master: row %s skipped: %s", key, exc)
                skipped += 1
                continue
            seen.add(key)
            kept.append((_search_order(values, facts), values, facts))
        if skipped:
            log.info("angelone master: %d rows of other segments, without token, unreadable or repeated skipped",
                     skipped)
        kept.sort(key=lambda item: item[0])
        records = ["\t".join(v) for _, v, _ in kept]
        keys = "\n".join(f"{v[7]}:{v[0]}" for _, v, _ in kept)
        columns, search_state = _catalog_texts([(v, facts) for _, v, facts in kept])
        return cls("\n".join(records) + "\n", _offsets(records), keys, as_of or datetime.now(IST).date(), columns,
                   search_state)

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
            pickle.dump({"version": CACHE_VERSION, "as_of": self.as_of.isoformat(), "records": self._records,
                         "record_starts": self._record_starts.tobytes(), "keys": self._keys,
                         "columns": self._columns, "search": self._search_state}, fh,
                        protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> "ScripMaster | None":
        """The cached master, or None if there is none or it is unreadable/of another version."""
        try:
            with open(path, "rb") as fh:
                saved = pickle.load(fh)
            if not isinstance(saved, dict) or saved.get("version") != CACHE_VERSION:
                return None
            record_starts = array(_OFFSETS)
            record_starts.frombytes(saved["record_starts"])
            columns = saved["columns"]
            master = cls(saved["records"], record_starts, saved["keys"], date.fromisoformat(saved["as_of"]), columns,
                         saved["search"])
            consistent = (len(record_starts) == len(master) + 1 and isinstance(master._search_state, dict)
                          and len(columns["kinds"]) == len(master)
                          and all(columns[name].count("\n") + 1 == len(master) or not master for name in _COLUMNS))
        except (OSError, pickle.PickleError, EOFError, KeyError, ValueError, AttributeError, TypeError):
            return None
        if not consistent:
            return None  # a cache that does not hang together is re-downloaded, never half-trusted
        return master

    # --- lookups ------------------------------------------------------------------------------------
    def instrument(self, key: InstrumentKey) -> Instrument | None:
        row = self._row_by_key.get(key)
        return None if row is None else self._instrument(row)

    def by_symbol(self, exchange: Exchange | str, trading_symbol: str) -> Instrument | None:
        by_symbol = self._row_by_symbol
        if by_symbol is None:
            by_symbol = {}
            for i in range(len(self)):
                values = self._values(i)
                by_symbol.setdefault((values[7], values[1].upper()), i)
            self._row_by_symbol = by_symbol
        row = by_symbol.get((Exchange(exchange).value, trading_symbol.upper()))
        return None if row is None else self._instrument(row)

    def instruments(self) -> "MasterInstruments":
        """Every row as an Instrument, as a lazy sequence: each is built when first read (and kept).

        Handed to InstrumentCatalog, it gives the catalog columns instead: no Instrument is built.
        """
        return MasterInstruments(self)

    def catalog_columns(self) -> CatalogColumns:
        """The InstrumentCatalog's columns, rows in this master's order (which is search order).

        Splits the cached column texts: tens of milliseconds for 150,000 rows, no Instrument built.
        """
        texts = self._columns
        count = len(self)
        if count == 0:
            return CatalogColumns([], [], [], [], [], [], [], self._instrument)
        shared: dict[str, str] = {}  # one string object per underlying (a few thousand, not 150,000)
        underlyings = texts["underlyings"].split("\n")
        underlyings = list(map(shared.setdefault, underlyings, underlyings))
        kinds = list(map(_KIND_OF_CODE.__getitem__, texts["kinds"]))
        expiry_texts = texts["expiries"].split("\n")
        moments = {text: (datetime.fromisoformat(text) if text else None) for text in set(expiry_texts)}
        expiries = list(map(moments.__getitem__, expiry_texts))  # one datetime per expiry, shared
        haystacks = texts["haystacks"].split("\n")
        # None if the cached index does not fit (then the catalog builds one: slower, same answers)
        search_index = SearchIndex.from_state(texts["haystacks"], haystacks, self._search_state)
        return CatalogColumns(keys=self._key_list, symbols=texts["symbols"].split("\n"),
                              names=texts["names"].split("\n"), underlyings=underlyings,
                              haystacks=haystacks, kinds=kinds, expiries=expiries,
                              instrument=self._instrument, row_by_key=self._row_by_key, search_index=search_index)

    def search(self, text: str, limit: int = 50) -> list[Instrument]:
        """What the terminal's search box finds for ``text``: :meth:`InstrumentCatalog.search` over
        this master (the catalog is made on the first call, ~0.2 s at 150,000 rows, and kept)."""
        catalog = self._catalog
        if catalog is None:
            catalog = self._catalog = InstrumentCatalog(self.instruments())
        return catalog.search(text, limit)

    def _values(self, row: int) -> list[str]:
        starts = self._record_starts
        return self._records[starts[row]:starts[row + 1] - 1].split("\t")

    def _instrument(self, row: int) -> Instrument:
        built = self._built.get(row)
        if built is None:
            built = self._built[row] = _to_instrument(self._values(row))
        return built


def _strike_number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return -1.0


def _facts(values: list[str]) -> tuple[Exchange, InstrumentKind, int | None, OptionType | None, datetime | None, str]:
    """(exchange, kind, strike in paise, option type, expiry, display name) of a record's values."""
    token, symbol, name, expiry, strike, lot, itype, seg, tick = values
    exchange = _EXCHANGE_OF[seg]
    kind = kind_of(itype)
    strike_paise = option_type = None
    if kind is InstrumentKind.OPTION:
        strike_value = _strike_number(strike)
        if strike_value >= 0:
            strike_paise = round(strike_value / 100_000) if exchange is Exchange.CDS else round(strike_value)
        option_type = OptionType.PUT if symbol.upper().endswith("PE") else OptionType.CALL
    expiry_at = parse_expiry(expiry, exchange) if kind in (InstrumentKind.FUTURE, InstrumentKind.OPTION) else None
    display = name if kind in (InstrumentKind.EQUITY, InstrumentKind.INDEX) else symbol
    if expiry_at is not None:
        display = _expiry_title(name, expiry_at)
        if strike_paise is not None and option_type is not None:
            display += f" {strike_paise / 100:g} {'PE' if option_type is OptionType.PUT else 'CE'}"
        else:
            display += " FUT"
    return exchange, kind, strike_paise, option_type, expiry_at, display


@lru_cache(maxsize=65536)  # an underlying and an expiry: a few thousand pairs in a master
def _expiry_title(name: str, expiry_at: datetime) -> str:
    return f"{name} {expiry_at:%d %b}".upper()


@lru_cache(maxsize=4096)
def _iso(expiry_at: datetime) -> str:
    return expiry_at.isoformat()


@lru_cache(maxsize=4096)
def _timestamp(expiry_at: datetime) -> float:
    return expiry_at.timestamp()


@lru_cache(maxsize=4096)
def _expiry_words(expiry_at: datetime) -> str:
    return expiry_at.strftime("%d %b %Y").lower()


def _to_instrument(values: list[str]) -> Instrument:
    exchange, kind, strike_paise, option_type, expiry_at, display = _facts(values)
    token, symbol, name, _, _, lot, _, _, tick = values
    try:
        lot_size = max(1, int(float(lot or 1)))
        tick_size = max(1, round(float(tick or 5)))
    except ValueError:
        lot_size, tick_size = 1, 5
    return Instrument(exchange=exchange, token=token, trading_symbol=symbol, kind=kind, name=display,
                      underlying=name, expiry=expiry_at, strike=strike_paise, option_type=option_type,
                      lot_size=lot_size, tick_size=tick_size)


def _search_order(values: list[str], facts: tuple) -> tuple:
    """The row's place in the master: terminal.domain.catalog.search_rank of its Instrument (indices,
    equities, futures, options; nearest expiry moment, underlying, strike, symbol)."""
    _, kind, strike_paise, _, expiry_at, _ = facts
    return (_KIND_RANK[kind], _timestamp(expiry_at) if expiry_at else 0.0, values[2], strike_paise or 0, values[1])


def _catalog_texts(rows: list[tuple[list[str], tuple]]) -> tuple[dict[str, str], dict]:
    """The catalog columns of (record values, _facts) rows, in their order, as texts of one line a
    row (kinds: one character a row), and the state of the catalog's SearchIndex over them.

    Each search text is what terminal.domain.catalog.haystack gives for the row's Instrument.
    """
    columns: dict[str, list[str]] = {name: [] for name in _COLUMNS}
    kinds: list[str] = []
    symbols, names, underlyings = columns["symbols"], columns["names"], columns["underlyings"]
    haystacks, expiries = columns["haystacks"], columns["expiries"]
    for values, (exchange, kind, strike_paise, option_type, expiry_at, display) in rows:
        symbol, name = values[1], values[2]
        words = [symbol, display, name, values[7]]  # values[7]: the exchange's code
        if strike_paise is not None:
            words.append(str(strike_paise // 100))
        if option_type is not None:
            words.append("PE" if option_type is OptionType.PUT else "CE")
        if kind is InstrumentKind.FUTURE:
            words.append("FUT")
        text = " ".join(words).lower()
        if expiry_at is not None:
            text += " " + _expiry_words(expiry_at)
        text = compact_search_text(text)
        symbols.append(symbol)
        names.append(display)
        underlyings.append(name)
        haystacks.append(text)
        expiries.append(_iso(expiry_at) if expiry_at is not None else "")
        kinds.append(_KIND_CODES[kind])
    texts = {name: "\n".join(column) for name, column in columns.items()}
    texts["kinds"] = "".join(kinds)
    return texts, SearchIndex.build(haystacks, underlyings, symbols, names).state()


class MasterInstruments(Sequence):
    """Every row of a ScripMaster as an Instrument, built on first read (the master keeps it).

    A read-only sequence; InstrumentCatalog takes its ``catalog_columns()`` instead of reading it.
    """

    def __init__(self, master: ScripMaster):
        self._master = master

    def __len__(self) -> int:
        return len(self._master)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self._master._instrument(i) for i in range(len(self))[index]]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("instrument index out of range")
        return self._master._instrument(index)

    def __iter__(self) -> Iterator[Instrument]:
        return map(self._master._instrument, range(len(self)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]

    def catalog_columns(self) -> CatalogColumns:
        return self._master.catalog_columns()


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
