"""Funds: the account's money at a glance, with unrealised P&L live from positions."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from terminal.domain import Funds
from terminal.ui import theme
from terminal.ui.context import TerminalContext
from terminal.ui.models.table_model import format_rupees, sign_colour
from terminal.ui.widgets.table_view import tabular_font

# (label, how to read paise from Funds and the live unrealised P&L, signed and coloured?)
ROWS = (
    ("Opening balance", lambda f, u: f.opening_balance, False),
    ("Available cash", lambda f, u: f.available_cash, False),
    ("Used margin", lambda f, u: f.used_margin, False),
    ("Collateral", lambda f, u: f.collateral, False),
    ("Available margin", lambda f, u: f.available_margin, False),
    ("Realised P&L", lambda f, u: f.realised_pnl, True),
    ("Unrealised P&L", lambda f, u: u, True),
)


class FundsPanel(QWidget):
    panel_id = "funds"
    title = "Funds"

    def __init__(self, context: TerminalContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName(self.panel_id)
        self.context = context
        self._position_keys: set[str] = set()
        grid = QGridLayout()
        grid.setContentsMargins(10, 8, 10, 8)
        grid.setHorizontalSpacing(16)
        grid.setVerticalSpacing(4)
        self.values: dict[str, QLabel] = {}
        for at, (label, _read, _signed) in enumerate(ROWS):
            name = QLabel(label, self)
            value = QLabel("—", self)
            value.setFont(tabular_font(value.font()))
            value.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
            value.setTextInteractionFlags(Qt.TextSelectableByMouse)
            grid.addWidget(name, at, 0)
            grid.addWidget(value, at, 1)
            self.values[label] = value
        grid.setColumnStretch(1, 1)
        self.account_label = QLabel(self)
        self.account_label.setContentsMargins(10, 6, 10, 0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.account_label)
        layout.addLayout(grid)
        layout.addStretch(1)
        portfolio = context.portfolio
        portfolio.funds_changed.connect(self.refresh)
        portfolio.positions_changed.connect(self._on_positions)
        context.market.ticks_updated.connect(self._on_ticks)
        self._on_positions()

    def funds(self) -> Funds | None:
        found = self.context.portfolio.funds(self.context.account)
        return found[0] if found else None

    def live_unrealised(self) -> int | None:
        """Unrealised P&L of open positions at the last prices (paise); None without positions."""
        positions = [p for p in self.context.portfolio.positions(self.context.account) if p.is_open]
        if not positions:
            return None
        market = self.context.market
        return sum(p.unrealised_pnl(market.ltp(p.instrument_key) or p.average_price) for p in positions)

    def refresh(self) -> None:
        funds = self.funds()
        self.account_label.setText(f"Account <b>{self.context.account}</b>")
        if funds is None:
            for label in self.values.values():
                label.setText("—")
            return
        live = self.live_unrealised()
        unrealised = funds.unrealised_pnl if live is None else live
        for label, read, signed in ROWS:
            paise = read(funds, unrealised)
            widget = self.values[label]
            widget.setText(format_rupees(paise, signed))
            colour = sign_colour(paise) if signed else None
            if label == "Available margin" and paise < 0:
                colour = theme.current().negative
            widget.setStyleSheet(f"color: {colour};" if colour else "")

    def _on_positions(self) -> None:
        self._position_keys = {p.instrument_key for p in self.context.portfolio.positions(self.context.account)}
        self.refresh()

    def _on_ticks(self, keys: frozenset) -> None:
        if self._position_keys and not self._position_keys.isdisjoint(keys):
            self.refresh()

    def focus_primary(self) -> None:
        self.setFocus(Qt.ShortcutFocusReason)
