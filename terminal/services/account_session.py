"""One connected broker account: login, instrument master, feed, and keeping the books fresh.

Logging in again mid-day (``log_in_again``) reuses the loaded instrument master: it renews the
token, restarts the broker's feed with every subscription the FeedWorker holds, and reloads the
order book, trade book, positions, funds and holdings. When to do it is SessionLifecycle's call.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QTimer, Signal

from terminal.brokers.base import Broker, BrokerError, RateLimitedError, SessionInfo, rejection_hint
from terminal.domain import InstrumentKey, OrderStatus
from terminal.domain.catalog import InstrumentCatalog
from terminal.services.background import BackgroundRunner, spawn
from terminal.services.feed_worker import FeedBatch, FeedWorker
from terminal.services.market_store import MarketStore
from terminal.services.messages import MessageLog
from terminal.services.portfolio_store import PortfolioStore
from terminal.services.progress import ProgressTracker

log = logging.getLogger(__name__)

RATE_LIMIT_RETRY_MS = (1000, 2000, 4000)  # a rate-limited book reload is tried again after these waits


class AccountSession(QObject):
    ready = Signal()  # logged in, instruments loaded, feed started
    feed_state_changed = Signal(str, str)
    session_failed = Signal(str)

    def __init__(self, broker: Broker, market: MarketStore, portfolio: PortfolioStore, runner: BackgroundRunner,
                 messages: MessageLog, bar_builder=None, progress: ProgressTracker | None = None, parent=None):
        super().__init__(parent)
        self.progress = progress or ProgressTracker(self)
        self.broker = broker
        self.market = market
        self.portfolio = portfolio
        self.runner = runner
        self.messages = messages
        self.info: SessionInfo | None = None
        self.last_error: BrokerError | None = None  # why the last start failed (the UI may offer a way out)
        self.lifecycle = None  # the SessionLifecycle watching this session, once one is made
        self.feed = FeedWorker(broker, bar_builder=bar_builder)
        self.feed.batch_ready.connect(self._apply_batch)
        self.feed.feed_state_changed.connect(self.feed_state_changed)
        self.feed_state = "DISCONNECTED"
        self.feed.feed_state_changed.connect(self._remember_state)
        # Order updates arrive in bursts; positions and funds are refreshed once per burst.
        self._refresh_timer = QTimer(self, singleShot=True, interval=250)
        self._refresh_timer.timeout.connect(self._refresh_after_updates)
        self._stopped = False

    @property
    def account(self) -> str:
        return self.broker.account

    @property
    def logged_in(self) -> bool:
        """A login succeeded in this run (the broker may still refuse later calls if it expired)."""
        return self.info is not None

    async def start(self) -> bool:
        try:
            self.info = await self.runner.run(self.broker.login)
            instruments = await self.runner.run(self._load_instruments)
            catalog = await self.runner.run(InstrumentCatalog, instruments)
        except BrokerError as exc:
            self.last_error = exc
            self.messages.error(f"Could not connect to {self.broker.name}: {exc}", exc.hint)
            self.session_failed.emit(str(exc))
            return False
        self.last_error = None
        self.market.set_catalog(catalog)
        self.messages.info(f"Logged in to {self.broker.name} as {self.info.user_name} "
                           f"({len(catalog):,} instruments).")
        self.feed.start()
        await self.refresh_all()
        self.ready.emit()
        return True

    def _load_instruments(self) -> list:
        """Pool thread: the instrument master, with a progress bar while it downloads."""
        with self.progress.track(f"{self.broker.name}: instrument master") as job:
            return self.broker.instruments(progress=lambda done, total: job.advance(done))

    def stop(self) -> None:
        self._stopped = True  # batches still queued to the UI thread must not start broker calls
        self._refresh_timer.stop()
        if self.lifecycle is not None:
            self.lifecycle.stop()
        self.feed.stop()

    def _refresh_after_updates(self) -> None:
        if not self._stopped:
            spawn(self.refresh_portfolio())

    async def log_in_again(self) -> bool:
        """Renew the session without a restart, then resynchronise; False (and a message) if refused.

        The login runs on a pool thread: for Flattrade it waits for the browser login.
        """
        try:
            self.info = await self.runner.run(self.broker.login)
        except BrokerError as exc:
            self.messages.error(f"Could not log in to {self.broker.name} again: {exc}", exc.hint)
            return False
        await self.restart_feed()
        await self.refresh_all()
        return True

    async def restart_feed(self) -> None:
        """Reconnect the broker's feed with the new token; every subscription is asked for again."""
        keys = self.feed.subscribed()
        if self.feed.isRunning():
            try:
                await self.runner.run(self.broker.connect_feed, self.feed)
            except BrokerError as exc:
                self.messages.error(f"Could not restart the {self.broker.name} feed: {exc}", exc.hint)
                return
        else:  # the feed never started (login failed at start-up) or its thread ended
            self.feed.start()
        if keys:  # the adapter keeps its own set; asking again makes sure it matches ours
            self.feed.resubscribe(keys)

    def subscribe(self, keys: list[InstrumentKey]) -> None:
        self.feed.subscribe(keys)

    def unsubscribe(self, keys: list[InstrumentKey]) -> None:
        self.feed.unsubscribe(keys)

    def _remember_state(self, state: str, message: str) -> None:
        self.feed_state = state
        if message:
            report = self.messages.info if state == "CONNECTED" else self.messages.warning
            report(f"Feed {state.lower()}: {message}")

    def _apply_batch(self, batch: FeedBatch) -> None:
        try:
            self.market.apply_ticks(batch.ticks, batch.tick_count, batch.first_received)
            self.market.apply_bars(batch.bars)
            if batch.orders:
                self.portfolio.apply_orders(batch.orders)
                self._report_order_events(batch)
            if batch.trades:
                self.portfolio.apply_trades(batch.trades)
            if (batch.orders or batch.trades) and not self._stopped:  # a batch queued before stop() arms nothing
                self._refresh_timer.start()
        finally:
            self.feed.acknowledge()

    def _retry_later(self, exc: BrokerError, attempt: int, reload) -> bool:
        """A read refused by the broker's rate limit is tried again a little later (reads may retry;
        orders never do). True when a retry was scheduled."""
        if not isinstance(exc, RateLimitedError) or attempt >= len(RATE_LIMIT_RETRY_MS) or self._stopped:
            return False
        log.info("%s: %s; reloading in %d ms", self.broker.name, exc, RATE_LIMIT_RETRY_MS[attempt])
        QTimer.singleShot(RATE_LIMIT_RETRY_MS[attempt], self,
                          lambda: None if self._stopped else spawn(reload(attempt + 1)))
        return True

    def _report_order_events(self, batch: FeedBatch) -> None:
        for order in batch.orders:
            if order.status is OrderStatus.REJECTED:
                self.messages.error(f"Order {order.order_id} {order.trading_symbol} rejected: {order.status_message}",
                                    rejection_hint(order.status_message))
            elif order.status is OrderStatus.COMPLETE:
                self.messages.info(f"Order {order.order_id} {order.side.value} {order.filled_quantity} "
                                   f"{order.trading_symbol} complete.")

    async def refresh_all(self) -> None:
        await self.refresh_orders()
        await self.refresh_portfolio()

    async def refresh_orders(self, attempt: int = 0) -> None:
        try:
            orders = await self.runner.run(self.broker.order_book)
            trades = await self.runner.run(self.broker.trade_book)
        except BrokerError as exc:
            if not self._retry_later(exc, attempt, self.refresh_orders):
                self.messages.error(f"Could not load the order book: {exc}", exc.hint)
            return
        self.portfolio.replace_orders(self.account, orders)
        self.portfolio.replace_trades(self.account, trades)

    async def refresh_portfolio(self, attempt: int = 0) -> None:
        try:
            positions = await self.runner.run(self.broker.positions)
            funds = await self.runner.run(self.broker.funds)
            holdings = await self.runner.run(self.broker.holdings)
        except BrokerError as exc:
            if not self._retry_later(exc, attempt, self.refresh_portfolio):
                self.messages.error(f"Could not load positions and funds: {exc}", exc.hint)
            return
        self.portfolio.replace_positions(self.account, positions)
        self.portfolio.set_funds(funds)
        self.portfolio.replace_holdings(self.account, holdings)
