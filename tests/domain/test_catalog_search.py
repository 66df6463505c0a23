"""InstrumentCatalog.search answers exactly what the old linear scan answered: the same rows, in the
same order, for the same limit, on every broker's kind of catalog, typed letter by letter too.

The reference is tests/support/catalog_reference.py (the old code, frozen, over the old uncompacted
search texts). The catalogs are realistic: the Angel One master (its cached columns and search index,
and the same instruments as a plain list, the path every other broker takes), the paper broker's
instruments (symbols with spaces: "NIFTY 50") and the same read back through Flattrade's scrip
master files. Words and queries are drawn from the catalog's own texts, as a trader types them.
"""

from __future__ import annotations

import json
import random
import re
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.bench_angelone_master import master_rows
from terminal.brokers.angelone.instruments import ScripMaster
from terminal.brokers.flattrade.instruments import parse_scrip_master
from terminal.brokers.paper.broker import PaperBroker
from terminal.domain import InstrumentKind
from terminal.domain.catalog import InstrumentCatalog, SearchIndex, compact_search_text
from terminal.sim.exchange import SimulatedExchange
from terminal.sim.servers.noren_wire import scrip_master_files
from tests.support.catalog_reference import LinearSearch, old_haystack

AS_OF = date(2025, 10, 27)
LIMITS = (1, 3, 30, 50, 100_000)
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _angelone_master() -> ScripMaster:
    return ScripMaster.parse(json.dumps(master_rows(6_000, seed=11)).encode(), AS_OF)


def _paper_instruments():
    return PaperBroker(SimulatedExchange(seed=4)).instruments()


def _flattrade_instruments():
    files = scrip_master_files(_paper_instruments())
    return [i for name, text in sorted(files.items()) for i in parse_scrip_master(text, name)]


CATALOGS = {
    "angelone master (cached index)": lambda: InstrumentCatalog(_angelone_master().instruments()),
    "angelone instruments as a list": lambda: InstrumentCatalog(list(_angelone_master().instruments())),
    "paper broker": lambda: InstrumentCatalog(_paper_instruments()),
    "flattrade scrip master": lambda: InstrumentCatalog(_flattrade_instruments()),
}


@pytest.fixture(scope="module", params=list(CATALOGS))
def pair(request) -> tuple[InstrumentCatalog, LinearSearch, list[str]]:
    """(catalog, the old search over the same rows, words to type drawn from those rows)."""
    catalog = CATALOGS[request.param]()
    instruments = catalog.all()
    reference = LinearSearch.of(instruments)
    rng = random.Random(5)
    words: set[str] = set()
    for instrument in rng.sample(instruments, min(300, len(instruments))):
        words.update(re.findall(r"[a-z]+|\d+", old_haystack(instrument)))
    words.update(i.underlying.lower() for i in instruments)
    return catalog, reference, sorted(words)


def _keys(catalog: InstrumentCatalog, text: str, limit: int) -> list[str]:
    return [i.key for i in catalog.search(text, limit)]


def _reference_keys(catalog: InstrumentCatalog, reference: LinearSearch, text: str, limit: int) -> list[str]:
    everything = catalog.all()
    return [everything[row].key for row in reference.search(text, limit)]


@st.composite
def typed_words(draw, vocabulary: list[str]) -> str:
    """A word as a trader types it: a known word, its start, a piece of it, or a few stray characters."""
    word = draw(st.sampled_from(vocabulary))
    cut = draw(st.integers(0, 3))
    if cut == 1:
        word = word[:draw(st.integers(1, len(word)))]
    elif cut == 2:
        start = draw(st.integers(0, len(word) - 1))
        word = word[start:draw(st.integers(start + 1, len(word)))]
    elif cut == 3:
        word = draw(st.text("abcdefghijklmnopqrstuvwxyz0123456789.", min_size=1, max_size=3))
    return word.upper() if draw(st.booleans()) else word


@st.composite
def queries(draw, vocabulary: list[str]) -> str:
    words = draw(st.lists(typed_words(vocabulary), min_size=1, max_size=3))
    return "".join(word + draw(st.sampled_from([" ", "  ", "-", "/"])) for word in words).rstrip(" ")


def test_the_catalogs_have_what_the_tests_need(pair):
    catalog, _, words = pair
    assert len(catalog) > 1_000 and len(words) > 100
    assert any(i.is_option for i in catalog.all()) and any(i.kind is InstrumentKind.FUTURE for i in catalog.all())


def test_any_query_at_any_limit_answers_what_the_old_scan_answered(pair):
    catalog, reference, words = pair

    @SETTINGS
    @given(query=queries(words), limit=st.sampled_from(LIMITS))
    def check(query: str, limit: int) -> None:
        assert _keys(catalog, query, limit) == _reference_keys(catalog, reference, query, limit), (query, limit)

    check()


