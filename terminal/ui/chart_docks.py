"""Chart docks: one ChartPanel per instrument, several at once, wired to history and the feed.

History is loaded off the UI thread; live 1-minute bars come from the FeedWorker (built from
every tick there) through MarketStore.bars_updated. Open orders and the position of the
charted instrument are drawn as lines; dragging an order line modifies the order after the
trader confirms. Which charts are open persists in settings["charts"].
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QDockWidget, QMainWindow

from terminal.brokers.base import BrokerError
from terminal.domain import OrderModification, OrderType, Side
from terminal.domain.money import format_price
from terminal.services.background import spawn
from terminal.ui.context import TerminalContext
from terminal.ui.panels.chart import ChartPanel
from terminal.ui.widgets.confirm import ask_yes_no

log = logging.getLogger(__name__)

HISTORY_DAYS = 30


class ChartDocks(QObject):
    def __init__(self, window: QMainWindow, context: TerminalContext):
        super().__init__(window)
        self.window = window
        self.context = context
        self.charts: dict[str, ChartPanel] = {}
        self.docks: dict[str, QDockWidget] = {}
        context.market.bars_updated.connect(self._apply_bars)
        context.portfolio.orders_changed.connect(self._show_orders)
        context.portfolio.positions_changed.connect(self._show_positions)

    def open(self, key: str, state: dict | None = None) -> ChartPanel | None:
        if key in self.charts:
            self.docks[key].show()
            self.docks[key].raise_()
            self.charts[key].setFocus()
            return self.charts[key]
        instrument = self.context.market.instrument(key)
        if instrument is None:
            self.context.messages.warning(f"No chart for {key}: the instrument is not in the master.",
                                          "Refresh the instrument master and search again.")
            return None
        panel = ChartPanel(instrument, timeframe=(state or {}).get("timeframe", 5))
        if state:
            try:
                panel.restore_state(state)
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("Chart state for %s ignored: %s", key, exc)
        dock = QDockWidget(f"Chart — {instrument.display_name}", self.window)
        dock.setObjectName(f"dock_chart_{key}")
        dock.setWidget(panel)
        dock.setAttribute(Qt.WA_DeleteOnClose, False)
        self.window.addDockWidget(Qt.RightDockWidgetArea, dock)
        anchor = self.window.docks.get("market_depth")
        if anchor is not None and not self.docks:
            self.window.tabifyDockWidget(anchor, dock)
        elif self.docks:
            self.window.tabifyDockWidget(next(iter(self.docks.values())), dock)
        self.charts[key] = panel
        self.docks[key] = dock
        panel.order_price_drag_requested.connect(self._modify_from_chart)
        panel.order_at_price_requested.connect(
            lambda side, price, k=key: self.context.request_order_entry(Side(side), k, None, price))
        panel.timeframe_changed.connect(lambda _: self.save())
        self.context.session.subscribe([key])
        self.context.session.feed.watch_bars(key)
        spawn(self._load_history(key))
        self._show_orders()
        self._show_positions()
        dock.show()
        dock.raise_()
        self.save()
        return panel

    def close(self, key: str) -> None:
        dock = self.docks.pop(key, None)
        panel = self.charts.pop(key, None)
        if dock is None:
            return
        self.context.session.unsubscribe([key])
        self.context.session.feed.watch_bars(key, False)
        self.window.removeDockWidget(dock)
        dock.deleteLater()
        panel.deleteLater()
        self.save()

    async def _load_history(self, key: str) -> None:
        end = datetime.now(timezone.utc)
        start = end - timedelta(days=HISTORY_DAYS + 15)  # calendar days: about 30 trading days
        try:
            candles = await self.context.runner.run(self.context.session.broker.history, key, 1, start, end)
        except BrokerError as exc:
            self.context.messages.error(f"Could not load chart history for {key}: {exc}", exc.hint)
            return
        panel = self.charts.get(key)
        if panel is not None and candles:
            panel.set_history(candles)

    def _apply_bars(self, bars: dict) -> None:
        for key, by_start in bars.items():
            panel = self.charts.get(key)
            if panel is not None:
                for bar in by_start.values():
                    panel.apply_bar(bar)

    def _show_orders(self) -> None:
        if not self.charts:
            return
        open_orders = self.context.portfolio.open_orders(self.context.account)
        for key, panel in self.charts.items():
            panel.set_orders([o for o in open_orders if o.instrument_key == key])

    def _show_positions(self) -> None:
        if not self.charts:
            return
        positions = self.context.portfolio.positions(self.context.account)
        for key, panel in self.charts.items():
            panel.set_position(next((p for p in positions if p.instrument_key == key and p.is_open), None))

    def _modify_from_chart(self, order_id: str, price: int) -> None:
        order = self.context.portfolio.order(self.context.account, order_id)
        if order is None or not order.is_open:
            self.context.messages.warning(f"Order {order_id} is no longer open; nothing to modify.")
            return
        is_trigger = order.order_type in (OrderType.SL_M,)
        what = "trigger" if is_trigger else "price"
        if self.context.settings.get("confirm", {}).get("modify_from_chart", True):
            question = (f"Move the {what} of {order.side.value} {order.quantity} {order.trading_symbol} from "
                        f"{format_price(order.trigger_price if is_trigger else order.price)} to {format_price(price)}?")
            if not ask_yes_no(self.window, "Modify order", question):
                self._show_orders()  # the dragged line springs back
                return
        modification = OrderModification(trigger_price=price) if is_trigger else OrderModification(price=price)
        spawn(self.context.orders.modify(order, modification))

    # --- persistence ----------------------------------------------------------------------------
    def save(self) -> None:
        self.context.settings.set("charts", [panel.state() for panel in self.charts.values()])
        self.context.settings.save()

    def restore(self) -> None:
        for state in self.context.settings.get("charts", []) or []:
            key = state.get("instrument_key") if isinstance(state, dict) else None
            if key:
                self.open(key, state)
