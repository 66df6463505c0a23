"""The paper broker end to end over a real SimulatedExchange, through a thread-safe test sink."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from support.feed_sink import RecordingSink
from support.polling import wait_for

from terminal.brokers.base import BrokerError, FeedState, InstrumentNotFoundError, OrderRejectedError
from terminal.brokers.paper import PaperBroker
from terminal.domain import OrderModification, OrderRequest, OrderStatus, OrderType, Product, Side
from terminal.sim.exchange import SimulatedExchange


@pytest.fixture
def broker():
    b = PaperBroker(SimulatedExchange(seed=4, ticks_per_second=20), step_interval=0.02)
    yield b
    b.disconnect_feed()


def test_identity_and_session(broker):
    assert broker.name == "paper" and broker.account == "paper:SIM001"
    assert broker.login().account == "paper:SIM001"
    assert broker.funds().available_cash == 10_00_000_00


def test_feed_pushes_only_subscribed_ticks_and_stops(broker):
    sink = RecordingSink()
    keys = ["NSE:26000", "NSE:2885"]
    broker.subscribe(keys)
    broker.connect_feed(sink)
    assert wait_for(lambda: len(sink.tick_batches) >= 5)
    broker.disconnect_feed()
    states = [state for state, _ in sink.states]
    assert states[0] is FeedState.CONNECTED and states[-1] is FeedState.DISCONNECTED
    seen = {t.key for batch in sink.tick_batches for t in batch}
    assert seen == set(keys)
    assert all(isinstance(batch, list) and batch for batch in sink.tick_batches)
    count = len(sink.tick_batches)
    time.sleep(0.1)
    assert len(sink.tick_batches) == count  # nothing after disconnect


def test_unsubscribe_and_unknown_keys(broker):
    with pytest.raises(InstrumentNotFoundError):
        broker.subscribe(["NSE:26000", "NFO:1"])
    sink = RecordingSink()
    broker.subscribe(["NSE:26000"])
    broker.connect_feed(sink)
    assert wait_for(lambda: sink.tick_batches)
    broker.unsubscribe(["NSE:26000"])
    time.sleep(0.1)
    with sink.lock:
        sink.tick_batches.clear()
    time.sleep(0.15)
    assert sink.tick_batches == []


def test_marketable_order_reports_pending_open_complete_and_a_trade(broker):
    sink = RecordingSink()
    broker.connect_feed(sink)
    option = next(i for i in broker.instruments() if i.is_option and i.underlying == "NIFTY")
    ask = broker.quotes([option.key])[0].asks[0].price
    request = OrderRequest(broker.account, option.key, Side.BUY, option.lot_size, OrderType.LIMIT, Product.NRML,
                           price=ask, tag="TTPAPER0001")
    order_id = broker.place_order(request)
    assert wait_for(lambda: sink.trades and len(sink.orders) >= 3)
    assert [o.status for o in sink.orders[:3]] == [OrderStatus.PENDING, OrderStatus.OPEN, OrderStatus.COMPLETE]
    assert all(o.order_id == order_id for o in sink.orders)
    assert sink.trades[0].order_id == order_id and sink.trades[0].quantity == option.lot_size
    found = broker.find_order_by_tag("TTPAPER0001")
    assert found is not None and found.order_id == order_id and found.status is OrderStatus.COMPLETE
    assert broker.find_order_by_tag("absent") is None
    (position,) = broker.positions()
    assert position.net_quantity == option.lot_size
    assert broker.trade_book()[0].order_id == order_id


def test_rejection_raises_with_reason_and_hint(broker):
    fut = next(i for i in broker.instruments() if i.trading_symbol.startswith("NIFTY") and i.kind.value == "FUTURE")
    ltp = broker.quotes([fut.key])[0].ltp
    with pytest.raises(OrderRejectedError) as caught:
        broker.place_order(OrderRequest(broker.account, fut.key, Side.BUY, 100, price=ltp, product=Product.NRML))
    assert "lot size" in caught.value.reason and "lots" in caught.value.hint
    with pytest.raises(OrderRejectedError) as caught:
        broker.place_order(OrderRequest(broker.account, fut.key, Side.BUY, 1755, price=ltp, product=Product.NRML))
    assert "Margin" in caught.value.hint
    rejected = [o for o in broker.order_book() if o.status is OrderStatus.REJECTED]
    assert len(rejected) == 2


def test_modify_and_cancel_errors(broker):
    opt = next(i for i in broker.instruments() if i.is_option)
    tick = broker.quotes([opt.key])[0]
    order_id = broker.place_order(OrderRequest(broker.account, opt.key, Side.BUY, opt.lot_size,
                                               price=tick.bids[-1].price, product=Product.NRML))
    with pytest.raises(OrderRejectedError):
        broker.modify_order(order_id, OrderModification(price=tick.bids[-1].price + 1))
    broker.modify_order(order_id, OrderModification(quantity=2 * opt.lot_size))
    assert broker.find_order_by_tag(broker.order_book()[0].tag).quantity == 2 * opt.lot_size
    broker.cancel_order(order_id)
    with pytest.raises(BrokerError, match="nothing left to cancel"):
        broker.cancel_order(order_id)
    with pytest.raises(BrokerError, match="No order"):
        broker.modify_order("999", OrderModification(price=5))


def test_history_and_wrong_account(broker):
    now = broker.exchange.now()
    candles = broker.history("NSE:26000", 5, now - timedelta(days=3), now)
    assert candles and candles[-1].close == broker.quotes(["NSE:26000"])[0].ltp
    with pytest.raises(InstrumentNotFoundError):
        broker.history("NFO:1", 5, now - timedelta(days=3), now)
    with pytest.raises(BrokerError):
        broker.history("NSE:26000", 7, now - timedelta(days=3), now)
    with pytest.raises(BrokerError, match="account"):
        broker.place_order(OrderRequest("paper:OTHER", "NSE:2885", Side.BUY, 1, OrderType.MARKET))


def test_two_accounts_share_one_exchange():
    exchange = SimulatedExchange(seed=9)
    a, b = PaperBroker(exchange, "A1"), PaperBroker(exchange, "B1")
    a.place_order(OrderRequest(a.account, "NSE:2885", Side.BUY, 1, OrderType.MARKET, Product.CNC))
    assert len(a.order_book()) == 1 and b.order_book() == []
    assert len(a.positions()) == 1 and b.positions() == []
