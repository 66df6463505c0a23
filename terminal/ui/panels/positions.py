"""Positions with live MTM, and the strategy groups (placed baskets) with their combined MTM.

Only the rows of instruments that ticked are recomputed. A strategy group is the set of legs a
basket placed (``services.basket``); its row shows the legs still open and the group's MTM, and
exiting it closes only the group's own units, hedge first (shorts bought back before the longs
that protect them are sold).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSplitter, QVBoxLayout, QWidget

from terminal.domain import InstrumentKey, Position
from terminal.services.background import spawn
from terminal.storage.journal import JournalState
from terminal.services.basket import (
    GroupLeg, StrategyGroups, claimants, describe, group_exit_requests, group_mtm, open_units, place_basket,
)
from terminal.ui import theme
from terminal.ui.context import TerminalContext
from terminal.ui.widgets.confirm import ask_yes_no
from terminal.ui.models.table_model import (
    Column, KeyedTableModel, format_rupees, price_column, quantity_column, sign_colour, signed_price_column,
)
from terminal.ui.widgets.table_view import TradingTableView


CLOSING_GRACE_S = 10.0  # an exit whose fills never show stops blocking a new one after this


REFUSED = frozenset({JournalState.REJECTED, JournalState.FAILED, JournalState.NOT_FOUND})


def accepted_any(result) -> bool:
    """Whether a square-off (list of Outcome) or a strategy exit (BasketResult) may have reached the
    broker: anything but a definite refusal (an outcome still unknown counts as reached)."""
    if result is None:
        return False
    outcomes = result if isinstance(result, list) else [o for leg in result.legs for o in leg.outcomes]
    return any(outcome.state not in REFUSED for outcome in outcomes)


def average(value_paise: int, quantity: int) -> int | None:
    return round(value_paise / quantity) if quantity else None


@dataclass(frozen=True, slots=True)
class StrategyRow:
    """A strategy group as the panel shows it: its name, its legs, and how many are still open."""

    name: str
    legs: tuple[GroupLeg, ...]
    open_legs: int


class PositionsPanel(QWidget):
    panel_id = "positions"
    title = "Positions"

    def __init__(self, context: TerminalContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName(self.panel_id)
        self.context = context
        self.market = context.market
        self.last_task: asyncio.Task | None = None
        self._rows_of: dict[InstrumentKey, list] = {}  # instrument key -> position keys
        self._subscribed: set[InstrumentKey] = set()
        self.groups = StrategyGroups(context.settings)
        self._claims: dict[tuple, set[str]] = {}  # position key -> names of the groups in it
        self._positions: list[Position] = []
        self._groups_of: dict[InstrumentKey, set[str]] = {}  # instrument key -> group names
        # Position keys with closing orders in flight: a second press before the positions show the
        # fills would send the same exits again and open the reverse position (exits skip entry limits).
        self._closing: dict[tuple, int] = {}  # position key -> its net quantity when the exit went out
        self._closing_until: dict[tuple, float] = {}  # position key -> monotonic time its block ends

        self.model = KeyedTableModel(self._columns(), key_of=lambda p: p.key, parent=self, cache_cells=True)
        self.table = TradingTableView(self)
        self.table.setModel(self.model)
        self.model.show_in(self.table)  # rows scrolled out of view (or a tabbed-away dock) cost no signal
        self.table.installEventFilter(self)
        self.square_off_button = QPushButton("Square off", self)
        self.square_off_button.clicked.connect(self.square_off_selected)
        self.square_off_all_button = QPushButton("Square off all", self)
        self.square_off_all_button.clicked.connect(self.square_off_all)
        self.total_label = QLabel(self)
        self.total_label.setObjectName("positions_total")
        self.total_label.setTextFormat(Qt.RichText)
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 2)
        bar.addWidget(self.square_off_button)
        bar.addWidget(self.square_off_all_button)
        bar.addStretch(1)
        bar.addWidget(self.total_label)
        self.strategies = self._build_strategies()
        splitter = QSplitter(Qt.Vertical, self)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self.table)
        splitter.addWidget(self.strategies)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        layout.addWidget(splitter)

        context.portfolio.positions_changed.connect(self.refresh)
        context.requests.strategy_groups_changed.connect(self.refresh)
        self.market.ticks_updated.connect(self._on_ticks)
        self.refresh()
        self.table.fit_columns()
        self.strategy_table.fit_columns()

    def _build_strategies(self) -> QWidget:
        box = QWidget(self)
        self.strategy_model = KeyedTableModel(self._strategy_columns(), key_of=lambda g: g.name, parent=self)
        self.strategy_table = TradingTableView(box)
        self.strategy_table.setObjectName("strategy_groups")
        self.strategy_table.setModel(self.strategy_model)
        self.strategy_model.show_in(self.strategy_table)
        self.strategy_table.installEventFilter(self)
        self.exit_strategy_button = QPushButton("Exit strategy", box)
        self.exit_strategy_button.setToolTip("Close the selected strategy's own open legs at market, "
                                             "buying back shorts before selling their hedges")
        self.exit_strategy_button.clicked.connect(self.exit_selected_strategy)
        self.forget_strategy_button = QPushButton("Forget", box)
        self.forget_strategy_button.setToolTip("Remove the strategy group from this list (positions stay as they are)")
        self.forget_strategy_button.clicked.connect(self.forget_selected_strategy)
        self.strategy_total_label = QLabel(box)
        self.strategy_total_label.setTextFormat(Qt.RichText)
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 2)
        bar.addWidget(QLabel("<b>Strategies</b>", box))
        bar.addWidget(self.exit_strategy_button)
        bar.addWidget(self.forget_strategy_button)
        bar.addStretch(1)
        bar.addWidget(self.strategy_total_label)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        layout.addWidget(self.strategy_table)
        return box

    def _ltp(self, position: Position) -> int:
        """The last price, or the average when no quote has arrived yet (no fake MTM)."""
        return position.mark_price(self.market.ltp(position.instrument_key))

    def mtm(self, position: Position) -> int:
        """Realised plus unrealised P&L at the last price, paise."""
        return position.mtm(self.market.ltp(position.instrument_key))

    def _columns(self) -> list[Column]:
        return [
            Column("Symbol", lambda p: p.trading_symbol, width=150),
            Column("Strategy", lambda p: ", ".join(sorted(self._claims.get(p.key, ()))), width=110),
            Column("Product", lambda p: p.product.value, width=56),
            quantity_column("Net Qty", lambda p: p.net_quantity, colour=sign_colour, width=70),
            price_column("Avg", lambda p: p.average_price, width=80),
            price_column("LTP", lambda p: self.market.ltp(p.instrument_key), width=80),
            signed_price_column("MTM", self.mtm, width=96),
            signed_price_column("Realised", lambda p: p.realised_pnl, width=90),
            signed_price_column("Unrealised", lambda p: p.unrealised_pnl(self._ltp(p)), width=90),
            quantity_column("Buy Qty", lambda p: p.day_buy_quantity, width=64),
            price_column("Buy Avg", lambda p: average(p.day_buy_value, p.day_buy_quantity), width=80),
            quantity_column("Sell Qty", lambda p: p.day_sell_quantity, width=64),
            price_column("Sell Avg", lambda p: average(p.day_sell_value, p.day_sell_quantity), width=80),
        ]

    def _strategy_columns(self) -> list[Column]:
        return [
            Column("Strategy", lambda g: g.name, width=150),
            Column("Legs", lambda g: f"{g.open_legs} open of {len(g.legs)}", width=90),
            signed_price_column("MTM", self.strategy_mtm, width=96),
        ]

    # --- rows -----------------------------------------------------------------------------------
    def refresh(self) -> None:
        positions = self.context.portfolio.positions(self.context.account)
        positions.sort(key=lambda p: (not p.is_open, p.trading_symbol, p.product.value))
        self._positions = positions
        net = self._net_quantities()
        self._release({key for key, was in self._closing.items() if net.get(key, 0) != was})  # its fills arrived
        self._refresh_strategies()
        self.table.show_rows(positions)
        self.model.refresh_all()  # the Strategy column may change without the position changing
        rows_of = defaultdict(list)
        for position in positions:
            rows_of[position.instrument_key].append(position.key)
        self._rows_of = dict(rows_of)
        self._resubscribe(set(rows_of))
        self._update_total()
        self.square_off_all_button.setEnabled(any(p.is_open for p in positions))

    def _refresh_strategies(self) -> None:
        """The current account's strategy groups, with the legs still open."""
        account = self.context.account
        groups = {name: legs for name, legs in self.groups.all_legs().items()
                  if legs and all(leg.account == account for leg in legs)}
        self._claims = claimants(groups)
        by_key = {p.key: p for p in self._positions}
        rows = [StrategyRow(name, tuple(legs), sum(1 for leg in legs if open_units(leg, by_key.get(leg.position_key))))
                for name, legs in sorted(groups.items())]
        self._groups_of = defaultdict(set)
        for row in rows:
            for leg in row.legs:
                self._groups_of[leg.instrument_key].add(row.name)
        self.strategy_table.show_rows(rows)
        self.strategies.setVisible(bool(rows))
        self._update_strategy_buttons()

    def strategy_mtm(self, row: StrategyRow) -> int:
        """The group's combined MTM, paise (``services.basket.group_mtm``)."""
        return group_mtm(row.legs, self._positions, self.market.ltp,
                         shared=lambda leg: len(self._claims.get(leg.position_key, ())) > 1)

    def _resubscribe(self, keys: set[InstrumentKey]) -> None:
        added, removed = keys - self._subscribed, self._subscribed - keys
        if added:
            self.context.session.subscribe(sorted(added))
        if removed:
            self.context.session.unsubscribe(sorted(removed))
        self._subscribed = keys

    def _on_ticks(self, keys: frozenset) -> None:
        touched = self._rows_of.keys() & keys
        if not touched:
            return
        self.model.refresh_keys(k for key in touched for k in self._rows_of[key])
        groups = {name for key in touched for name in self._groups_of.get(key, ())}
        if groups:
            self.strategy_model.refresh_keys(groups)
        self._update_total()

    def total_mtm(self) -> int:
        return sum(self.mtm(p) for p in self.model.rows())

    def _update_total(self) -> None:
        total = self.total_mtm()
        colour = sign_colour(total) or theme.current().text
        open_count = sum(1 for p in self.model.rows() if p.is_open)
        self.total_label.setText(f"Open {open_count}   Total MTM "
                                 f"<b style='color:{colour}'>{format_rupees(total, signed=True)}</b>")
        if len(self.strategy_model):
            in_groups = sum(self.strategy_mtm(g) for g in self.strategy_model.rows())
            colour = sign_colour(in_groups) or theme.current().text
            self.strategy_total_label.setText(f"In strategies <b style='color:{colour}'>"
                                              f"{format_rupees(in_groups, signed=True)}</b>")

    # --- selection and actions ------------------------------------------------------------------
    def selected_position(self) -> Position | None:
        row = self.table.current_row()
        return self.model.item(row) if row >= 0 else None

    def selected_key(self) -> InstrumentKey | None:
        position = self.selected_position()
        return position.instrument_key if position else None

    def focus_primary(self) -> None:
        self.table.setFocus(Qt.ShortcutFocusReason)
        if self.table.current_row() < 0 and len(self.model):
            self.table.select_row(0)

    def selected_strategy(self) -> StrategyRow | None:
        row = self.strategy_table.current_row()
        return self.strategy_model.item(row) if row >= 0 else None

    def _update_strategy_buttons(self) -> None:
        rows = self.strategy_model.rows()
        self.exit_strategy_button.setEnabled(any(g.open_legs for g in rows))
        self.forget_strategy_button.setEnabled(bool(rows))

    def _chosen_strategy(self) -> StrategyRow | None:
        """The selected group, or the only one there is."""
        chosen = self.selected_strategy()
        if chosen is None and len(self.strategy_model) == 1:
            chosen = self.strategy_model.item(0)
        return chosen

    def exit_selected_strategy(self) -> None:
        group = self._chosen_strategy()
        if group is None:
            self.context.messages.info("Select a strategy to exit.")
            return
        requests = group_exit_requests(group.legs, self._positions)
        if not requests:
            self.context.messages.info(f"Strategy '{group.name}' has no open legs to exit.")
            return
        keys = {(r.account, r.instrument_key, r.product) for r in requests}
        if self._already_closing(keys, f"strategy '{group.name}'"):
            return
        lines = "\n".join(f"{r.side.value} {r.quantity} {self._symbol(r.instrument_key)}" for r in requests)
        if self._confirm("Exit strategy", f"Exit strategy '{group.name}' at market, shorts bought back first?"
                                          f"\n\n{lines}"):
            self._start_closing(keys, self.exit_strategy(group.name))

    def _drop_expired_closings(self) -> None:
        now = time.monotonic()
        self._release({key for key, until in self._closing_until.items() if until <= now})

    def _already_closing(self, keys: set[tuple], what: str) -> bool:
        self._drop_expired_closings()
        if keys & self._closing.keys():
            self.context.messages.warning(f"Not sent again: {what} is already being closed.",
                                          "Wait for the positions to show the fills.")
            return True
        return False

    def _start_closing(self, keys: set[tuple], closing) -> None:
        """Mark ``keys`` in flight now (before the next key press can be handled), then run ``closing``."""
        net = self._net_quantities()
        self._closing.update({key: net.get(key, 0) for key in keys})
        self.last_task = spawn(self._closing_while(keys, closing))

    async def _closing_while(self, keys: set[tuple], closing):
        """Run ``closing``; ``keys`` stay in flight until the positions show a change in them
        (``refresh``), or nothing reached the broker, or CLOSING_GRACE_S after it was sent."""
        result = None
        try:
            result = await closing
        finally:
            if accepted_any(result):
                until = time.monotonic() + CLOSING_GRACE_S
                self._closing_until.update({key: until for key in keys if key in self._closing})
                spawn(self.context.session.refresh_portfolio())
            else:
                self._release(keys)
        return result

    def _net_quantities(self) -> dict[tuple, int]:
        return {p.key: p.net_quantity for p in self._positions}

    def _release(self, keys: set[tuple]) -> None:
        for key in keys:
            self._closing.pop(key, None)
            self._closing_until.pop(key, None)

    async def exit_strategy(self, name: str):
        """Close the group's own open units at market, hedge first; returns the BasketResult (None if nothing)."""
        group = self.strategy_model.get(name)
        requests = group_exit_requests(group.legs, self._positions) if group else []
        if not requests:
            return None
        result = await place_basket(self.context.orders, requests, exit_only=True)
        if result.complete:
            self.context.messages.info(f"Strategy '{name}' exited: {len(result.legs)} closing orders placed.")
        else:
            self.context.messages.error(f"Strategy '{name}' exit stopped part way: "
                                        + "; ".join(describe(result, self._symbol)),
                                        "Check the order book; close what is left from the positions table.")
        return result

    def forget_selected_strategy(self) -> None:
        group = self._chosen_strategy()
        if group is None:
            return
        if group.open_legs and not self.confirm(
                "Forget strategy", f"Strategy '{group.name}' still has {group.open_legs} open leg(s). Forget it? "
                                   "The positions stay open."):
            return
        self.groups.remove(group.name)
        self.context.requests.strategy_groups_changed.emit()

    def _symbol(self, key: InstrumentKey) -> str:
        instrument = self.market.instrument(key)
        return instrument.trading_symbol if instrument else key

    def square_off_selected(self) -> None:
        position = self.selected_position()
        if position is None or not position.is_open:
            return
        if self._already_closing({position.key}, position.trading_symbol):
            return
        if self._confirm("Square off", f"Square off {position.trading_symbol} {position.product.value} "
                                       f"({position.net_quantity:+d}) at market?"):
            self._start_closing({position.key}, self.context.orders.square_off([position]))

    def square_off_all(self) -> None:
        positions = [p for p in self.model.rows() if p.is_open]
        if not positions:
            self.context.messages.info("There are no open positions to square off.")
            return
        self._drop_expired_closings()
        positions = [p for p in positions if p.key not in self._closing]  # those in flight are not sent again
        if not positions:
            self.context.messages.info("Every open position is already being closed.")
            return
        if self._confirm("Square off all", f"Square off all {len(positions)} open positions at market?"):
            self._start_closing({p.key for p in positions}, self.context.orders.square_off(positions))

    def _confirm(self, title: str, text: str) -> bool:
        if not self.context.settings.get("confirm", {}).get("square_off", True):
            return True
        return self.confirm(title, text)

    def confirm(self, title: str, text: str) -> bool:
        return ask_yes_no(self, title, text)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.KeyPress and event.key() == Qt.Key_Delete:
            if watched is self.table:
                self.square_off_selected()
                return True
            if watched is self.strategy_table:
                self.exit_selected_strategy()
                return True
        return super().eventFilter(watched, event)
