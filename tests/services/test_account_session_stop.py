"""A stopped session arms no timer: order updates already queued to the UI thread land after stop()."""

from __future__ import annotations

import time

from terminal.brokers.paper.broker import PaperBroker
from terminal.domain import Order, OrderStatus, OrderType, Product, Side, Validity
from terminal.services.account_session import AccountSession
from terminal.services.background import BackgroundRunner
from terminal.services.feed_worker import FeedBatch
from terminal.services.market_store import MarketStore
from terminal.services.messages import MessageLog
from terminal.services.portfolio_store import PortfolioStore


def test_an_order_update_queued_before_stop_does_not_rearm_the_refresh(qapp):
    broker = PaperBroker(seed=7)
    runner = BackgroundRunner(workers=1)
    session = AccountSession(broker, MarketStore(), PortfolioStore(), runner, MessageLog())
    try:
        session.stop()
        late = FeedBatch(broker.account)
        late.orders.append(Order(broker.account, "1", "NSE:2885", "RELIANCE", Side.BUY, 1, OrderType.LIMIT,
                                 Product.MIS, Validity.DAY, OrderStatus.COMPLETE, price=150_000, filled_quantity=1,
                                 average_price=150_000, updated_at=time.time()))
        session._apply_batch(late)  # as the queued batch_ready delivers it
        assert session.portfolio.orders()  # the update itself is still recorded
        assert not session._refresh_timer.isActive()  # a live timer here outlives its session
    finally:
        runner.shutdown()
