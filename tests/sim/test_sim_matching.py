import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from terminal.domain import (
    Exchange, OrderModification, OrderRequest, OrderStatus, OrderType, Product, Side, Trade, Validity,
)
from terminal.sim.errors import ModificationRejectedError, OrderNotOpenError, UnknownAccountError, UnknownOrderError

A = "T1"


def req(key, side, qty, order_type=OrderType.LIMIT, price=0, trigger=0, product=Product.NRML,
        validity=Validity.DAY, tag="TAG1"):
    return OrderRequest(A, key, side, qty, order_type, product, validity, price, trigger, tag)


def statuses(exchange):
    return [e.status for e in exchange.drain_events(A) if not isinstance(e, Trade)]


@pytest.fixture
def fut(exchange):
    return exchange.find_instrument(Exchange.NFO, "NIFTY26DECFUT")


@pytest.fixture
def option(exchange):
    return exchange.find_instrument(Exchange.NFO, "NIFTY26DEC25500CE")


@pytest.fixture
def thin_option(exchange):
    """An option whose two best asks hold well under the freeze quantity."""
    for strike in range(25_500, 28_001, 50):
        inst = exchange.find_instrument(Exchange.NFO, f"NIFTY26DEC{strike}CE")
        if sum(lv.quantity for lv in exchange.quote(inst.key).asks[:2]) < 1200:
            return inst
    raise AssertionError("no thin option in the book")


def test_marketable_limit_fills_at_the_book_and_reports_every_status(exchange, option):
    tick = exchange.quote(option.key)
    order = exchange.place(A, req(option.key, Side.BUY, 65, price=tick.asks[0].price))
    assert order.status is OrderStatus.COMPLETE and order.filled_quantity == 65
    assert order.average_price == tick.asks[0].price and order.tag == "TAG1"
    assert statuses(exchange) == [OrderStatus.PENDING, OrderStatus.OPEN, OrderStatus.COMPLETE]
    (trade,) = exchange.trades(A)
    assert (trade.order_id, trade.quantity, trade.price) == (order.order_id, 65, tick.asks[0].price)