def test_typing_letter_by_letter_backspacing_and_replacing_a_word(pair):
    catalog, reference, words = pair

    @settings(SETTINGS, max_examples=20)
    @given(query=queries(words), other=typed_words(words), limit=st.sampled_from((30, 50, 100_000)),
           erased=st.integers(1, 6))
    def check(query: str, other: str, limit: int, erased: int) -> None:
        typed = [query[:n] for n in range(1, len(query) + 1)]  # narrowing
        typed += [query[:n] for n in range(len(query) - 1, max(len(query) - erased, 0) - 1, -1)]  # backspace
        kept = query.rsplit(" ", 1)[0] + " " if " " in query else ""
        typed += [kept + other[:n] for n in range(1, len(other) + 1)]  # the last word replaced
        for text in typed:
            assert _keys(catalog, text, limit) == _reference_keys(catalog, reference, text, limit), (text, limit)

    check()


@pytest.mark.parametrize("sequence", [
    ["n", "ni", "nif", "nift", "nifty", "nifty ", "nifty 2", "nifty 24", "nifty 245", "nifty 2450", "nifty 24500",
     "nifty 24500 c", "nifty 24500 ce", "nifty 24500 c", "nifty 24500 p", "nifty 24500 pe", "nifty 2450"],
    ["r", "re", "rel", "reli", "relia", "reliance", "reliance f", "reliance fu", "reliance fut", "reliance", "tcs"],
    ["z", "zz", "zzz", "zz", "z", "e", "ifty", "28 oct", "nov 2025", "nfo", "24500 nifty", "crudeoil 6000 pe"],
])
def test_a_session_at_the_search_box(pair, sequence):
    catalog, reference, _ = pair
    for text in sequence:
        for limit in (30, 100_000):
            assert _keys(catalog, text, limit) == _reference_keys(catalog, reference, text, limit), (text, limit)


def test_nothing_to_search_or_no_room_for_an_answer(pair):
    catalog, reference, _ = pair
    for text, limit in (("", 30), ("   ", 30), ("-/", 30), ("nifty", 0), ("nifty", -3), ("zzzzqqq", 30)):
        assert catalog.search(text, limit) == [] and reference.search(text, limit) == []


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(st.text("abcnify0123.-& ", max_size=8), max_size=8),
       word=st.from_regex(r"[a-z]+|\d+(?:\.\d+)?", fullmatch=True))
def test_a_compact_search_text_holds_the_same_words(pieces, word):
    text = " ".join(pieces)
    compact = compact_search_text(text)
    assert (word in text) == (word in compact)
    assert len(compact) <= len(text)


def test_the_compact_text_keeps_only_what_the_symbol_does_not_say():
    assert compact_search_text("nifty28oct2524500ce nifty 28 oct 24500 ce nifty nfo 24500 ce 28 oct 2025") == (
        "nifty28oct2524500ce 2025 nfo")


def test_a_cached_index_that_does_not_fit_its_rows_is_refused():
    texts = ["nifty nse", "reliance-eq reliance nse", "tcs-eq tcs nse"]
    index = SearchIndex.build(texts, ["NIFTY", "RELIANCE", "TCS"], ["Nifty 50", "RELIANCE-EQ", "TCS-EQ"],
                              ["NIFTY 50", "Reliance Industries", "TCS"])
    state = index.state()
    again = SearchIndex.from_state("\n".join(texts), texts, state)
    assert again is not None and again.rows(["reliance"], 5) == index.rows(["reliance"], 5) == [1]
    assert again.rows(["nifty"], 5) == [0] and again.rows(["t"], 5) == [2, 0]  # "tcs" starts with t; "nifty" has one
    assert SearchIndex.from_state("\n".join(texts[:2]), texts[:2], state) is None
    assert SearchIndex.from_state("\n".join(texts), texts, {**state, "key_rows": b"\x00" * 3}) is None
    assert SearchIndex.from_state("\n".join(texts), texts, {**state, "grams": state["grams"][:-1]}) is None
    assert SearchIndex.from_state("\n".join(texts), texts, {"keys": "x"}) is None


def test_an_empty_catalog_finds_nothing():
    empty = InstrumentCatalog([])
    assert len(empty) == 0 and empty.search("nifty") == [] and empty.search("n", 100_000) == []


def test_odd_names_answer_as_before():
    """Names out of ASCII (one whose lower case is longer: "İ"), a lone surrogate as JSON can give,
    a newline, double spaces, an empty name: the same answers as the old scan."""
    from dataclasses import replace

    plain = _paper_instruments()[:400]
    odd_names = ["Société Générale", "İSTANBUL FUND", "BAD \udc80 BYTES", "TWO\nLINES", "  LEADING  SPACES", "",
                 "NIFTY", "nifty 50 ", "ÅB NIFTY"]
    odd = [replace(instrument, name=odd_names[n % len(odd_names)], trading_symbol=instrument.trading_symbol
                   + ("-İ" if n % 7 == 0 else ""), underlying=instrument.underlying + ("É" if n % 5 == 0 else ""))
           for n, instrument in enumerate(plain)]
    catalog = InstrumentCatalog(odd)
    reference = LinearSearch.of(catalog.all())
    for text in ("soc", "société", "i", "istanbul", "bad", "lines", "two", "leading spaces", "nifty", "nifty 50",
                 "b", "n", "å", "e", "50 nifty", "x"):
        for limit in (3, 30, 100_000):
            assert _keys(catalog, text, limit) == _reference_keys(catalog, reference, text, limit), (text, limit)
