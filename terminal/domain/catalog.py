"""The instrument master in memory: lookup by key, instant search, option-chain queries.

The catalog keeps columns of plain strings (one row per instrument, rows in search order) and
builds an Instrument only when one is asked for. A broker whose master already holds those
columns (Angel One's ScripMaster, 150,000 rows) hands them over as they are, so logging in
does not build 150,000 Instrument objects; any other iterable of Instruments is turned into
the same columns here.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby

from terminal.domain.enums import InstrumentKind, OptionType
from terminal.domain.instrument import Instrument, InstrumentKey

_WORD = re.compile(r"[a-z]+|\d+(?:\.\d+)?")
_KIND_ORDER = {InstrumentKind.INDEX: 0, InstrumentKind.EQUITY: 1, InstrumentKind.FUTURE: 2, InstrumentKind.OPTION: 3}


@dataclass(frozen=True)
class CatalogColumns:
    """What the catalog needs to know of every instrument without building it: row ``i`` of each
    column is one instrument, rows in search order (indices, equities, futures, options; nearest
    expiry first). ``instrument(i)`` builds row ``i``'s Instrument (the catalog keeps it).

    ``haystacks`` are lower-case search texts (see :func:`haystack`); ``symbols``, ``names`` and
    ``underlyings`` are the Instrument's ``trading_symbol``, ``name`` and ``underlying``;
    ``kinds`` and ``expiries`` its ``kind`` and ``expiry``.
    """

    keys: Sequence[InstrumentKey]
    symbols: Sequence[str]
    names: Sequence[str]
    underlyings: Sequence[str]
    haystacks: Sequence[str]
    kinds: Sequence[InstrumentKind]
    expiries: Sequence[datetime | None]
    instrument: Callable[[int], Instrument]
    row_by_key: Mapping[InstrumentKey, int] | None = None  # key -> row, if the source has it already
    # upper-case symbol -> row; None: the first row (in row order) with that symbol
    row_by_symbol: Mapping[str, int] | None = None


def search_rank(instrument: Instrument) -> tuple:
    """Search order: indices, equities, futures, options; nearest expiry, then underlying and strike."""
    expiry = instrument.expiry.timestamp() if instrument.expiry else 0.0
    return (_KIND_ORDER[instrument.kind], expiry, instrument.underlying, instrument.strike or 0,
            instrument.trading_symbol)


def haystack(instrument: Instrument) -> str:
    """What search looks in: symbol, name, underlying, exchange, strike in rupees, CE/PE, FUT, expiry
    as "28 oct 2025", lower case."""
    parts = [instrument.trading_symbol, instrument.name, instrument.underlying, instrument.exchange.value]
    if instrument.strike is not None:
        parts.append(str(instrument.strike // 100))
    if instrument.option_type is not None:
        parts.append(instrument.option_type.value)
    if instrument.kind is InstrumentKind.FUTURE:
        parts.append("FUT")
    if instrument.expiry is not None:
        parts.append(instrument.expiry.strftime("%d %b %Y"))
    return " ".join(parts).lower()


def columns_of(instruments: Iterable[Instrument]) -> CatalogColumns:
    """Columns for any Instruments: one row per key (the last of the same key wins), in search order;
    a symbol names the first instrument given with it."""
    given = list(instruments)
    rows = sorted({i.key: i for i in given}.values(), key=search_rank)
    row_by_key = {instrument.key: row for row, instrument in enumerate(rows)}
    row_by_symbol: dict[str, int] = {}
    for instrument in given:
        row_by_symbol.setdefault(instrument.trading_symbol.upper(), row_by_key[instrument.key])
    return CatalogColumns(
        keys=[i.key for i in rows], symbols=[i.trading_symbol for i in rows], names=[i.name for i in rows],
        underlyings=[i.underlying for i in rows], haystacks=[haystack(i) for i in rows],
        kinds=[i.kind for i in rows], expiries=[i.expiry for i in rows], instrument=rows.__getitem__,
        row_by_key=row_by_key, row_by_symbol=row_by_symbol)


class InstrumentCatalog:
    """Immutable after construction (but for the memo of built Instruments, a dict that only grows),
    so it may be shared across threads without a lock.

    ``instruments``: any iterable of Instruments, or an object with a ``catalog_columns()`` method
    giving :class:`CatalogColumns` (a broker's master that already has them: no Instrument is built).
    """

    def __init__(self, instruments: Iterable[Instrument]):
        ready = getattr(instruments, "catalog_columns", None)
        columns = ready() if callable(ready) else columns_of(instruments)
        self._columns = columns
        self._build = columns.instrument
        self._built: dict[int, Instrument] = {}
        keys = columns.keys
        count = len(keys)
        self._row_by_key: Mapping[InstrumentKey, int] = (
            columns.row_by_key if columns.row_by_key is not None else dict(zip(keys, range(count))))
        # Upper-case symbol -> its first row: filled from the last row back, so the first one stays.
        self._row_by_symbol: Mapping[str, int] = (columns.row_by_symbol if columns.row_by_symbol is not None else dict(
            zip(reversed([symbol.upper() for symbol in columns.symbols]), range(count - 1, -1, -1))))
        self._chain: dict[str, dict[datetime, list[int]]] = defaultdict(lambda: defaultdict(list))
        self._futures: dict[str, list[int]] = defaultdict(list)
        # Rows of one kind, expiry and underlying are neighbours in search order: take them run by run
        # (a few thousand runs, not 150,000 rows, in Python; runs that are not neighbours still add up).
        option, future = InstrumentKind.OPTION, InstrumentKind.FUTURE
        row = 0
        for (kind, expiry, underlying), run in groupby(zip(columns.kinds, columns.expiries, columns.underlyings)):
            size = len(list(run))
            if kind is option and expiry is not None:
                self._chain[underlying][expiry].extend(range(row, row + size))
            elif kind is future:
                self._futures[underlying].extend(range(row, row + size))
            row += size
        self._search_text = columns.haystacks

    def __len__(self) -> int:
        return len(self._row_by_key)

    def __contains__(self, key: object) -> bool:
        return key in self._row_by_key

    def _instrument(self, row: int) -> Instrument:
        built = self._built.get(row)
        if built is None:
            built = self._built[row] = self._build(row)
        return built

    def get(self, key: InstrumentKey) -> Instrument | None:
        row = self._row_by_key.get(key)
        return None if row is None else self._instrument(row)

    def by_symbol(self, trading_symbol: str) -> Instrument | None:
        row = self._row_by_symbol.get(trading_symbol.upper())
        return None if row is None else self._instrument(row)

    def all(self) -> list[Instrument]:
        """Every instrument, in search order (builds every one not yet built)."""
        return [self._instrument(row) for row in range(len(self._columns.keys))]

    # --- search ---------------------------------------------------------------------------------
    def search(self, text: str, limit: int = 50) -> list[Instrument]:
        """Instruments whose symbol, name, strike or expiry contain every word of ``text``.

        "nifty 24500 ce" finds the NIFTY 24500 calls, nearest expiry first; indices and stocks
        rank before derivatives.
        """
        words = _WORD.findall(text.lower())
        if not words:
            return []
        # Exact symbol/underlying words rank first ("nifty" before "banknifty"), then prefixes,
        # then any substring; within a rank the master's order (kind, expiry, strike) holds.
        ranked: tuple[list[int], list[int], list[int]] = ([], [], [])
        first = words[0]
        for row, text_of_row in enumerate(self._search_text):
            if all(word in text_of_row for word in words):
                ranked[self._match_rank(row, first)].append(row)
                if len(ranked[0]) >= limit:
                    break
        return [self._instrument(row) for row in (ranked[0] + ranked[1] + ranked[2])[:limit]]

    def _match_rank(self, row: int, first_word: str) -> int:
        columns = self._columns
        names = (columns.underlyings[row].lower(), columns.symbols[row].lower(), columns.names[row].lower())
        if any(name == first_word or name.split(" ")[0] == first_word for name in names):
            return 0
        if any(name.startswith(first_word) for name in names):
            return 1
        return 2

    # --- derivatives ------------------------------------------------------------------------------
    def underlyings_with_options(self) -> list[str]:
        return sorted(self._chain)

    def expiries(self, underlying: str) -> list[datetime]:
        return sorted(self._chain.get(underlying, {}))

    def option_chain(self, underlying: str, expiry: datetime) -> list[tuple[int, Instrument | None, Instrument | None]]:
        """(strike in paise, call, put) rows, strikes ascending."""
        rows: dict[int, list[Instrument | None]] = {}
        for row in self._chain.get(underlying, {}).get(expiry, []):
            option = self._instrument(row)
            pair = rows.setdefault(option.strike or 0, [None, None])
            pair[0 if option.option_type is OptionType.CALL else 1] = option
        return [(strike, call, put) for strike, (call, put) in sorted(rows.items())]

    def futures(self, underlying: str) -> list[Instrument]:
        return sorted((self._instrument(row) for row in self._futures.get(underlying, [])),
                      key=lambda i: i.expiry or datetime.min)