def test_order_larger_than_the_depth_fills_partly_and_rests(exchange, thin_option, clock):
    option = thin_option
    tick = exchange.quote(option.key)
    limit = tick.asks[1].price
    available = sum(lv.quantity for lv in tick.asks if lv.price <= limit)
    qty = (available // 65 + 3) * 65
    order = exchange.place(A, req(option.key, Side.BUY, qty, price=limit))
    assert order.status is OrderStatus.PARTIALLY_FILLED and order.filled_quantity == available
    assert [t.price for t in exchange.trades(A)] == [lv.price for lv in tick.asks if lv.price <= limit]
    assert exchange.quote(option.key).asks[0].price > limit  # our fills took those levels
    # The rest fills as the market trades at or through the limit; raise it to be sure it does.
    exchange.modify(A, order.order_id, OrderModification(price=exchange.quote(option.key).ltp + 500))
    for _ in range(200):
        if exchange.order(A, order.order_id).status is OrderStatus.COMPLETE:
            break
        clock.advance(1)
        exchange.step()
    done = exchange.order(A, order.order_id)
    assert done.status is OrderStatus.COMPLETE and done.filled_quantity == qty
    assert sum(t.quantity for t in exchange.trades(A)) == qty


def test_ioc_remainder_is_cancelled(exchange, thin_option):
    option = thin_option
    tick = exchange.quote(option.key)
    qty = (tick.asks[0].quantity // 65 + 2) * 65
    order = exchange.place(A, req(option.key, Side.BUY, qty, price=tick.asks[0].price, validity=Validity.IOC))
    assert order.status is OrderStatus.CANCELLED and order.filled_quantity == tick.asks[0].quantity
    assert "IOC" in order.status_message


def test_market_order_walks_the_book_and_cancels_what_depth_cannot_fill(exchange):
    far = exchange.find_instrument(Exchange.NFO, "NIFTY26NOV27000CE")
    tick = exchange.quote(far.key)
    depth = sum(lv.quantity for lv in tick.bids)
    order = exchange.place(A, req(far.key, Side.SELL, 390, OrderType.MARKET, product=Product.MIS))
    assert order.filled_quantity == min(depth, 390)
    if depth < 390:
        assert order.status is OrderStatus.CANCELLED and "not enough depth" in order.status_message
        again = exchange.place(A, req(far.key, Side.SELL, 65, OrderType.MARKET, product=Product.MIS))
        assert again.status is OrderStatus.REJECTED and "No liquidity" in again.status_message


def test_market_buy_fills_at_the_ask(exchange, fut):
    tick = exchange.quote(fut.key)
    order = exchange.place(A, req(fut.key, Side.BUY, 65, OrderType.MARKET))
    assert order.status is OrderStatus.COMPLETE and order.average_price == tick.asks[0].price


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
@pytest.mark.parametrize("order_type", [OrderType.SL, OrderType.SL_M])
def test_stop_loss_waits_for_the_trigger_then_trades(exchange, clock, side, order_type):
    stock = exchange.find_instrument(Exchange.NSE, "SBIN-EQ")
    ltp = exchange.quote(stock.key).ltp
    trigger = ltp + 5 if side is Side.BUY else ltp - 5
    price = (trigger + 500 if side is Side.BUY else trigger - 500) if order_type is OrderType.SL else 0
    order = exchange.place(A, req(stock.key, side, 10, order_type, price, trigger, product=Product.MIS))
    assert order.status is OrderStatus.TRIGGER_PENDING
    for _ in range(3000):
        clock.advance(1)
        exchange.step()
        if exchange.order(A, order.order_id).status is not OrderStatus.TRIGGER_PENDING:
            break
    done = exchange.order(A, order.order_id)
    assert done.status is OrderStatus.COMPLETE
    seen = statuses(exchange)
    assert seen[:3] == [OrderStatus.PENDING, OrderStatus.TRIGGER_PENDING, OrderStatus.OPEN]
    assert seen[-1] is OrderStatus.COMPLETE


def test_modify_price_quantity_and_type(exchange, option):
    tick = exchange.quote(option.key)
    low = tick.bids[-1].price - 100
    order = exchange.place(A, req(option.key, Side.BUY, 65, price=low))
    assert order.status is OrderStatus.OPEN
    changed = exchange.modify(A, order.order_id, OrderModification(quantity=130, price=low - 5))
    assert (changed.quantity, changed.price, changed.status) == (130, low - 5, OrderStatus.OPEN)
    stop = exchange.modify(A, order.order_id, OrderModification(order_type=OrderType.SL, trigger_price=tick.ltp + 200,
                                                                price=tick.ltp + 300))
    assert stop.status is OrderStatus.TRIGGER_PENDING and stop.order_type is OrderType.SL
    filled = exchange.modify(A, order.order_id, OrderModification(order_type=OrderType.MARKET))
    assert filled.status is OrderStatus.COMPLETE and filled.price == 0 and filled.trigger_price == 0


def test_modify_rejections_leave_the_order_unchanged(exchange, option):
    tick = exchange.quote(option.key)
    order = exchange.place(A, req(option.key, Side.BUY, 65, price=tick.bids[-1].price))
    with pytest.raises(ModificationRejectedError, match="tick"):
        exchange.modify(A, order.order_id, OrderModification(price=tick.bids[-1].price + 3))
    with pytest.raises(ModificationRejectedError, match="lot"):
        exchange.modify(A, order.order_id, OrderModification(quantity=100))
    with pytest.raises(ModificationRejectedError, match="price band"):
        exchange.modify(A, order.order_id, OrderModification(price=tick.ltp * 3 + 50_00 - (tick.ltp * 3) % 5))
    assert exchange.order(A, order.order_id) == order


def test_cancel_and_closed_orders(exchange, option):
    tick = exchange.quote(option.key)
    order = exchange.place(A, req(option.key, Side.BUY, 65, price=tick.bids[-1].price))
    assert exchange.funds(A).used_margin == tick.bids[-1].price * 65  # the open order blocks its premium
    cancelled = exchange.cancel(A, order.order_id)
    assert cancelled.status is OrderStatus.CANCELLED and exchange.funds(A).used_margin == 0
    with pytest.raises(OrderNotOpenError):
        exchange.cancel(A, order.order_id)
    with pytest.raises(OrderNotOpenError):
        exchange.modify(A, order.order_id, OrderModification(price=tick.bids[-1].price))
    with pytest.raises(UnknownOrderError):
        exchange.cancel(A, "nope")
    with pytest.raises(UnknownAccountError):
        exchange.orders("nobody")


def _rejected(exchange, request, text):
    order = exchange.place(A, request)
    assert order.status is OrderStatus.REJECTED, order
    assert text.lower() in order.status_message.lower(), order.status_message
    return order


def test_every_rejection_reason(exchange, fut, option):
    ltp = exchange.quote(fut.key).ltp
    _rejected(exchange, req(fut.key, Side.BUY, 100, price=ltp), "lot size")
    _rejected(exchange, req(fut.key, Side.BUY, 65, price=ltp + 2), "tick size")
    _rejected(exchange, req(fut.key, Side.BUY, 1820, price=ltp), "freeze")
    _rejected(exchange, req(fut.key, Side.BUY, 65, price=ltp * 12 // 10 // 5 * 5), "price band")
    _rejected(exchange, req(fut.key, Side.BUY, 65, OrderType.SL, ltp - 500, ltp - 1000), "already crossed")
    _rejected(exchange, req(fut.key, Side.BUY, 1755, price=ltp), "insufficient funds")
    _rejected(exchange, req("NFO:1", Side.BUY, 65, price=ltp), "unknown instrument")
    _rejected(exchange, req("NSE:26000", Side.BUY, 1, OrderType.MARKET, product=Product.MIS), "index")
    _rejected(exchange, req(option.key, Side.BUY, 65, product=Product.CNC, price=exchange.quote(option.key).ltp),
              "CNC")
    assert exchange.positions(A) == [] and exchange.funds(A).used_margin == 0


def test_order_and_trade_ids_unique_and_increasing(exchange, option):
    tick = exchange.quote(option.key)
    ids = [exchange.place(A, req(option.key, Side.BUY, 65, price=tick.asks[0].price, tag=f"T{n}")).order_id
           for n in range(5)]
    assert ids == sorted(ids) and len(set(ids)) == 5
    trade_ids = [t.trade_id for t in exchange.trades(A)]
    assert trade_ids == sorted(trade_ids) and len(set(trade_ids)) == len(trade_ids)
    assert [o.tag for o in exchange.orders(A)] == [f"T{n}" for n in range(5)]


def test_realised_and_unrealised_pnl_and_funds(exchange, fut, clock):
    funds0 = exchange.funds(A)
    tick = exchange.quote(fut.key)
    buy = exchange.place(A, req(fut.key, Side.BUY, 130, OrderType.MARKET))
    (pos,) = exchange.positions(A)
    assert pos.net_quantity == 130 and pos.average_price == buy.average_price == tick.asks[0].price
    funds1 = exchange.funds(A)
    ltp = exchange.quote(fut.key).ltp
    assert funds1.unrealised_pnl == (ltp - buy.average_price) * 130
    assert funds1.used_margin == round(0.12 * ltp * 130)  # NRML index future: 12% of notional
    assert funds1.available_margin == funds0.available_margin - funds1.used_margin
    for _ in range(30):
        clock.advance(2)
        exchange.step(keys=[fut.key])
    sell = exchange.place(A, req(fut.key, Side.SELL, 130, OrderType.MARKET))
    (pos,) = exchange.positions(A)
    assert pos.net_quantity == 0 and pos.realised_pnl == (sell.average_price - buy.average_price) * 130
    funds2 = exchange.funds(A)
    assert funds2.used_margin == 0 and funds2.unrealised_pnl == 0
    assert funds2.available_cash == funds0.available_cash + pos.realised_pnl


def test_option_buy_blocks_the_premium_and_mis_is_cheaper_than_nrml(exchange, option, fut):
    tick = exchange.quote(option.key)
    exchange.place(A, req(option.key, Side.BUY, 65, OrderType.MARKET))
    assert exchange.funds(A).used_margin == tick.asks[0].price * 65
    exchange.place(A, req(fut.key, Side.SELL, 65, OrderType.MARKET, product=Product.MIS))
    mis = exchange.funds(A).used_margin - tick.asks[0].price * 65
    assert mis == round(0.08 * exchange.quote(fut.key).ltp * 65)


def test_holdings_sample_marked_to_market(exchange):
    holdings = exchange.holdings(A)
    assert {h.trading_symbol for h in holdings} >= {"RELIANCE-EQ", "INFY-EQ"}
    for h in holdings:
        assert h.last_price == exchange.quote(h.instrument_key).ltp


orders_strategy = st.lists(
    st.tuples(st.sampled_from([Side.BUY, Side.SELL]), st.integers(1, 6),
              st.sampled_from([OrderType.LIMIT, OrderType.MARKET]), st.integers(-3, 3),
              st.sampled_from([Validity.DAY, Validity.IOC]), st.integers(0, 5)),
    min_size=1, max_size=12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(orders_strategy)
def test_conservation_fills_never_exceed_quantity_and_position_is_the_sum_of_fills(clock, plan):
    from terminal.sim.exchange import SimulatedExchange

    ex = SimulatedExchange(seed=1, clock=type(clock)(clock.now), ticks_per_second=5)
    ex.open_account(A, cash=10**12)
    key = ex.find_instrument(Exchange.NFO, "NIFTY26DEC25000PE").key
    for side, lots, order_type, offset, validity, wait in plan:
        tick = ex.quote(key)
        touch = tick.asks[0].price if side is Side.BUY else tick.bids[0].price
        price = touch + 5 * offset * side.sign if order_type is OrderType.LIMIT else 0
        ex.place(A, req(key, side, lots * 65, order_type, price, validity=validity))
        for _ in range(wait):
            ex._clock.advance(1)
            ex.step()
    orders = ex.orders(A)
    trades = ex.trades(A)
    for o in orders:
        assert 0 <= o.filled_quantity <= o.quantity
        assert o.filled_quantity == sum(t.quantity for t in trades if t.order_id == o.order_id)
        assert o.status is not OrderStatus.COMPLETE or o.filled_quantity == o.quantity
    net = sum(t.quantity * t.side.sign for t in trades)
    positions = ex.positions(A)
    assert sum(p.net_quantity for p in positions) == net
    cash_flow = sum(-t.quantity * t.price * t.side.sign for t in trades)
    ltp = ex.quote(key).ltp
    total = sum(p.realised_pnl + p.unrealised_pnl(ltp) for p in positions)
    # average prices are rounded to a paisa at each fill: half a paisa per unit at most
    assert total == pytest.approx(cash_flow + net * ltp, abs=sum(t.quantity for t in trades) + 1)
