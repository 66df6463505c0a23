"""The main window: dock panels, the keymap's actions, menus, status bar and layout memory."""

from __future__ import annotations

import asyncio
import base64
import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from PySide6.QtCore import QByteArray, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QApplication, QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox, QWidget,
)

from terminal import __version__, resources
from terminal.domain import Side
from terminal.domain.money import format_rupees
from terminal.services.background import spawn
from terminal.ui import theme
from terminal.services.risk import RiskLimits
from terminal.ui.chart_docks import ChartDocks
from terminal.ui.context import TerminalContext
from terminal.ui.dialogs.about_dialog import AboutDialog
from terminal.ui.dialogs.flattrade_login import FlattradeLoginDialog, offers_paste_login
from terminal.ui.dialogs.settings_dialog import SettingsDialog
from terminal.ui.hotkeys import KEYMAP, effective_bindings, overrides_from
from terminal.ui.panels.funds import FundsPanel
from terminal.ui.panels.gtt_orders import GttOrdersPanel, supports_gtt
from terminal.ui.panels.log_panel import LogPanel
from terminal.ui.panels.market_depth import MarketDepthPanel
from terminal.ui.panels.market_movers import MarketMoversPanel, supports_market_movers
from terminal.ui.panels.market_watch import MarketWatchPanel
from terminal.ui.panels.order_book import OrderBookPanel
from terminal.ui.panels.option_chain import OptionChainPanel
from terminal.ui.panels.order_entry import OrderEntryPanel
from terminal.ui.panels.positions import PositionsPanel
from terminal.ui.panels.strategy_builder import StrategyBuilderPanel
from terminal.ui.notifications import Notifier
from terminal.ui.panels.trade_book import TradeBookPanel
from terminal.ui.widgets.progress import ProgressIndicator
from terminal.ui.widgets.table_view import TradingTableView
from terminal.ui.workspaces import Workspaces

log = logging.getLogger(__name__)
IST = ZoneInfo("Asia/Kolkata")
ICON_NAMES = {"square_off_all": "square_off", "toggle_theme": "theme"}  # actions whose icon is named otherwise


def action_icon(action_id: str) -> QIcon:
    """The toolbar icon of an action in the theme's colour; no icon where none was drawn."""
    name = ICON_NAMES.get(action_id, action_id)
    try:
        return resources.icon(name)
    except resources.ResourceMissing:
        return QIcon()


def set_text(label: QLabel, text: str) -> None:
    """Change a label only when its text changes: an unchanged setText still schedules a repaint."""
    if label.text() != text:
        label.setText(text)


async def start_again(context) -> None:
    """After a manual login: the session starts with the token that login saved."""
    if await context.session.start():
        await context.orders.reconcile_journal()


