from hypothesis import given
from hypothesis import strategies as st

from terminal.domain import Position, Product, Side, apply_fill
from terminal.domain.money import format_price, group_indian, to_paise


def flat():
    return Position("paper:T", "NFO:1", "X", Product.NRML)


def test_buying_twice_averages_the_price():
    p = apply_fill(apply_fill(flat(), Side.BUY, 65, 10_000), Side.BUY, 65, 12_000)
    assert (p.net_quantity, p.average_price, p.realised_pnl) == (130, 11_000, 0)
    assert p.unrealised_pnl(11_500) == 500 * 130


def test_selling_part_books_profit_at_the_old_average():
    p = apply_fill(apply_fill(flat(), Side.BUY, 130, 10_000), Side.SELL, 65, 10_500)
    assert (p.net_quantity, p.average_price, p.realised_pnl) == (65, 10_000, 500 * 65)


def test_crossing_through_zero_opens_the_rest_at_the_fill_price():
    p = apply_fill(apply_fill(flat(), Side.BUY, 65, 10_000), Side.SELL, 130, 9_000)
    assert (p.net_quantity, p.average_price, p.realised_pnl) == (-65, 9_000, -1_000 * 65)
    assert p.unrealised_pnl(8_000) == 1_000 * 65  # a short gains when the price falls


def test_short_then_cover():
    p = apply_fill(apply_fill(flat(), Side.SELL, 30, 20_000), Side.BUY, 30, 19_000)
    assert (p.net_quantity, p.average_price, p.realised_pnl) == (0, 0, 30 * 1_000)
    assert (p.day_buy_quantity, p.day_sell_quantity, p.day_quantity) == (30, 30, 0)


@given(st.lists(st.tuples(st.sampled_from([Side.BUY, Side.SELL]), st.integers(1, 20), st.integers(100, 100_000)),
                min_size=1, max_size=30))
def test_total_pnl_equals_cash_flow_when_marked_at_any_price(fills):
    p = flat()
    cash = 0
    rounding = 0.0
    for side, lots, price in fills:
        p = apply_fill(p, side, lots, price)
        cash -= side.sign * lots * price
        rounding += abs(p.net_quantity) / 2  # re-averaging rounds by at most half a paisa a unit held
    mark = 50_000
    # P&L from the position equals cash flow plus the open quantity valued at the mark.
    assert abs(p.total_pnl(mark) - (cash + p.net_quantity * mark)) <= rounding


def test_indian_grouping():
    assert group_indian(100000) == "1,00,000"
    assert group_indian(12345678) == "1,23,45,678"
    assert group_indian(999) == "999"
    assert group_indian(-1000) == "-1,000"
    assert format_price(1234567) == "12,345.67"
    assert format_price(-5) == "-0.05"


def test_to_paise_rounds_half_up_and_refuses_garbage():
    assert to_paise("123.455") == 12346
    assert to_paise("1,234.5") == 123450
    import pytest

    for bad in ("abc", "nan", "inf", ""):
        with pytest.raises(ValueError):
            to_paise(bad)


def test_mtm_marks_at_the_last_price_or_at_the_average_before_any_quote():
    short = Position("paper:SIM001", "NFO:1", "A", Product.NRML, net_quantity=-50, average_price=100_00,
                     realised_pnl=2_000_00)
    assert short.mtm(120_00) == 2_000_00 - 20_00 * 50 == short.total_pnl(120_00)
    assert short.mark_price(None) == 100_00 and short.mtm(None) == 2_000_00  # no quote yet: no made-up MTM
