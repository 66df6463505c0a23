"""The instrument master in memory: lookup by key, instant search, option-chain queries.

The catalog keeps columns of plain strings (one row per instrument, rows in search order) and
builds an Instrument only when one is asked for. A broker whose master already holds those
columns (Angel One's ScripMaster, 150,000 rows) hands them over as they are, so logging in
does not build 150,000 Instrument objects; any other iterable of Instruments is turned into
the same columns here.

Search answers a keystroke without reading every row (see :class:`SearchIndex`): the search texts
are one joined string scanned by ``str.find``, only in the blocks of rows that hold every pair of
letters of every word, and the names that rank a row (underlying, symbol, name) are a sorted list
of their first words, so "the rows named NIFTY" or "the rows with a name starting with NI" are a
slice, not a scan. Under a millisecond a keystroke at 150,000 rows (bench_angelone_master).
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby

import numpy as np

from terminal.domain.enums import InstrumentKind, OptionType
from terminal.domain.instrument import Instrument, InstrumentKey

_WORD = re.compile(r"[a-z]+|\d+(?:\.\d+)?")  # a search word: never a space, a newline or a tab
_KIND_ORDER = {InstrumentKind.INDEX: 0, InstrumentKind.EQUITY: 1, InstrumentKind.FUTURE: 2, InstrumentKind.OPTION: 3}


@dataclass(frozen=True)
class CatalogColumns:
    """What the catalog needs to know of every instrument without building it: row ``i`` of each
    column is one instrument, rows in search order (indices, equities, futures, options; nearest
    expiry first). ``instrument(i)`` builds row ``i``'s Instrument (the catalog keeps it).

    ``haystacks`` are lower-case search texts (see :func:`haystack`); ``symbols``, ``names`` and
    ``underlyings`` are the Instrument's ``trading_symbol``, ``name`` and ``underlying``;
    ``kinds`` and ``expiries`` its ``kind`` and ``expiry``. ``search_index``: the
    :class:`SearchIndex` of these columns, if the source keeps one (else the catalog builds it).
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
    search_index: "SearchIndex | None" = None


def search_rank(instrument: Instrument) -> tuple:
    """Search order: indices, equities, futures, options; nearest expiry, then underlying and strike."""
    expiry = instrument.expiry.timestamp() if instrument.expiry else 0.0
    return (_KIND_ORDER[instrument.kind], expiry, instrument.underlying, instrument.strike or 0,
            instrument.trading_symbol)


