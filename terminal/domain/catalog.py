"""The instrument master in memory: lookup by key, instant search, option-chain queries."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from terminal.domain.enums import InstrumentKind, OptionType
from terminal.domain.instrument import Instrument, InstrumentKey

_WORD = re.compile(r"[a-z]+|\d+(?:\.\d+)?")
_KIND_ORDER = {InstrumentKind.INDEX: 0, InstrumentKind.EQUITY: 1, InstrumentKind.FUTURE: 2, InstrumentKind.OPTION: 3}


class InstrumentCatalog:
    """Immutable after construction, so it may be shared across threads without a lock."""

    def __init__(self, instruments: Iterable[Instrument]):
        self._by_key: dict[InstrumentKey, Instrument] = {}
        self._by_symbol: dict[str, Instrument] = {}
        self._chain: dict[str, dict[datetime, list[Instrument]]] = defaultdict(lambda: defaultdict(list))
        self._futures: dict[str, list[Instrument]] = defaultdict(list)
        for instrument in instruments:
            self._by_key[instrument.key] = instrument
            self._by_symbol.setdefault(instrument.trading_symbol.upper(), instrument)
            if instrument.kind is InstrumentKind.OPTION and instrument.expiry is not None:
                self._chain[instrument.underlying][instrument.expiry].append(instrument)
            elif instrument.kind is InstrumentKind.FUTURE:
                self._futures[instrument.underlying].append(instrument)
        self._search_rows = sorted(self._by_key.values(), key=self._rank)
        self._search_text = [self._haystack(i) for i in self._search_rows]

    def __len__(self) -> int:
        return len(self._by_key)

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def get(self, key: InstrumentKey) -> Instrument | None:
        return self._by_key.get(key)

    def by_symbol(self, trading_symbol: str) -> Instrument | None:
        return self._by_symbol.get(trading_symbol.upper())

    def all(self) -> list[Instrument]:
        return list(self._by_key.values())

    # --- search ---------------------------------------------------------------------------------
    @staticmethod
    def _rank(instrument: Instrument) -> tuple:
        expiry = instrument.expiry.timestamp() if instrument.expiry else 0.0
        return (_KIND_ORDER[instrument.kind], expiry, instrument.underlying, instrument.strike or 0,
                instrument.trading_symbol)

    @staticmethod
    def _haystack(instrument: Instrument) -> str:
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
        ranked: tuple[list[Instrument], list[Instrument], list[Instrument]] = ([], [], [])
        for instrument, haystack in zip(self._search_rows, self._search_text):
            if all(word in haystack for word in words):
                ranked[self._match_rank(instrument, words[0])].append(instrument)
                if len(ranked[0]) >= limit:
                    break
        return (ranked[0] + ranked[1] + ranked[2])[:limit]

    @staticmethod
    def _match_rank(instrument: Instrument, first_word: str) -> int:
        names = (instrument.underlying.lower(), instrument.trading_symbol.lower(), instrument.name.lower())
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
        for option in self._chain.get(underlying, {}).get(expiry, []):
            row = rows.setdefault(option.strike or 0, [None, None])
            row[0 if option.option_type is OptionType.CALL else 1] = option
        return [(strike, call, put) for strike, (call, put) in sorted(rows.items())]

    def futures(self, underlying: str) -> list[Instrument]:
        return sorted(self._futures.get(underlying, []), key=lambda i: i.expiry or datetime.min)
