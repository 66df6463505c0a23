"""The terminal's InstrumentCatalog from the Angel One master's columns: the same answers as a catalog
built from every Instrument, without building them.

At log-in the catalog is made from ``broker.instruments()``, which for Angel One is a lazy sequence
over the ScripMaster; the catalog takes the master's cached columns (symbol, name, underlying, search
text, kind, expiry of every row). Every answer is checked against InstrumentCatalog over the plain
list of the same Instruments (the path every other broker takes).
"""

from __future__ import annotations

import json
import logging
from datetime import date

import pytest

from bench.bench_angelone_master import master_rows
from terminal.brokers.angelone.instruments import ScripMaster
from terminal.domain import InstrumentKind
from terminal.domain.catalog import InstrumentCatalog, haystack

ROWS = master_rows(6_000, seed=5)
AS_OF = date(2025, 10, 27)
QUERIES = ["nifty", "nifty 24500 ce", "NIFTY 245", "banknifty", "reliance", "infy fut", "tcs pe", "crudeoil",
           "usdinr", "28 oct", "nov 2025", "nfo", "e", "zzzz", "24500 nifty", "gold 6000"]


@pytest.fixture(scope="module")
def master() -> ScripMaster:
    return ScripMaster.parse(json.dumps(ROWS).encode(), AS_OF)


@pytest.fixture(scope="module")
def catalogs(master):
    fast = InstrumentCatalog(master.instruments())
    built_by_fast = len(master._built)
    plain = InstrumentCatalog(list(master.instruments()))
    return fast, plain, built_by_fast


def test_the_catalog_builds_no_instrument_to_start(catalogs):
    fast, _, built = catalogs
    assert built == 0 and len(fast) == len(ROWS)


def test_lookups_agree_with_a_catalog_of_every_instrument(master, catalogs):
    fast, plain, _ = catalogs
    assert len(fast) == len(plain)
    for instrument in master.instruments():
        assert instrument.key in fast
        assert fast.get(instrument.key) == plain.get(instrument.key) == instrument
        assert fast.by_symbol(instrument.trading_symbol.lower()) == plain.by_symbol(instrument.trading_symbol)
    assert fast.get("NSE:nope") is None and "NSE:nope" not in fast and fast.by_symbol("NOPE") is None
    assert fast.all() == plain.all()


@pytest.mark.parametrize("text", QUERIES)
@pytest.mark.parametrize("limit", [5, 50, 100_000])
def test_search_agrees_with_a_catalog_of_every_instrument_in_the_same_order(catalogs, text, limit):
    fast, plain, _ = catalogs
    assert [i.key for i in fast.search(text, limit)] == [i.key for i in plain.search(text, limit)]


def test_chains_and_futures_agree(catalogs):
    fast, plain, _ = catalogs
    assert fast.underlyings_with_options() == plain.underlyings_with_options() and fast.underlyings_with_options()
    for underlying in fast.underlyings_with_options():
        assert fast.expiries(underlying) == plain.expiries(underlying)
        for expiry in fast.expiries(underlying):
            assert fast.option_chain(underlying, expiry) == plain.option_chain(underlying, expiry)
        assert fast.futures(underlying) == plain.futures(underlying)
    assert fast.futures("NIFTY") and fast.expiries("NOPE") == [] and fast.futures("NOPE") == []


def test_columns_are_what_each_instrument_says(master):
    columns = master.catalog_columns()
    instruments = list(master.instruments())
    assert list(columns.keys) == [i.key for i in instruments]
    assert list(columns.symbols) == [i.trading_symbol for i in instruments]
    assert list(columns.names) == [i.name for i in instruments]
    assert list(columns.underlyings) == [i.underlying for i in instruments]
    assert list(columns.kinds) == [i.kind for i in instruments]
    assert list(columns.expiries) == [i.expiry for i in instruments]
    assert list(columns.haystacks) == [haystack(i) for i in instruments]


def test_the_cached_master_keeps_the_columns(master, tmp_path):
    path = tmp_path / "scrip_master.pickle"
    master.save(path)
    loaded = ScripMaster.load(path)
    assert loaded is not None and loaded.catalog_columns().haystacks == master.catalog_columns().haystacks
    assert [i.key for i in InstrumentCatalog(loaded.instruments()).search("nifty ce", 20)] == [
        i.key for i in InstrumentCatalog(master.instruments()).search("nifty ce", 20)]


def test_the_instruments_read_like_a_list(master):
    everything = master.instruments()
    as_list = list(everything)
    assert len(everything) == len(as_list) == len(ROWS) and everything == as_list
    assert everything[0] is as_list[0] and everything[-1] is as_list[-1] and everything[2:5] == as_list[2:5]
    with pytest.raises(IndexError):
        everything[len(ROWS)]
    assert next(i for i in everything if i.is_option).is_option


def test_a_row_with_an_unreadable_expiry_is_skipped_not_fatal(caplog):
    bad = {**next(r for r in ROWS if r["instrumenttype"] == "OPTIDX"), "expiry": "31XYZ2025", "token": "999999"}
    with caplog.at_level(logging.WARNING):
        master = ScripMaster.from_rows(ROWS[:50] + [bad], AS_OF)
    assert len(master) == 50 and master.instrument("NFO:999999") is None
    assert any("NFO:999999" in r.getMessage() and "31XYZ2025" in r.getMessage() for r in caplog.records)


def test_an_empty_master_gives_an_empty_catalog(tmp_path):
    master = ScripMaster.from_rows([], AS_OF)
    catalog = InstrumentCatalog(master.instruments())
    assert len(catalog) == 0 and catalog.search("nifty") == [] and catalog.underlyings_with_options() == []
    master.save(tmp_path / "empty.pickle")
    assert len(ScripMaster.load(tmp_path / "empty.pickle")) == 0


def test_a_plain_list_keeps_the_first_instrument_of_a_symbol_and_the_last_of_a_key(master):
    from dataclasses import replace

    nse = next(i for i in master.instruments() if i.exchange.value == "NSE" and i.kind is InstrumentKind.EQUITY)
    bse = next(i for i in master.instruments() if i.exchange.value == "BSE" and i.kind is InstrumentKind.EQUITY)
    twin = replace(bse, trading_symbol=nse.trading_symbol.lower())  # the same symbol on another exchange
    catalog = InstrumentCatalog([twin, nse])
    assert catalog.by_symbol(nse.trading_symbol) == twin  # given first
    later = replace(nse, lot_size=nse.lot_size + 1)
    assert InstrumentCatalog([nse, later]).get(nse.key).lot_size == later.lot_size and len(
        InstrumentCatalog([nse, later])) == 1