def haystack(instrument: Instrument) -> str:
    """What search looks in: symbol, name, underlying, exchange, strike in rupees, CE/PE, FUT, expiry
    as "28 oct 2025", lower case, as :func:`compact_search_text` shortens it."""
    parts = [instrument.trading_symbol, instrument.name, instrument.underlying, instrument.exchange.value]
    if instrument.strike is not None:
        parts.append(str(instrument.strike // 100))
    if instrument.option_type is not None:
        parts.append(instrument.option_type.value)
    if instrument.kind is InstrumentKind.FUTURE:
        parts.append("FUT")
    if instrument.expiry is not None:
        parts.append(instrument.expiry.strftime("%d %b %Y"))
    return compact_search_text(" ".join(parts).lower())


def compact_search_text(text: str) -> str:
    """``text`` with the same search words in it, shorter: each space-separated piece once, and no
    piece that another piece contains ("nifty", "24500", "ce" are in "nifty28oct2524500ce").

    A search word never holds a space, so it is in ``text`` exactly when it is in one piece, and
    then in the result. Search reads the text of the rows that may hold a word: a third of the
    length is a third of the time (150,000 Angel One rows: 4 MB of text instead of 11 MB).
    """
    kept = ""
    for piece in sorted(dict.fromkeys(text.split(" ")), key=len, reverse=True):
        if piece not in kept:  # a piece has no space: if it is in the text kept, it is in one kept piece
            kept = f"{kept} {piece}" if kept else piece
    return kept


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


# Search reads the rows in blocks of this many: for each block it knows which letters and pairs of
# letters its text holds, so a word is looked for only in the blocks that hold all of its pairs.
_BLOCK_ROWS = 32
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789."  # every character a search word can hold
_OTHER = len(_ALPHABET)  # any other character: space, newline, "-", upper case, ...
_CODES = len(_ALPHABET) + 1
_PAIRS = _CODES * _CODES  # rows 0.._PAIRS-1 of the table: pairs of characters; then single characters
_CODE_OF = np.full(128, _OTHER, dtype=np.intp)  # code of each ASCII character
_CODE_OF[[ord(c) for c in _ALPHABET]] = np.arange(len(_ALPHABET))
_CODE_OF_CHAR = {c: code for code, c in enumerate(_ALPHABET)}
_NOTHING = np.zeros(0, dtype=np.int32)
_NARROW_AT_MOST = 5000  # a complete answer of more rows is not kept: re-reading them would be slower


class SearchIndex:
    """What :meth:`InstrumentCatalog.search` reads to answer a keystroke in about a millisecond.

    - ``text``: every row's search text joined by newlines (a search word holds no newline, so a
      match never spans two rows), and ``row_starts``: where each row starts in it (the end of the
      text + 1 last). A word is found by ``str.find`` over the text, not by a Python loop over rows.
    - ``grams``: for each block of ``_BLOCK_ROWS`` rows, which characters and which pairs of adjacent
      characters its text holds (a table of booleans: pair or character x block). A row with every
      word is in a block with every pair of every word, so only those blocks are read: "zzzz" reads
      none of the 150,000 rows' text, "nifty 24500" the few blocks of NIFTY options near 24500.
    - the names that rank a row: the first word of the lower-case underlying, symbol and name of
      every row, as a sorted list of distinct words (``keys``) and, for each, its rows in order
      (``key_rows[key_starts[k]:key_starts[k + 1]]``). "Rows named nifty" is one slice, "rows with a
      name starting with ni" is one contiguous run of keys.

    Immutable but for the memo of the last complete answer (one tuple, replaced whole), so it may be
    shared across threads without a lock.
    """

    def __init__(self, text: str, row_texts: Sequence[str], row_starts: array, grams: np.ndarray, keys: list[str],
                 key_starts: np.ndarray, key_rows: np.ndarray):
        self._text = text
        self._row_texts = row_texts
        self._row_starts = row_starts
        self._row_starts_np = np.frombuffer(row_starts, dtype=np.int64)
        self._grams = grams
        self._keys = keys
        self._key_starts = key_starts
        self._key_rows = key_rows
        self._last: tuple[tuple[str, ...], np.ndarray] | None = None  # words, every row that has them all

    # --- building and caching ---------------------------------------------------------------------
    @classmethod
    def build(cls, haystacks: Sequence[str], underlyings: Sequence[str], symbols: Sequence[str],
              names: Sequence[str]) -> "SearchIndex":
        """The index of these columns (~0.25 s for 150,000 rows, most of it sorting the names: a
        broker's master that is cached keeps :meth:`state` instead)."""
        count = len(haystacks)
        lengths = np.fromiter(map(len, haystacks), dtype=np.int64, count=count)
        starts = np.zeros(count + 1, dtype=np.int64)
        np.cumsum(lengths + 1, out=starts[1:])
        text = "\n".join(haystacks)
        keys, key_starts, key_rows = _name_keys(count, (underlyings, symbols, names))
        return cls(text, haystacks, array("q", starts.tobytes()), _gram_table(text, starts), keys, key_starts,
                   key_rows)

    def state(self) -> dict[str, bytes | str]:
        """The index but for the search texts, as plain strings and bytes (for a disk cache)."""
        return {"row_starts": self._row_starts.tobytes(), "grams": self._grams.tobytes(),
                "keys": "\n".join(self._keys), "key_starts": self._key_starts.astype(np.int64).tobytes(),
                "key_rows": self._key_rows.astype(np.int32).tobytes()}

    @classmethod
    def from_state(cls, text: str, row_texts: Sequence[str], state: Mapping[str, bytes | str]) -> "SearchIndex | None":
        """The index :meth:`state` gave, over ``text`` ("\\n"-joined ``row_texts``); None if the
        state does not fit them (the caller then builds the index afresh)."""
        count = len(row_texts)
        try:
            row_starts = array("q")
            row_starts.frombytes(state["row_starts"])  # type: ignore[arg-type]
            grams = np.frombuffer(state["grams"], dtype=np.bool_)  # type: ignore[arg-type]
            grams = grams.reshape(_PAIRS + _CODES, _blocks_of(count))  # ValueError if it is another size
            keys = state["keys"].split("\n") if state["keys"] else []  # type: ignore[union-attr]
            key_starts = np.frombuffer(state["key_starts"], dtype=np.int64)  # type: ignore[arg-type]
            key_rows = np.frombuffer(state["key_rows"], dtype=np.int32)  # type: ignore[arg-type]
        except (KeyError, AttributeError, TypeError, ValueError):
            return None
        fits = (len(row_starts) == count + 1 and row_starts[count] == len(text) + 1
                and len(key_starts) == len(keys) + 1 and (not len(key_starts) or key_starts[-1] == len(key_rows))
                and (not len(key_rows) or int(key_rows.max()) < count))
        return cls(text, row_texts, row_starts, grams, keys, key_starts, key_rows) if fits else None

    # --- answering --------------------------------------------------------------------------------
    def rows(self, words: list[str], limit: int) -> list[int]:
        """The first ``limit`` rows whose search text holds every word, best first.

        Rank 0: a row whose underlying, symbol or name has ``words[0]`` as its first word; rank 1:
        one of them starts with it; rank 2: the others. Within a rank, row order. ``words`` are
        lower-case and hold no space (``_WORD``).
        """
        if not words or limit <= 0:
            return []
        wanted = list(dict.fromkeys(words))
        named, prefixed = self._named(words[0])
        standing = np.zeros(len(self._row_texts), dtype=np.int8)  # 2: rank 0, 1: rank 1, 0: rank 2
        standing[prefixed] = 1
        standing[named] = 2
        matching = self._narrowed(wanted)
        if matching is None:
            found, complete = self._best_rows_first(wanted, named, standing, limit)
            if not complete:
                return found
            matching = np.array(sorted(found), dtype=np.int64)  # fewer than limit: every row that matches
        if len(matching) <= _NARROW_AT_MOST:
            self._last = (tuple(wanted), matching)
        order = np.argsort(-standing[matching], kind="stable")[:limit]
        return matching[order].tolist()

    def _named(self, first: str) -> tuple[np.ndarray, np.ndarray]:
        """(rows with a name whose first word is ``first``, rows with a name starting with it)."""
        keys, starts = self._keys, self._key_starts
        low = bisect_left(keys, first)
        high = bisect_left(keys, first[:-1] + chr(ord(first[-1]) + 1), low)  # the keys that start with it
        if low == high:
            return _NOTHING, _NOTHING
        prefixed = self._key_rows[starts[low]:starts[high]]
        named = self._key_rows[starts[low]:starts[low + 1]] if keys[low] == first else _NOTHING
        return named, prefixed

    def _narrowed(self, words: list[str]) -> np.ndarray | None:
        """Every row with all ``words``, from the last complete answer if ``words`` narrow it (each of
        its words is inside one of ours: "tcs 40" after "tcs 4"); None if they do not."""
        last = self._last
        if last is None:
            return None
        last_words, last_rows = last
        if not all(any(old in new for new in words) for old in last_words):
            return None
        texts = self._row_texts
        kept = [row for row in last_rows.tolist() if _has_all(texts[row], words)]
        return np.array(kept, dtype=np.int64)

    def _blocks_with(self, word: str) -> np.ndarray:
        """One boolean a block: may it hold ``word`` (it holds each of its pairs of characters)?"""
        codes = [_CODE_OF_CHAR.get(c, _OTHER) for c in word]
        rows = [a * _CODES + b for a, b in zip(codes, codes[1:])] or [_PAIRS + codes[0]]
        return np.logical_and.reduce(self._grams[rows], axis=0)

    def _best_rows_first(self, words: list[str], named: np.ndarray, standing: np.ndarray,
                         limit: int) -> tuple[list[int], bool]:
        """(the answer, whether it is every row that matches): rank 0 rows in order until there are
        enough, then rank 1, then the rest, each read only in blocks that may hold every word, and
        each stopping as soon as ``limit`` rows match: "n" reads a few dozen rows, not the 100,000
        with an n, and "zzzz" reads none."""
        by_word = {word: self._blocks_with(word) for word in words}
        blocks = np.logical_and.reduce(list(by_word.values()), axis=0) if len(words) > 1 else by_word[words[0]]
        texts = self._row_texts
        found: list[int] = []
        for candidates in (named, np.flatnonzero(standing == 1)):
            candidates = candidates[blocks[candidates // _BLOCK_ROWS]]
            for chunk in range(0, len(candidates), 256):
                for row in candidates[chunk:chunk + 256].tolist():
                    if _has_all(texts[row], words):
                        found.append(row)
                        if len(found) >= limit:
                            return found, False
        # The rest: the word in the fewest blocks, looked for block run by block run.
        scanned = min(words, key=lambda word: (np.count_nonzero(by_word[word]), -len(word)))
        unranked = standing.tobytes()  # one byte a row: 0 for a row that is neither named nor prefixed
        starts, count = self._row_starts, len(texts)
        find = self._text.find
        for first_block, end_block in _runs(blocks):
            end = starts[min(end_block * _BLOCK_ROWS, count)]
            at = find(scanned, starts[first_block * _BLOCK_ROWS], end)
            while at >= 0:
                row = bisect_right(starts, at) - 1
                if not unranked[row] and _has_all(texts[row], words):
                    found.append(row)
                    if len(found) >= limit:
                        return found, False
                at = find(scanned, starts[row + 1], end)
        return found, True


def _blocks_of(count: int) -> int:
    """How many blocks of ``_BLOCK_ROWS`` rows ``count`` rows make (the last one may be shorter)."""
    return -(-count // _BLOCK_ROWS)


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(first, end) of each run of True in ``flags``, in order."""
    edges = np.flatnonzero(np.diff(np.concatenate(([False], flags, [False])).astype(np.int8)))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist()))


def _gram_table(text: str, starts: np.ndarray) -> np.ndarray:
    """For each block of ``_BLOCK_ROWS`` rows of ``text`` (rows start at ``starts``), which characters
    of ``_ALPHABET`` and which pairs of them it holds: booleans, (pair or character) x block."""
    count = len(starts) - 1
    blocks = _blocks_of(count)
    table = np.zeros((_PAIRS + _CODES, blocks), dtype=np.bool_)
    if not text:
        return table
    if text.isascii():
        points = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    else:  # one code point a character, so positions are the str's; none outside ASCII is searched for
        points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        points = np.where(points < 128, points, 0).astype(np.uint8)
    codes = _CODE_OF[points]
    bounds = np.append(starts[0:count:_BLOCK_ROWS], len(text))
    block_of = np.repeat(np.arange(blocks, dtype=np.int64), np.diff(bounds))
    table[_PAIRS + codes, block_of] = True
    # a pair across two blocks holds the newline between them: no search word has it
    table[codes[:-1] * _CODES + codes[1:], block_of[:-1]] = True
    return table


def _has_all(text: str, words: list[str]) -> bool:
    for word in words:
        if word not in text:
            return False
    return True


def _first_words(values: list[str]) -> list[str]:
    """Each value lower-cased, up to its first space (``value.lower().split(" ")[0]``)."""
    joined = "\n".join(values)
    if joined.isascii() and joined.count("\n") == len(values) - 1:  # one lower() for all: same result
        lowered = joined.lower().split("\n")
    else:
        lowered = [value.lower() for value in values]
    return [value.partition(" ")[0] for value in lowered]


def _name_keys(count: int, columns: tuple[Sequence[str], ...]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(sorted distinct first words of the columns' values, where each one's rows start, the rows)."""
    distinct = [list(dict.fromkeys(column)) for column in columns]  # underlyings: a few thousand
    firsts = [_first_words(values) for values in distinct]
    keys = sorted(set().union(*firsts))
    key_of = {key: number for number, key in enumerate(keys)}
    codes = []
    every_row = np.arange(count, dtype=np.int64)
    for column, values, words in zip(columns, distinct, firsts):
        number_of = {value: key_of[word] for value, word in zip(values, words)}
        numbers = np.fromiter(map(number_of.__getitem__, column), dtype=np.int64, count=count)
        codes.append(numbers * count + every_row)
    # (key, row) pairs once each, by key then row: a row named alike twice counts once
    pairs = np.unique(np.concatenate(codes)) if codes and count else np.zeros(0, dtype=np.int64)
    key_starts = np.searchsorted(pairs // max(count, 1), np.arange(len(keys) + 1), side="left").astype(np.int64)
    return keys, key_starts, (pairs % max(count, 1)).astype(np.int32)


class InstrumentCatalog:
    """Immutable after construction (but for the memo of built Instruments, a dict that only grows,
    and search's memo of its last complete answer, one tuple replaced whole), so it may be shared
    across threads without a lock.

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
        self._search = columns.search_index
        if self._search is None:  # ~0.35 s at 150,000 rows, here on the log-in thread, not at a keystroke
            self._search = SearchIndex.build(columns.haystacks, columns.underlyings, columns.symbols, columns.names)

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
        rank before derivatives. Exact symbol/underlying/name words rank first ("nifty" before
        "banknifty"), then names that start with the first word, then any other match; within a
        rank the master's order (kind, expiry, strike) holds. About a millisecond at 150,000 rows
        (see :class:`SearchIndex`): fit to call at every keystroke on the UI thread.
        """
        return [self._instrument(row) for row in self._search.rows(_WORD.findall(text.lower()), limit)]

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
