"""The instrument search as it was before the SearchIndex: a linear scan of every row. Frozen here
as the reference that the catalog's search must agree with, row for row (tests) and that its speed
is measured against (bench/bench_angelone_master.py). Do not "improve" it: it is the definition.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from terminal.domain.enums import InstrumentKind
from terminal.domain.instrument import Instrument

_WORD = re.compile(r"[a-z]+|\d+(?:\.\d+)?")


def old_haystack(instrument: Instrument) -> str:
    """The search text before it was compacted: symbol, name, underlying, exchange, strike in rupees,
    CE/PE, FUT, expiry as "28 oct 2025", lower case."""
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


class LinearSearch:
    """InstrumentCatalog.search as it was: rows in the catalog's order, each row's text read in turn."""

    def __init__(self, haystacks: Sequence[str], underlyings: Sequence[str], symbols: Sequence[str],
                 names: Sequence[str]):
        self._search_text = haystacks
        self._underlyings, self._symbols, self._names = underlyings, symbols, names

    @classmethod
    def of(cls, instruments: Sequence[Instrument]) -> "LinearSearch":
        """Over ``instruments`` in the order given (a catalog's ``all()``), with the old search texts."""
        return cls([old_haystack(i) for i in instruments], [i.underlying for i in instruments],
                   [i.trading_symbol for i in instruments], [i.name for i in instruments])

    def search(self, text: str, limit: int = 50) -> list[int]:
        """The rows (indices into the instruments given) the old search returned, in its order."""
        words = _WORD.findall(text.lower())
        if not words:
            return []
        ranked: tuple[list[int], list[int], list[int]] = ([], [], [])
        first = words[0]
        for row, text_of_row in enumerate(self._search_text):
            if all(word in text_of_row for word in words):
                ranked[self._match_rank(row, first)].append(row)
                if len(ranked[0]) >= limit:
                    break
        return (ranked[0] + ranked[1] + ranked[2])[:limit]

    def _match_rank(self, row: int, first_word: str) -> int:
        names = (self._underlyings[row].lower(), self._symbols[row].lower(), self._names[row].lower())
        if any(name == first_word or name.split(" ")[0] == first_word for name in names):
            return 0
        if any(name.startswith(first_word) for name in names):
            return 1
        return 2