class MainWindow(QMainWindow):
    layout_restored = Signal(bool)

    def __init__(self, context: TerminalContext, parent: QWidget | None = None, test_connection=None):
        super().__init__(parent)
        self.context = context
        self.test_connection = test_connection  # (broker, config, done) for the settings dialog
        self.setObjectName("MainWindow")
        self.setWindowTitle(f"Trading Terminal {__version__} — {context.session.broker.name} {context.account}")
        self.setDockNestingEnabled(True)
        self.setDockOptions(QMainWindow.AnimatedDocks | QMainWindow.AllowNestedDocks | QMainWindow.AllowTabbedDocks)
        self.resize(1600, 900)
        self.persist_layout = True  # off for --screenshot runs, which must not change the user's layout
        self.panels: dict[str, QWidget] = {}
        self.docks: dict[str, QDockWidget] = {}
        self.actions_by_id: dict[str, QAction] = {}
        self._build_panels()
        self._default_state = self.saveState()
        self.charts = ChartDocks(self, context)
        self._build_actions()
        self._build_menus()
        self._build_status_bar()
        self._connect_requests()
        self.context.orders.confirm = self.ask_async
        self.notifier = Notifier(self, context.portfolio, context.messages, context.settings, context.account)
        self.workspaces = Workspaces(self, context.settings)
        self.restore_layout()

    # --- panels ---------------------------------------------------------------------------------
    def _build_panels(self) -> None:
        ctx = self.context
        watch = self._add_dock(MarketWatchPanel(ctx), Qt.LeftDockWidgetArea)
        entry = self._add_dock(OrderEntryPanel(ctx), Qt.RightDockWidgetArea)
        depth = self._add_dock(MarketDepthPanel(ctx), Qt.RightDockWidgetArea)
        funds = self._add_dock(FundsPanel(ctx), Qt.RightDockWidgetArea)
        orders = self._add_dock(OrderBookPanel(ctx), Qt.BottomDockWidgetArea)
        positions = self._add_dock(PositionsPanel(ctx), Qt.BottomDockWidgetArea)
        trades = self._add_dock(TradeBookPanel(ctx), Qt.BottomDockWidgetArea)
        log_dock = self._add_dock(LogPanel(ctx), Qt.BottomDockWidgetArea)
        chain = self._add_dock(OptionChainPanel(ctx), Qt.LeftDockWidgetArea)
        builder = self._add_dock(StrategyBuilderPanel(ctx), Qt.BottomDockWidgetArea)
        self.splitDockWidget(entry, depth, Qt.Vertical)
        self.splitDockWidget(depth, funds, Qt.Vertical)
        self.splitDockWidget(orders, positions, Qt.Horizontal)
        self.tabifyDockWidget(orders, trades)
        self.tabifyDockWidget(positions, log_dock)
        self.tabifyDockWidget(watch, chain)
        self.tabifyDockWidget(positions, builder)
        positions.raise_()
        self.panels["option_chain"].leg_requested.connect(self.panels["strategy_builder"].add_leg)
        self._build_broker_panels(watch, orders)
        orders.raise_()  # the everyday tabs in front
        watch.raise_()
        self.resizeDocks([watch, entry], [1000, 420], Qt.Horizontal)
        self.resizeDocks([watch, orders], [560, 300], Qt.Vertical)
        self.panels["order_entry"].close_requested.connect(lambda: self.docks["order_entry"].hide())

    def _build_broker_panels(self, watch: QDockWidget, orders: QDockWidget) -> None:
        """Panels only some brokers feed (GTT rules, market movers): docked only when the broker has them."""
        broker = self.context.session.broker
        if supports_gtt(broker):
            self.tabifyDockWidget(orders, self._add_dock(GttOrdersPanel(self.context), Qt.BottomDockWidgetArea))
            self.panels["order_entry"].gtt_requested.connect(self.open_gtt)
        if supports_market_movers(broker):
            self.tabifyDockWidget(watch, self._add_dock(MarketMoversPanel(self.context), Qt.LeftDockWidgetArea))

    def _add_dock(self, panel: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(panel.title, self)
        dock.setObjectName(f"dock_{panel.panel_id}")
        dock.setWidget(panel)
        dock.setFeatures(QDockWidget.DockWidgetClosable | QDockWidget.DockWidgetMovable
                         | QDockWidget.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        self.panels[panel.panel_id] = panel
        self.docks[panel.panel_id] = dock
        return dock

    def show_panel(self, panel_id: str, focus: bool = True) -> QWidget:
        dock = self.docks[panel_id]
        dock.show()
        dock.raise_()
        panel = self.panels[panel_id]
        if focus:
            dock.activateWindow()
            panel.focus_primary()
        return panel

    # --- actions and menus ----------------------------------------------------------------------
    def _handlers(self) -> dict:
        return {
            "buy": lambda: self.open_order_entry(Side.BUY),
            "sell": lambda: self.open_order_entry(Side.SELL),
            "order_book": lambda: self.show_panel("order_book"),
            "market_watch": lambda: self.show_panel("market_watch"),
            "market_depth": self.show_depth_of_selection,
            "positions": lambda: self.show_panel("positions"),
            "trade_book": lambda: self.show_panel("trade_book"),
            "funds": lambda: self.show_panel("funds"),
            "log": lambda: self.show_panel("log"),
            "search": self.focus_search,
            "chart": self.open_chart_of_selection,
            "option_chain": lambda: self.show_panel("option_chain"),
            "strategy_builder": lambda: self.show_panel("strategy_builder"),
            **{panel_id: (lambda *_, p=panel_id: self.show_panel(p))  # triggered(checked) must not become p
               for panel_id in ("gtt_orders", "market_movers") if panel_id in self.panels},
            "cancel_all": self.cancel_all_orders,
            "kill_switch": lambda: spawn(self.context.kill_switch.request()),
            "square_off_all": self.square_off_all,
            "refresh": lambda: spawn(self.context.session.refresh_all()),
            "relogin": self.log_in_again,
            "hotkeys": self.edit_hotkeys,
            "toggle_theme": self.toggle_theme,
            "settings": self.edit_settings,
            "export_csv": self.export_table,
            "about": lambda: AboutDialog(self).exec(),
            "reset_layout": self.reset_layout,
            "quit": self.close,
        }

    def _build_actions(self) -> None:
        handlers = self._handlers()
        bindings = effective_bindings(self.context.settings.get("hotkeys", {}))
        for hotkey in KEYMAP:
            handler = handlers.get(hotkey.action_id)
            if handler is None:
                continue  # an action whose panel is not part of this build
            action = QAction(hotkey.label, self)
            action.setObjectName(f"action_{hotkey.action_id}")
            action.setShortcut(QKeySequence(bindings[hotkey.action_id]))
            action.setShortcutContext(Qt.ApplicationShortcut)  # works in floating docks too
            action.triggered.connect(handler)
            action.setIcon(action_icon(hotkey.action_id))
            self.addAction(action)
            self.actions_by_id[hotkey.action_id] = action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        menus = {name: bar.addMenu(f"&{name}") for name in ("File", "Trade", "Orders", "View", "Tools", "Help")}
        for hotkey in KEYMAP:
            action = self.actions_by_id.get(hotkey.action_id)
            if action is not None:
                menus[hotkey.menu].addAction(action)
        menus["View"].addSeparator()
        panels_menu = menus["View"].addMenu("Panels")
        for dock in self.docks.values():
            panels_menu.addAction(dock.toggleViewAction())
        workspaces_menu = menus["View"].addMenu("Workspaces")
        workspaces_menu.aboutToShow.connect(lambda: self.workspaces.fill_menu(workspaces_menu))

    def apply_bindings(self, bindings: dict[str, str]) -> None:
        for action_id, keys in bindings.items():
            if action_id in self.actions_by_id:
                self.actions_by_id[action_id].setShortcut(QKeySequence(keys))
        self.context.settings.set("hotkeys", overrides_from(bindings))
        self.context.settings.save()

    def current_bindings(self) -> dict[str, str]:
        return {a: act.shortcut().toString(QKeySequence.PortableText) for a, act in self.actions_by_id.items()}

    # --- trading actions ------------------------------------------------------------------------
    def selected_key(self) -> str | None:
        """The instrument the trader is on: the focused panel's selection, else the watch's."""
        focus = QApplication.focusWidget()
        for panel in self.panels.values():
            if focus is not None and (panel is focus or panel.isAncestorOf(focus)):
                key = getattr(panel, "selected_key", lambda: None)()
                if key:
                    return key
        return self.panels["market_watch"].selected_key()

    def open_order_entry(self, side: Side, key: str | None = None, quantity: int | None = None,
                         price: int | None = None) -> None:
        entry = self.panels["order_entry"]
        focus = QApplication.focusWidget()
        if key is None and focus is not None and entry.isAncestorOf(focus):
            if entry.side is not side and entry.modifying is None:
                entry.toggle_side()  # F1/F2 inside the form switch buy/sell and keep what was typed
            return
        key = key or self.selected_key()
        if key is None:
            self.context.messages.warning("Select an instrument in the market watch first.",
                                          "Press Ctrl+F to find one.")
            return
        entry = self.show_panel("order_entry", focus=False)
        entry.open_order(side, key, quantity, price)

    def open_gtt(self, request) -> None:
        """The order entry's order becomes a GTT rule: the GTT panel opens with it filled in."""
        self.show_panel("gtt_orders").prefill(request)

    def show_depth_of_selection(self) -> None:
        key = self.selected_key()
        depth = self.show_panel("market_depth")
        if key:
            depth.set_instrument(key)

    def open_chart_of_selection(self) -> None:
        key = self.selected_key()
        if key is None:
            self.context.messages.warning("Select an instrument to chart first.", "Press Ctrl+F to find one.")
            return
        self.charts.open(key)

    def focus_search(self) -> None:
        watch = self.show_panel("market_watch", focus=False)
        watch.focus_search()

    def cancel_all_orders(self) -> None:
        self.show_panel("order_book", focus=False).cancel_all()

    def square_off_all(self) -> None:
        self.show_panel("positions", focus=False).square_off_all()

    def _connect_requests(self) -> None:
        requests = self.context.requests
        requests.order_entry_requested.connect(
            lambda side, key, qty, price: self.open_order_entry(side, key, qty, price))
        requests.modify_order_requested.connect(self.open_modify)
        requests.depth_requested.connect(lambda key: (self.show_panel("market_depth", focus=False),
                                                      self.panels["market_depth"].set_instrument(key)))
        requests.instrument_selected.connect(self.panels["market_depth"].set_instrument)
        requests.chart_requested.connect(self.charts.open)
        # Charts need the instrument master, which arrives after login; then the saved ones reopen.
        self.context.session.ready.connect(self._restore_charts)
        self.context.session.session_failed.connect(self.offer_paste_login)

    def _restore_charts(self) -> None:
        self.charts.restore()
        layout = self.context.settings.get("layout", {}) or {}
        state = layout.get("state")
        if state and self.charts.charts:
            self.restoreState(QByteArray(base64.b64decode(state)))  # place the reopened chart docks

    async def ask_async(self, text: str) -> bool:
        """The order service's question to the trader (big order, stale quote, kill switch)."""
        box = QMessageBox(QMessageBox.Warning, "Please confirm", text, QMessageBox.Yes | QMessageBox.No, self)
        box.setDefaultButton(QMessageBox.No)
        answer = asyncio.get_running_loop().create_future()
        box.finished.connect(lambda _: answer.done() or answer.set_result(
            box.standardButton(box.clickedButton()) == QMessageBox.Yes))
        box.open()
        return await answer

    def log_in_again(self) -> None:
        lifecycle = self.context.session.lifecycle
        if lifecycle is None:
            spawn(self.context.session.start())
        else:
            spawn(lifecycle.relogin())

    def offer_paste_login(self, reason: str) -> None:
        """Flattrade's browser redirect could not be caught: let the trader paste it instead."""
        error = self.context.session.last_error
        if not offers_paste_login(self.context.session.broker.name, error):
            return
        dialog = FlattradeLoginDialog.for_broker(self.context.session.broker.inner, self.context.runner.run,
                                                 reason=reason, parent=self)
        dialog.logged_in.connect(lambda _info: spawn(start_again(self.context)))
        dialog.open()  # not exec(): no nested event loop under qasync

    def open_modify(self, order) -> None:
        entry = self.show_panel("order_entry", focus=False)
        entry.open_modify(order)

    # --- tools ----------------------------------------------------------------------------------
    def edit_hotkeys(self) -> None:
        from terminal.ui.dialogs.hotkeys_dialog import HotkeysDialog

        dialog = HotkeysDialog(self.actions_by_id, self)
        if dialog.exec():
            self.apply_bindings(dialog.bindings())

    def edit_settings(self) -> None:
        dialog = SettingsDialog(self.context.settings, self.actions_by_id, self.test_connection, self)
        dialog.theme_changed.connect(self.apply_theme)
        dialog.hotkeys_changed.connect(self.apply_bindings)
        if dialog.exec():
            if self.context.orders.risk is not None:
                self.context.orders.risk.limits = RiskLimits.from_settings(self.context.settings)
            self.context.messages.info("Settings saved. A change of broker takes effect at the next start.")

    def export_table(self) -> None:
        """Export the focused table (or the market watch) to a CSV file the trader picks."""
        focus = QApplication.focusWidget()
        view = focus if isinstance(focus, TradingTableView) else self.panels["market_watch"].table
        path, _ = QFileDialog.getSaveFileName(self, "Export table to CSV", "table.csv", "CSV files (*.csv)")
        if path:
            view.export_csv(path)
            self.context.messages.info(f"Table exported to {path}.")

    def apply_theme(self, name: str) -> None:
        theme.apply_theme(QApplication.instance(), name)
        for action_id, action in self.actions_by_id.items():  # icons are drawn in the theme's colour
            action.setIcon(action_icon(action_id))
        self.context.settings.set("theme", name)
        self.context.settings.save()

    def toggle_theme(self) -> None:
        self.apply_theme("light" if theme.current().name == "dark" else "dark")

    # --- layout memory --------------------------------------------------------------------------
    def save_layout(self) -> None:
        layout = {
            "geometry": base64.b64encode(bytes(self.saveGeometry())).decode(),
            "state": base64.b64encode(bytes(self.saveState())).decode(),
        }
        self.context.settings.set("layout", layout)
        self.context.settings.save()

    def restore_layout(self) -> bool:
        layout = self.context.settings.get("layout", {}) or {}
        try:
            geometry = QByteArray(base64.b64decode(layout.get("geometry", "")))
            state = QByteArray(base64.b64decode(layout.get("state", "")))
        except (ValueError, TypeError):
            geometry = state = QByteArray()
        restored = bool(state) and self.restoreState(state)
        if geometry:
            self.restoreGeometry(geometry)
        self.layout_restored.emit(restored)
        return restored

    def reset_layout(self) -> None:
        self.restoreState(self._default_state)
        for dock in self.docks.values():
            dock.setFloating(False)
            dock.show()
        self.save_layout()

    # --- status bar -----------------------------------------------------------------------------
    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self._broker_label = QLabel(f"{self.context.session.broker.name.upper()} · {self.context.account}")
        self._feed_label = QLabel("Feed: connecting")
        self._rate_label = QLabel("0 ticks/s")
        self._mtm_label = QLabel("")
        self._clock_label = QLabel("")
        self._lock_label = QLabel("")
        self._session_label = QLabel("")  # the broker token's countdown
        # Fixed widths: a label that resizes with its text relayouts (and repaints) the whole window.
        for label, sample in ((self._rate_label, "88,88,888 ticks/s"), (self._mtm_label, "MTM: +₹88,88,88,888.88"),
                              (self._clock_label, "88 Mmm 8888  88:88:88 IST")):
            label.setFixedWidth(label.fontMetrics().horizontalAdvance(sample) + 16)
        for label in (self._broker_label, self._feed_label, self._rate_label, self._mtm_label, self._session_label,
                      self._lock_label):
            bar.addWidget(label)
        lifecycle = self.context.session.lifecycle
        if lifecycle is not None:
            lifecycle.status_text_changed.connect(lambda text: set_text(self._session_label, text))
            set_text(self._session_label, lifecycle.status_text)
        kill_switch = self.context.kill_switch
        if kill_switch is not None:
            kill_switch.engaged.connect(lambda reason: self._show_lock(True))
            self._show_lock(kill_switch.is_locked)
        bar.addPermanentWidget(ProgressIndicator(self.context.session.progress, self))
        bar.addPermanentWidget(self._clock_label)
        self.context.session.feed_state_changed.connect(self._show_feed_state)
        self._status_timer = QTimer(self, interval=500)
        self._status_timer.timeout.connect(self._refresh_status)
        self._status_timer.start()
        # MTM with every batch, as the positions panel does: a half-second-old total beside it would disagree.
        self.context.market.ticks_updated.connect(self._refresh_mtm)
        self.context.portfolio.positions_changed.connect(self._refresh_mtm)
        self._refresh_status()

    def _show_lock(self, locked: bool) -> None:
        colour = theme.current().negative
        self._lock_label.setText(f"<b style='color:{colour}'>ENTRIES LOCKED for today</b>" if locked else "")

    def _show_feed_state(self, state: str, message: str) -> None:
        colour = theme.current().positive if state == "CONNECTED" else theme.current().negative
        self._feed_label.setText(f"Feed: <span style='color:{colour}'>{state.lower()}</span>")

    def _refresh_status(self) -> None:
        market = self.context.market
        set_text(self._rate_label, f"{market.ticks_per_second():,.0f} ticks/s")
        set_text(self._clock_label, datetime.now(IST).strftime("%d %b %Y  %H:%M:%S IST"))
        self._refresh_mtm()

    def _refresh_mtm(self, *_changed) -> None:
        market = self.context.market
        total = 0
        for position in self.context.portfolio.positions(self.context.account):
            total += position.mtm(market.ltp(position.instrument_key))
        colour = theme.current().positive if total >= 0 else theme.current().negative
        set_text(self._mtm_label, f"MTM: <span style='color:{colour}'>{format_rupees(total, signed=True)}</span>")

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        if self.persist_layout:
            self.save_layout()
        super().closeEvent(event)
