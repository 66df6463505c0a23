from datetime import date, datetime

from terminal.domain import Exchange, InstrumentKind, OptionType
from terminal.sim.calendar import IST, last_tuesday, monthly_expiries, weekly_expiries
from terminal.sim.instruments import build_instrument_master

NOW = datetime(2026, 11, 23, 11, 0, tzinfo=IST)  # a Monday; November's monthly expiry is Tuesday the 24th


def master(now=NOW):
    return build_instrument_master(now)


def test_indices_carry_real_nse_tokens():
    m = master()
    assert m.by_key["NSE:26000"].trading_symbol == "NIFTY 50"
    assert m.by_key["NSE:26009"].trading_symbol == "NIFTY BANK"
    assert m.by_key["NSE:26037"].trading_symbol == "NIFTY FIN SERVICE"
    assert all(not m.by_key[k].is_tradeable for k in ("NSE:26000", "NSE:26009", "NSE:26037"))


def test_stocks_are_cash_with_real_tokens_and_no_freeze():
    m = master()
    reliance = m.by_symbol[(Exchange.NSE, "RELIANCE-EQ")]
    assert reliance.token == "2885" and reliance.kind is InstrumentKind.EQUITY
    assert m.by_symbol[(Exchange.NSE, "HDFCBANK-EQ")].token == "1333"
    assert m.by_symbol[(Exchange.NSE, "TCS-EQ")].token == "11536"
    stocks = [i for i in m.instruments if i.kind is InstrumentKind.EQUITY]
    assert len(stocks) >= 20
    assert all(s.lot_size == 1 and s.tick_size == 5 and s.freeze_quantity is None for s in stocks)


def test_lot_sizes_and_freeze_quantities():
    m = master()
    expected = {"NIFTY": (65, 1801), "BANKNIFTY": (30, 601), "FINNIFTY": (60, 1801)}
    for inst in m.instruments:
        if inst.is_derivative:
            assert (inst.lot_size, inst.freeze_quantity) == expected[inst.underlying], inst.trading_symbol


def test_every_expiry_is_a_tuesday_at_1530_ist():
    for inst in master().instruments:
        if inst.expiry is not None:
            assert inst.expiry.weekday() == 1
            assert (inst.expiry.hour, inst.expiry.minute) == (15, 30)
            assert inst.expiry.utcoffset().total_seconds() == 19_800


def test_nifty_has_weekly_and_monthly_banks_monthly_only():
    m = master()
    expiries = {u: sorted({i.expiry.date() for i in m.instruments if i.is_option and i.underlying == u})
                for u in ("NIFTY", "BANKNIFTY", "FINNIFTY")}
    assert expiries["NIFTY"][:4] == [date(2026, 11, 24), date(2026, 12, 1), date(2026, 12, 8), date(2026, 12, 15)]
    assert date(2026, 12, 29) in expiries["NIFTY"]
    assert expiries["BANKNIFTY"] == [date(2026, 11, 24), date(2026, 12, 29)]
    assert expiries["FINNIFTY"] == [date(2026, 11, 24), date(2026, 12, 29)]


def test_futures_current_and_next_month():
    m = master()
    futures = sorted(i.trading_symbol for i in m.instruments if i.kind is InstrumentKind.FUTURE)
    assert futures == ["BANKNIFTY26DECFUT", "BANKNIFTY26NOVFUT", "FINNIFTY26DECFUT", "FINNIFTY26NOVFUT",
                       "NIFTY26DECFUT", "NIFTY26NOVFUT"]


def test_expiry_rolls_after_1530_on_expiry_day():
    before = datetime(2026, 11, 24, 15, 29, tzinfo=IST)
    after = datetime(2026, 11, 24, 15, 31, tzinfo=IST)
    assert monthly_expiries(before, 1)[0].date() == date(2026, 11, 24)
    assert monthly_expiries(after, 1)[0].date() == date(2026, 12, 29)
    assert weekly_expiries(after, 1)[0].date() == date(2026, 12, 1)
    rolled = master(after)
    assert "NIFTY26NOVFUT" not in {i.trading_symbol for i in rolled.instruments}


def test_last_tuesday():
    assert last_tuesday(2025, 11) == date(2025, 11, 25)
    assert last_tuesday(2026, 3) == date(2026, 3, 31)
    assert last_tuesday(2026, 2) == date(2026, 2, 24)


def test_at_least_40_strikes_each_side_of_the_money():
    m = master()
    for underlying, step, level in (("NIFTY", 5000, 25_500_00), ("BANKNIFTY", 10000, 55_500_00),
                                    ("FINNIFTY", 5000, 26_000_00)):
        for expiry in {i.expiry for i in m.instruments if i.is_option and i.underlying == underlying}:
            calls = sorted(i.strike for i in m.instruments if i.is_option and i.underlying == underlying
                           and i.expiry == expiry and i.option_type is OptionType.CALL)
            puts = sorted(i.strike for i in m.instruments if i.is_option and i.underlying == underlying
                          and i.expiry == expiry and i.option_type is OptionType.PUT)
            assert calls == puts
            assert sum(k < level for k in calls) >= 40 and sum(k > level for k in calls) >= 40
            assert all(b - a == step for a, b in zip(calls, calls[1:]))


def test_symbols_in_nse_style():
    symbols = {i.trading_symbol for i in master().instruments}
    assert "NIFTY26NOV25500CE" in symbols  # monthly
    assert "NIFTY26D0125500PE" in symbols  # weekly 1 Dec 2026: YY, month code, DD
    assert "BANKNIFTY26DEC55500CE" in symbols
    assert "RELIANCE-EQ" in symbols


def test_tokens_unique_and_stable_for_the_same_date():
    a, b = master(), master(datetime(2026, 11, 23, 14, 0, tzinfo=IST))
    keys = [i.key for i in a.instruments]
    assert len(keys) == len(set(keys))
    assert {i.trading_symbol: i.token for i in a.instruments} == {i.trading_symbol: i.token for i in b.instruments}
