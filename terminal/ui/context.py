"""What every panel is given: the stores to read and listen to, and the services to ask.

A panel never talks to a broker: it reads stores, listens to their signals, and asks services
(whose blocking work runs off the UI thread). Methods named ``request_*`` here are how panels
ask the main window for cross-panel actions (open the order entry, show depth, open a chart).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import QObject, Signal

from terminal.domain import InstrumentKey, Side
from terminal.services.account_session import AccountSession
from terminal.services.background import BackgroundRunner
from terminal.services.feed_health import FeedHealth
from terminal.services.kill_switch import KillSwitch
from terminal.services.market_store import MarketStore
from terminal.services.messages import MessageLog
from terminal.services.order_service import OrderService
from terminal.services.portfolio_store import PortfolioStore
from terminal.storage.settings import Settings


class PanelRequests(QObject):
    """Cross-panel requests; the main window connects them to the right dock."""

    order_entry_requested = Signal(object, str, object, object)  # Side, key, quantity|None, price paise|None
    modify_order_requested = Signal(object)  # Order
    depth_requested = Signal(str)  # instrument key
    chart_requested = Signal(str)  # instrument key
    instrument_selected = Signal(str)  # the instrument the trader is looking at (market watch row)
    strategy_groups_changed = Signal()  # a strategy group was saved or forgotten (settings["strategy_groups"])


@dataclass
class TerminalContext:
    market: MarketStore
    portfolio: PortfolioStore
    messages: MessageLog
    orders: OrderService
    session: AccountSession
    settings: Settings
    runner: BackgroundRunner
    feed_health: FeedHealth | None = None
    kill_switch: KillSwitch | None = None
    requests: PanelRequests = field(default_factory=PanelRequests)

    @property
    def account(self) -> str:
        return self.session.account

    def request_order_entry(self, side: Side, key: InstrumentKey, quantity: int | None = None,
                            price: int | None = None) -> None:
        self.requests.order_entry_requested.emit(side, key, quantity, price)
