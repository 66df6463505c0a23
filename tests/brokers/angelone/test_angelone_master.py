"""The Angel One instrument master: parse, disk cache, lookups and search as you type.

Rows come from the benchmark's generator of realistic OpenAPIScripMaster.json rows (every
value a string, strike x100) at a size a test runs in a blink. The master's search is the
terminal's (InstrumentCatalog.search over the master, checked row for row in
tests/domain/test_catalog_search.py); here its matches are checked against a naive scan of
the raw rows' symbol, name and segment.
"""

from __future__ import annotations

import json
import pickle
from datetime import date

import pytest

from bench.bench_angelone_master import master_rows, naive_search
from terminal.brokers.angelone.instruments import ScripMaster, load_or_download
from terminal.domain import Exchange, InstrumentKind, OptionType

ROWS = master_rows(6_000, seed=3)
AS_OF = date(2025, 10, 27)


@pytest.fixture(scope="module")
def master() -> ScripMaster:
    return ScripMaster.parse(json.dumps(ROWS).encode(), AS_OF)


def _tokens(instruments) -> list[str]:
    return [i.token for i in instruments]


@pytest.mark.parametrize("text", ["nifty", "nifty 24500 ce", "NIFTY 245", "reliance", "infy fut", "tcs pe",
                                  "nfo", "28oct", "zzzz", "e", "24500 nifty"])
def test_search_finds_exactly_what_a_naive_scan_finds(master, text):
    ours = master.search(text, limit=100_000)
    assert sorted(_tokens(ours)) == sorted(r["token"] for r in naive_search(ROWS, text, limit=100_000))


def test_search_ranks_the_named_underlying_first_then_indices_futures_options(master):
    """The search box's order (InstrumentCatalog.search): NIFTY's own rows before BANKNIFTY's; within
    those, the index, then futures, then options by nearest expiry."""
    hits = master.search("nifty", limit=100_000)
    underlyings = [i.underlying for i in hits]
    assert set(underlyings) == {"NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY"}
    assert underlyings == sorted(underlyings, key=lambda u: u != "NIFTY")  # every NIFTY row first
    nifty = [i for i in hits if i.underlying == "NIFTY"]
    assert nifty[0].kind is InstrumentKind.INDEX
    ranks = [(i.kind is InstrumentKind.OPTION, i.kind is InstrumentKind.FUTURE) for i in nifty]
    assert ranks.index((False, True)) < ranks.index((True, False))  # futures before options
    assert master.search("nifty", limit=40) == hits[:40]
    options = [i for i in master.search("nifty ce", limit=500) if i.underlying == "NIFTY"]
    assert [o.expiry for o in options] == sorted(o.expiry for o in options)


def test_search_as_you_type_narrows_and_never_loses_a_match():
    master = ScripMaster.parse(json.dumps(ROWS).encode(), AS_OF)
    typed = "nifty 24500 pe"
    for n in range(1, len(typed) + 1):
        text = typed[:n]
        if not text.strip():
            continue
        assert sorted(_tokens(master.search(text, limit=100_000))) == sorted(
            r["token"] for r in naive_search(ROWS, text, limit=100_000)), text
    # a query that is not a narrowing of the last one is scanned afresh
    assert _tokens(master.search("reliance", limit=100_000)) == _tokens(
        ScripMaster.parse(json.dumps(ROWS).encode(), AS_OF).search("reliance", limit=100_000))


def test_search_limit_and_empty_text(master):
    assert len(master.search("e", limit=7)) == 7
    assert master.search("   ") == [] and master.search("nifty", limit=0) == []


def test_option_row_becomes_a_domain_instrument(master):
    row = next(r for r in ROWS if r["instrumenttype"] == "OPTIDX" and r["symbol"].endswith("PE"))
    inst = master.instrument(f"NFO:{row['token']}")
    assert inst.kind is InstrumentKind.OPTION and inst.option_type is OptionType.PUT
    assert inst.strike == round(float(row["strike"]))  # strike x100 is paise
    assert inst.lot_size == int(row["lotsize"]) and inst.tick_size == 5
    assert inst.expiry.strftime("%d%b%Y").upper() == row["expiry"] and inst.expiry.hour == 15
    assert master.by_symbol("NFO", row["symbol"].lower()) is inst
    assert master.by_symbol(Exchange.NSE, row["symbol"]) is None


def test_cache_round_trip_keeps_every_row_and_the_date(master, tmp_path):
    path = tmp_path / "angelone" / "scrip_master.pickle"
    master.save(path)
    loaded = ScripMaster.load(path)
    assert loaded is not None and loaded.as_of == AS_OF and len(loaded) == len(master) == len(ROWS)
    assert loaded.instruments() == master.instruments()
    assert _tokens(loaded.search("tcs 4000")) == _tokens(master.search("tcs 4000"))


@pytest.mark.parametrize("content", [b"", b"not a pickle", pickle.dumps({"version": 1, "columns": {}}),
                                     pickle.dumps(["a", "list"]),
                                     pickle.dumps({"version": 2, "as_of": "2025-10-27", "records": "a\n",
                                                   "record_starts": b"", "haystack": "", "line_starts": b"",
                                                   "keys": "NSE:1"})])
def test_unreadable_or_inconsistent_cache_is_ignored(tmp_path, content):
    path = tmp_path / "scrip_master.pickle"
    path.write_bytes(content)
    assert ScripMaster.load(path) is None
    assert ScripMaster.load(tmp_path / "missing.pickle") is None


def test_odd_rows_are_skipped_or_cleaned():
    rows = [dict(ROWS[0]), dict(ROWS[0]), {**ROWS[1], "exch_seg": "NCDEX"}, {**ROWS[2], "token": ""},
            {**ROWS[3], "name": "TAB\tAND\nNEWLINE"}]
    master = ScripMaster.from_rows(rows, AS_OF)
    assert len(master) == 2  # the repeat, the unknown segment and the row without token are left out
    odd = master.instrument(f"{ROWS[3]['exch_seg']}:{ROWS[3]['token']}")
    assert odd is not None and odd.underlying == "TAB AND NEWLINE"
    assert master.search("and newline")[0].key == odd.key


def test_not_json_or_not_an_array_is_a_clear_error():
    with pytest.raises(ValueError, match="not valid JSON"):
        ScripMaster.parse(b"<html>")
    with pytest.raises(ValueError, match="not a JSON array"):
        ScripMaster.parse(b'{"rows": []}')


class _Response:
    def __init__(self, body: bytes):
        self.headers = {"Content-Length": str(len(body))}
        self._body = body

    def iter_content(self, chunk_size: int):
        for at in range(0, len(self._body), chunk_size):
            yield self._body[at:at + chunk_size]


def test_downloaded_once_a_day_then_loaded_from_disk(tmp_path):
    body = json.dumps(ROWS).encode()
    fetches: list[int] = []
    progress: list[tuple[int, int | None]] = []

    def fetch():
        fetches.append(1)
        return _Response(body)

    path = tmp_path / "scrip_master.pickle"
    first = load_or_download(path, fetch, lambda done, total: progress.append((done, total)), today=AS_OF)
    again = load_or_download(path, fetch, today=AS_OF)
    assert len(fetches) == 1 and len(first) == len(again) == len(ROWS)
    assert progress[-1] == (len(body), len(body))

    def broken():
        raise OSError("no network")

    stale = load_or_download(path, broken, today=date(2025, 10, 28))  # a day later, offline: yesterday's copy
    assert stale.as_of == AS_OF and len(stale) == len(ROWS)
