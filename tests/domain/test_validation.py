from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from terminal.domain import (
    Exchange, Instrument, InstrumentKind, OptionType, OrderRequest, OrderType, Product, Side, check_order,
    round_to_tick, slice_order, slice_quantities,
)
from terminal.domain.orders import OrderModification
from terminal.domain.validation import OrderValidationError, check_modification, validate_order

NIFTY_CE = Instrument(Exchange.NFO, "43650", "NIFTY25NOV24500CE", InstrumentKind.OPTION, underlying="NIFTY",
                      expiry=datetime(2025, 11, 25, 10, 0, tzinfo=timezone.utc), strike=2_450_000,
                      option_type=OptionType.CALL, lot_size=65, tick_size=5, freeze_quantity=1801)
RELIANCE = Instrument(Exchange.NSE, "2885", "RELIANCE-EQ", InstrumentKind.EQUITY, lot_size=1, tick_size=10)
NIFTY = Instrument(Exchange.NSE, "26000", "NIFTY 50", InstrumentKind.INDEX)


def order(instrument=NIFTY_CE, **kw):
    base = dict(account="paper:T", instrument_key=instrument.key, side=Side.BUY, quantity=65,
                order_type=OrderType.LIMIT, product=Product.NRML, price=12_345)
    base.update(kw)
    return OrderRequest(**base)


def fields(problems):
    return [p.field for p in problems]


def test_a_good_limit_order_passes():
    assert check_order(order(), NIFTY_CE) == []


def test_quantity_must_be_whole_lots_and_the_hint_says_what_to_use():
    problems = check_order(order(quantity=100), NIFTY_CE)
    assert fields(problems) == ["quantity"]
    assert "lot size 65" in problems[0].message and "65 (1 lots)" in problems[0].hint


def test_zero_quantity_is_refused():
    assert fields(check_order(order(quantity=0), NIFTY_CE)) == ["quantity"]


def test_price_must_be_on_the_tick_grid():
    problems = check_order(order(price=12_347), NIFTY_CE)
    assert fields(problems) == ["price"]
    assert "123.45" in problems[0].hint


def test_price_and_trigger_off_the_tick_say_which_and_the_nearest_one_on_it():
    problems = check_order(order(order_type=OrderType.SL, price=12_347, trigger_price=12_003), NIFTY_CE)
    assert [str(p) for p in problems] == [
        "Price 123.47 is not a multiple of the tick size 0.05. Use 123.45.",
        "Trigger 120.03 is not a multiple of the tick size 0.05. Use 120.05.",
    ]
    assert fields(problems) == ["price", "trigger_price"]


def test_limit_needs_price_and_market_takes_none():
    assert fields(check_order(order(price=0), NIFTY_CE)) == ["price"]
    assert fields(check_order(order(order_type=OrderType.MARKET, price=100), NIFTY_CE)) == ["price"]
    assert check_order(order(order_type=OrderType.MARKET, price=0), NIFTY_CE) == []


def test_stop_orders_need_a_trigger_on_the_right_side():
    assert fields(check_order(order(order_type=OrderType.SL, trigger_price=0), NIFTY_CE)) == ["trigger_price"]
    assert check_order(order(order_type=OrderType.SL, price=12_400, trigger_price=12_345), NIFTY_CE) == []
    assert fields(check_order(order(order_type=OrderType.SL, price=12_300, trigger_price=12_345), NIFTY_CE)) == ["price"]
    sell = order(side=Side.SELL, order_type=OrderType.SL, price=12_400, trigger_price=12_345)
    assert fields(check_order(sell, NIFTY_CE)) == ["price"]
    assert check_order(order(order_type=OrderType.SL_M, price=0, trigger_price=12_345), NIFTY_CE) == []
    assert fields(check_order(order(trigger_price=12_345), NIFTY_CE)) == ["trigger_price"]


def test_products_fit_the_segment():
    assert fields(check_order(order(product=Product.CNC), NIFTY_CE)) == ["product"]
    assert fields(check_order(order(RELIANCE, quantity=1, product=Product.NRML, price=1_250_000), RELIANCE)) == ["product"]
    assert check_order(order(RELIANCE, quantity=1, product=Product.CNC, price=1_250_000), RELIANCE) == []


def test_an_index_cannot_be_traded():
    problems = check_order(order(NIFTY, quantity=1, product=Product.MIS), NIFTY)
    assert "index" in problems[0].message


def test_above_freeze_is_refused_only_without_slicing():
    big = order(quantity=65 * 40)
    assert check_order(big, NIFTY_CE) == []
    assert fields(check_order(big, NIFTY_CE, allow_freeze_slicing=False)) == ["quantity"]
    with pytest.raises(OrderValidationError):
        validate_order(big, NIFTY_CE, allow_freeze_slicing=False)


def test_max_order_quantity_is_whole_lots_below_the_freeze():
    assert NIFTY_CE.max_order_quantity == 27 * 65  # 1801 freezes, 1755 is the largest whole-lot order


def test_slices_are_balanced_whole_lots_with_fresh_tags():
    request = order(quantity=65 * 40)
    slices = slice_order(request, NIFTY_CE)
    assert [s.quantity for s in slices] == [65 * 20, 65 * 20]
    assert len({s.tag for s in slices}) == 2 and request.tag not in {s.tag for s in slices}


def test_small_orders_are_not_sliced():
    request = order(quantity=65 * 27)
    assert slice_order(request, NIFTY_CE) == [request]


@given(st.integers(min_value=1, max_value=2000))
def test_slicing_conserves_quantity_and_respects_the_freeze(lots):
    quantities = slice_quantities(lots * 65, NIFTY_CE)
    assert sum(quantities) == lots * 65
    assert all(q % 65 == 0 and 0 < q <= NIFTY_CE.max_order_quantity for q in quantities)
    assert max(quantities) - min(quantities) <= 65


def test_round_to_tick():
    assert round_to_tick(12_347, 5) == 12_345
    assert round_to_tick(12_348, 5) == 12_350
    assert round_to_tick(100, 10) == 100


def test_modification_checks_the_new_values():
    mod = OrderModification(price=12_347)
    assert [p.field for p in check_modification(mod, OrderType.LIMIT, NIFTY_CE, 12_345, 0, Side.BUY)] == ["price"]
    assert check_modification(OrderModification(quantity=130), OrderType.LIMIT, NIFTY_CE, 12_345, 0, Side.BUY) == []


def test_search_ranks_exact_underlying_before_substrings():
    from terminal.domain.catalog import InstrumentCatalog

    bank = Instrument(Exchange.NFO, "1", "BANKNIFTY25NOVFUT", InstrumentKind.FUTURE, underlying="BANKNIFTY",
                      expiry=datetime(2025, 11, 25, tzinfo=timezone.utc), lot_size=30)
    nifty = Instrument(Exchange.NFO, "2", "NIFTY25NOVFUT", InstrumentKind.FUTURE, underlying="NIFTY",
                       expiry=datetime(2025, 11, 25, tzinfo=timezone.utc), lot_size=65)
    catalog = InstrumentCatalog([bank, nifty, NIFTY_CE, RELIANCE])
    assert catalog.search("nifty fut")[:2] == [nifty, bank]
    assert catalog.search("nifty 24500 ce") == [NIFTY_CE]
    assert catalog.search("reli") == [RELIANCE]
    assert catalog.search("") == []
