"""Strategy builder: legs from the chain or from templates, their payoff and greeks, placed hedge first.

Until placed, every leg is priced at the touch (ask to buy, bid to sell) and valued at its own
live IV, so the numbers and the chart move with the market. "Place basket" sends the BUY legs
together, then the SELL legs together once every BUY was accepted (``services.basket``); a
failure stops there, the panel lists what the broker holds, and "Unwind" takes it back. A placed
basket is saved as a named strategy group.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (
    QComboBox, QDoubleSpinBox, QGridLayout, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QMessageBox, QPushButton, QSpinBox,
    QSplitter, QVBoxLayout, QWidget,
)

from terminal.analytics import strategies as st
from terminal.analytics.strategies import Leg, StrategyError
from terminal.domain import InstrumentKey, OrderRequest, OrderType, Product, Side
from terminal.domain.money import format_price, group_indian
from terminal.services.background import spawn
from terminal.services.basket import (
    BasketResult, StrategyGroups, Unwind, describe, group_legs, place_basket, unwind,
)
from terminal.services.greeks_engine import CALL, PUT, ChainData
from terminal.ui import theme
from terminal.ui.models.table_model import (
    LEFT, RIGHT, Column, KeyedTableModel, format_rupees, side_colour,
)
from terminal.ui.widgets.table_view import TradingTableView

TEMPLATES = ("Long straddle", "Short straddle", "Long strangle", "Short strangle", "Bull call spread",
             "Bear put spread", "Iron condor", "Iron fly")
PICK_BY = ("Strikes from ATM", "Delta")


@dataclass(frozen=True, slots=True)
class BuilderLeg:
    """A leg as the trader set it: what, which way, how many lots. ``entry`` (paise) is fixed once placed."""

    key: InstrumentKey
    side: Side
    lots: int
    entry: int | None = None

    @property
    def row_key(self) -> tuple[InstrumentKey, Side]:
        return (self.key, self.side)


class StrategyBuilderPanel(QWidget):
    panel_id = "strategy_builder"
    title = "Strategy Builder"

    def __init__(self, context, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName(self.panel_id)
        self.context = context
        self.market = context.market
        self.groups = StrategyGroups(context.settings)
        self.legs: list[BuilderLeg] = []
        self.last_result: BasketResult | None = None
        self.last_unwind: Unwind | None = None
        self.last_task: asyncio.Task | None = None
        self.placed = False
        rate = context.settings.get("risk_free_rate", None)
        self.chain = ChainData(context.market, context.session, parent=self,
                               **({"rate": float(rate)} if isinstance(rate, (int, float)) else {}))
        self._build_widgets()
        self.chain.greeks_changed.connect(lambda _rows: self.refresh())
        self.chain.structure_changed.connect(self.refresh)
        context.market.catalog_changed.connect(self._fill_underlyings)
        self._fill_underlyings()

    # --- widgets ------------------------------------------------------------------------------------
    def _build_widgets(self) -> None:
        self.underlying_box = QComboBox(self)
        self.expiry_box = QComboBox(self)
        self.template_box = QComboBox(self)
        self.template_box.addItems(TEMPLATES)
        self.template_box.setCurrentText("Iron condor")
        self.pick_box = QComboBox(self)
        self.pick_box.addItems(PICK_BY)
        self.distance_box = QSpinBox(self, minimum=1, maximum=50, value=2, prefix="Dist ")
        self.delta_box = QDoubleSpinBox(self, minimum=0.05, maximum=0.45, value=0.20, singleStep=0.05, decimals=2,
                                        prefix="Δ ")
        self.wing_box = QSpinBox(self, minimum=1, maximum=50, value=2, prefix="Wing ")
        self.lots_box = QSpinBox(self, minimum=1, maximum=9999, value=1, prefix="Lots ")
        self.build_button = QPushButton("Build", self)
        self.build_button.clicked.connect(self.build_from_template)
        self.clear_button = QPushButton("Clear", self)
        self.clear_button.clicked.connect(self.clear)
        self.pick_box.currentIndexChanged.connect(self._show_pick)
        self.underlying_box.activated.connect(lambda _i: self.set_underlying(self.underlying_box.currentText()))
        self.expiry_box.activated.connect(lambda i: self._set_expiry(self.expiry_box.itemData(i)))

        top = QHBoxLayout()
        top.setContentsMargins(4, 3, 4, 3)
        for widget in (self.underlying_box, self.expiry_box, self.template_box, self.pick_box, self.distance_box,
                       self.delta_box, self.wing_box, self.lots_box, self.build_button, self.clear_button):
            top.addWidget(widget)
        top.addStretch(1)

        self.model = KeyedTableModel(self._columns(), key_of=lambda leg: leg.row_key, parent=self)
        self.table = TradingTableView(self)
        self.table.setModel(self.model)
        self.table.installEventFilter(self)
        self.table.horizontalHeader().setStretchLastSection(False)
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.Stretch)

        self.summary = {name: QLabel(self) for name in (
            "premium", "max_profit", "max_loss", "breakevens", "pnl", "delta", "gamma", "theta", "vega")}
        grid = QGridLayout()
        grid.setContentsMargins(6, 4, 6, 4)
        grid.setHorizontalSpacing(14)
        captions = (("premium", "Net premium"), ("max_profit", "Max profit"), ("max_loss", "Max loss"),
                    ("breakevens", "Breakevens"), ("pnl", "P&L now"), ("delta", "Delta"), ("gamma", "Gamma"),
                    ("theta", "Theta / day"), ("vega", "Vega / vol pt"))
        for at, (name, caption) in enumerate(captions):
            label = QLabel(caption, self)
            label.setStyleSheet(f"color: {theme.current().muted};")
            grid.addWidget(label, at % 5, 2 * (at // 5))
            self.summary[name].setTextFormat(Qt.RichText)
            self.summary[name].setObjectName(f"builder_{name}")
            grid.addWidget(self.summary[name], at % 5, 2 * (at // 5) + 1)

        self.name_edit = QLineEdit(self)
        self.name_edit.setPlaceholderText("Strategy group name")
        self.product_box = QComboBox(self)
        self.product_box.addItems([Product.NRML.value, Product.MIS.value])
        self.place_button = QPushButton("Place basket", self)
        self.place_button.setObjectName("place_basket")
        self.place_button.clicked.connect(self._confirm_and_place)
        self.unwind_button = QPushButton("Unwind", self)
        self.unwind_button.setObjectName("unwind_basket")
        self.unwind_button.setVisible(False)
        self.unwind_button.clicked.connect(lambda: self._start(self.unwind()))
        self.status_label = QLabel(self)
        self.status_label.setObjectName("basket_status")
        self.status_label.setTextFormat(Qt.RichText)
        self.status_label.setWordWrap(True)
        actions = QHBoxLayout()
        actions.setContentsMargins(4, 2, 4, 2)
        actions.addWidget(self.name_edit, 1)
        actions.addWidget(self.product_box)
        actions.addWidget(self.place_button)
        actions.addWidget(self.unwind_button)

        self.plot = pg.PlotWidget(self)
        self._setup_plot()

        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.table, 1)
        left_layout.addLayout(grid)
        left_layout.addLayout(actions)
        left_layout.addWidget(self.status_label)
        splitter = QSplitter(Qt.Horizontal, self)
        splitter.addWidget(left)
        splitter.addWidget(self.plot)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([560, 640])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        self._show_pick()

    def _setup_plot(self) -> None:
        t = theme.current()
        self.plot.setBackground(t.base)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.plot.setLabel("bottom", "Underlying at expiry (₹)")
        self.plot.setLabel("left", "P&L (₹)")
        self.plot.addLegend(offset=(10, 10))
        self.plot.setMouseEnabled(x=True, y=False)
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)
        zero = pg.InfiniteLine(pos=0, angle=0, pen=pg.mkPen(t.muted, width=1))
        self.plot.addItem(zero)
        # Profit and loss areas: the expiry payoff clipped at zero, filled against the zero line.
        self._zero_curve = pg.PlotCurveItem(pen=pg.mkPen(None))
        self._gain_curve = pg.PlotCurveItem(pen=pg.mkPen(None))
        self._loss_curve = pg.PlotCurveItem(pen=pg.mkPen(None))
        self.plot.addItem(pg.FillBetweenItem(self._gain_curve, self._zero_curve, brush=pg.mkBrush(38, 166, 154, 50)))
        self.plot.addItem(pg.FillBetweenItem(self._loss_curve, self._zero_curve, brush=pg.mkBrush(239, 83, 80, 50)))
        self.expiry_curve = self.plot.plot(name="At expiry", pen=pg.mkPen("#5b9cf5", width=2))
        self.today_curve = self.plot.plot(name="Today", pen=pg.mkPen("#f0b429", width=1.5, style=Qt.DashLine))
        self.spot_line = pg.InfiniteLine(angle=90, pen=pg.mkPen("#f0b429", width=1, style=Qt.DotLine),
                                         label="{value:,.0f}", labelOpts={"position": 0.95, "color": "#f0b429"})
        self.plot.addItem(self.spot_line)
        self.breakeven_lines: list[pg.InfiniteLine] = []

    def _columns(self) -> list[Column]:
        def instrument(leg: BuilderLeg):
            i = self.market.instrument(leg.key)
            return i.display_name if i else leg.key

        def value(name: str):
            def read(leg: BuilderLeg):
                where = self.chain.where(leg.key)
                return self.chain.value(name, *where) if where else math.nan
            return read

        return [
            Column("Side", lambda leg: leg.side, lambda s: s.value, LEFT, colour=side_colour, width=44),
            Column("Lots", lambda leg: leg.lots, str, RIGHT, width=40),
            Column("Instrument", instrument, width=180),
            Column("Price", self.leg_price, lambda p: format_price(p) if p else "–", RIGHT, width=70),
            Column("IV", value("iv"), lambda v: f"{100 * v:.2f}" if math.isfinite(v) else "", RIGHT, width=50),
            Column("Delta", value("delta"), lambda v: f"{v:+.3f}" if math.isfinite(v) else "", RIGHT, width=56),
        ]

    def _show_pick(self) -> None:
        by_delta = self.pick_box.currentIndex() == 1
        self.distance_box.setVisible(not by_delta)
        self.delta_box.setVisible(by_delta)

    # --- chain choice ---------------------------------------------------------------------------------
    def _fill_underlyings(self) -> None:
        names = self.chain.underlyings()
        self.underlying_box.clear()
        self.underlying_box.addItems(names)
        if names and not self.chain.underlying:
            self.set_underlying("NIFTY" if "NIFTY" in names else names[0])

    def set_underlying(self, name: str, expiry: datetime | None = None) -> None:
        """Build on ``name``'s chain (nearest expiry by default). Clears legs of another chain."""
        if self.legs and not self.placed and name != self.chain.underlying:
            self.clear()
        self.chain.set_underlying(name, expiry)
        self.underlying_box.setCurrentText(name)
        self.expiry_box.clear()
        for e in self.chain.expiries():
            self.expiry_box.addItem(f"{e:%d %b %Y}", e)
        self.expiry_box.setCurrentIndex(max(self.expiry_box.findData(self.chain.expiry), 0))

    def _set_expiry(self, expiry: datetime) -> None:
        if self.legs and not self.placed:
            self.clear()
        self.chain.set_expiry(expiry)

    # --- legs ---------------------------------------------------------------------------------------------
    def add_leg(self, side: Side, key: InstrumentKey, lots: int | None = None) -> bool:
        """Add a leg (from a chain click). The first leg picks the chain; later legs must share it."""
        instrument = self.market.instrument(key)
        if instrument is None or not instrument.is_option or instrument.expiry is None:
            self.context.messages.error(f"{key}: only options of one expiry can be added to the strategy builder.")
            return False
        if self.placed:
            self.clear()
        same_chain = instrument.underlying == self.chain.underlying and instrument.expiry == self.chain.expiry
        if not same_chain:
            if self.legs:
                self.context.messages.error(
                    f"{instrument.display_name} is not of {self.chain.underlying} {self.chain.expiry:%d %b}: "
                    "a strategy here has one underlying and one expiry.", "Clear the builder to start another.")
                return False
            self.set_underlying(instrument.underlying, instrument.expiry)
        lots = lots or self.lots_box.value()
        for at, leg in enumerate(self.legs):
            if leg.key == key and leg.side is side:
                self.legs[at] = replace(leg, lots=leg.lots + lots)
                break
        else:
            self.legs.append(BuilderLeg(key, side, lots))
        self.refresh()
        return True

    def remove_leg(self, row: int) -> None:
        if 0 <= row < len(self.legs):
            del self.legs[row]
            self.refresh()

    def clear(self) -> None:
        self.legs = []
        self.placed = False
        self.last_result = None
        self.unwind_button.setVisible(False)
        self.status_label.clear()
        self.refresh()

    def build_from_template(self) -> bool:
        """Replace the legs with the chosen template on the current chain; False (and a message) if it cannot."""
        try:
            legs = self.template_legs(self.template_box.currentText())
        except (StrategyError, ValueError) as exc:
            self.context.messages.error(f"Cannot build {self.template_box.currentText().lower()}: {exc}")
            return False
        self.placed = False
        self.last_result = None
        self.unwind_button.setVisible(False)
        self.status_label.clear()
        self.legs = [BuilderLeg(leg.instrument_key, leg.side, leg.lots) for leg in legs]
        self.refresh()
        return True

    def template_legs(self, template: str) -> list[Leg]:
        """The template's legs on the live chain, strikes by distance from ATM or by delta."""
        self.chain.recompute(emit=False)
        chain = self.chain.strategy_chain()
        lots, wing = self.lots_box.value(), self.wing_box.value()
        distance = put_distance = self.distance_box.value()
        if self.pick_box.currentIndex() == 1:
            forward = self.chain.analytics.forward if self.chain.analytics else math.nan
            if not math.isfinite(forward):
                raise StrategyError("no forward price yet to pick strikes by delta")
            now, target = self.chain.clock(), self.delta_box.value()
            distance = st.steps_by_delta(chain, st.CE, target, forward, now)
            put_distance = -st.steps_by_delta(chain, st.PE, target, forward, now)
        builders = {
            "Long straddle": lambda: st.long_straddle(chain, lots),
            "Short straddle": lambda: st.short_straddle(chain, lots),
            "Long strangle": lambda: st.strangle(chain, Side.BUY, distance, lots, put_width=put_distance),
            "Short strangle": lambda: st.strangle(chain, Side.SELL, distance, lots, put_width=put_distance),
            "Bull call spread": lambda: st.bull_call_spread(chain, distance, lots),
            "Bear put spread": lambda: st.bear_put_spread(chain, put_distance, lots),
            "Iron condor": lambda: st.iron_condor(chain, distance, wing, lots, put_distance=put_distance),
            "Iron fly": lambda: st.iron_butterfly(chain, wing, lots),
        }
        if template not in builders:
            raise StrategyError(f"unknown template {template!r}")
        return builders[template]()

    # --- valuation ------------------------------------------------------------------------------------------
    def leg_price(self, leg: BuilderLeg) -> int | None:
        """The leg's premium (paise): its entry once placed, else what its order would pay now."""
        if leg.entry is not None:
            return leg.entry
        return self.chain.touch_price(leg.key, leg.side)

    def strategy_legs(self) -> list[Leg]:
        """The legs as analytics ``Leg`` objects, at their prices and live IVs.

        A leg without an IV (its time value is under a tick) is valued at the ATM IV, the best
        estimate for a nearly worthless wing. Raises StrategyError when a leg has no price.
        """
        out = []
        fallback = self._atm_iv()
        for leg in self.legs:
            instrument = self.market.instrument(leg.key)
            price = self.leg_price(leg)
            if instrument is None or price is None:
                raise StrategyError(f"no price yet for {instrument.display_name if instrument else leg.key}")
            where = self.chain.where(leg.key)
            iv = self.chain.value("iv", *where) if where else math.nan
            iv = iv if math.isfinite(iv) else fallback
            out.append(Leg(leg.key, leg.side, leg.lots * instrument.lot_size, instrument.expiry, price,
                           instrument.option_type, instrument.strike, instrument.lot_size, iv))
        return out

    def _atm_iv(self) -> float | None:
        atm = self.chain.atm_row()
        if atm is None:
            return None
        ivs = [v for side in (CALL, PUT) if math.isfinite(v := self.chain.value("iv", atm, side))]
        return sum(ivs) / len(ivs) if ivs else None

    def refresh(self) -> None:
        """Recompute the table, the summary and the chart from the legs and the live chain."""
        self.table.show_rows(list(self.legs))
        self.model.refresh_all()
        try:
            legs = self.strategy_legs() if self.legs else []
        except StrategyError as exc:
            self._clear_summary(str(exc))
            return
        if not legs:
            self._clear_summary("")
            return
        self._show_summary(legs)

    def _clear_summary(self, why: str) -> None:
        for label in self.summary.values():
            label.setText("–")
        if why:
            self.summary["premium"].setText(f"<i>{why}</i>")
        for curve in (self.expiry_curve, self.today_curve, self._zero_curve, self._gain_curve, self._loss_curve):
            curve.setData([], [])

    def _show_summary(self, legs: list[Leg]) -> None:
        t = theme.current()
        summary = st.payoff_summary(legs)
        spot = self.chain.reference_price()
        centre = spot if math.isfinite(spot) else float(np.mean([leg.strike for leg in legs]))
        premium = summary.net_premium
        self.summary["premium"].setText(
            f"<b>{format_rupees(abs(premium))}</b> {'credit' if premium > 0 else 'debit' if premium < 0 else ''}")
        self.summary["max_profit"].setText(self._money(summary.max_profit, t))
        self.summary["max_loss"].setText(self._money(summary.max_loss, t))
        self.summary["breakevens"].setText(" / ".join(format_price(round(b)).removesuffix(".00")
                                                     for b in summary.breakevens) or "none")
        now = self.chain.clock()
        rate = self.chain.rate
        have_iv = all(leg.iv is not None for leg in legs)
        if have_iv:
            g = st.net_greeks(legs, centre, now, rate)
            pnl_now = float(st.pnl_at(legs, centre, now, rate))
            self.summary["pnl"].setText(self._money(pnl_now, t))
            self.summary["delta"].setText(f"{float(g.delta):+,.1f} units")
            self.summary["gamma"].setText(f"{float(g.gamma) * 100:+,.3f} /₹")
            self.summary["theta"].setText(self._money(float(g.theta), t))
            self.summary["vega"].setText(self._money(float(g.vega), t))
        else:
            for name in ("pnl", "delta", "gamma", "theta", "vega"):
                self.summary[name].setText("– (no IV yet)")
        furthest = max(abs(leg.strike - centre) for leg in legs) / centre
        grid = st.price_grid(legs, int(centre), span=min(max(2.0 * furthest, 0.02), 0.5), points=241)
        expiry = st.payoff_at_expiry(legs, grid) / 100.0
        x = grid / 100.0
        self.expiry_curve.setData(x, expiry)
        self._zero_curve.setData(x, np.zeros_like(x))
        self._gain_curve.setData(x, np.maximum(expiry, 0.0))
        self._loss_curve.setData(x, np.minimum(expiry, 0.0))
        self.plot.setXRange(float(x[0]), float(x[-1]), padding=0.01)
        self.today_curve.setData(x, st.pnl_at(legs, grid, now, rate) / 100.0 if have_iv else [])
        self.spot_line.setValue(centre / 100.0)
        for line in self.breakeven_lines:
            self.plot.removeItem(line)
        self.breakeven_lines = []
        for b in summary.breakevens:
            line = pg.InfiniteLine(pos=b / 100.0, angle=90, pen=pg.mkPen(t.muted, width=1, style=Qt.DashLine))
            self.plot.addItem(line)
            self.breakeven_lines.append(line)

    @staticmethod
    def _money(paise: float, t) -> str:
        if math.isinf(paise):
            return f"<b style='color:{t.positive if paise > 0 else t.negative}'>Unlimited</b>"
        colour = t.positive if paise > 0 else t.negative if paise < 0 else t.text
        return f"<b style='color:{colour}'>{format_rupees(round(paise), signed=True)}</b>"

    # --- placing ----------------------------------------------------------------------------------------------
    def basket_requests(self) -> list[OrderRequest]:
        """One LIMIT order per leg at the touch price, hedge first. Raises StrategyError if a leg has no quote."""
        product = Product(self.product_box.currentText())
        requests = []
        for leg in self.legs:
            instrument = self.market.instrument(leg.key)
            price = self.chain.touch_price(leg.key, leg.side)
            if instrument is None or not price:
                raise StrategyError(f"no quote for {instrument.display_name if instrument else leg.key}")
            requests.append(OrderRequest(self.context.account, leg.key, leg.side, leg.lots * instrument.lot_size,
                                         OrderType.LIMIT, product, price=price))
        return st.hedge_first(requests)

    def _confirm_and_place(self) -> None:
        if not self.legs:
            return
        lines = "\n".join(f"{leg.side.value} {leg.lots} lot(s) {self._name(leg.key)}" for leg in self.legs)
        answer = QMessageBox.question(self, "Place basket", f"Place these legs, buys first?\n\n{lines}")
        if answer == QMessageBox.Yes:
            self._start(self.place_basket())

    def _start(self, coro) -> None:
        self.last_task = spawn(coro)

    async def place_basket(self, name: str | None = None) -> BasketResult | None:
        """Place the legs hedge first; save them as a strategy group. Returns the result (None if refused)."""
        try:
            requests = self.basket_requests()
        except StrategyError as exc:
            self.context.messages.error(f"Basket not placed: {exc}")
            return None
        if not requests:
            return None
        name = (name or self.name_edit.text()).strip() or self._default_name()
        prices = {r.instrument_key: r.price for r in requests}
        self.place_button.setEnabled(False)
        self.status_label.setText("Placing: buy legs first…")
        try:
            result = await place_basket(self.context.orders, requests)
        finally:
            self.place_button.setEnabled(True)
        self.last_result = result
        if result.complete:
            self.legs = [replace(leg, entry=prices[leg.key]) for leg in self.legs]
            self.placed = True
            group = self.groups.unique_name(name)
            self.groups.save(group, group_legs(result, self.market.instrument))
            self.context.requests.strategy_groups_changed.emit()
            self.status_label.setText(f"<span style='color:{theme.current().positive}'>Placed {len(result.legs)} "
                                      f"legs; saved as strategy group <b>{group}</b>.</span>")
            self.context.messages.info(f"Basket placed hedge first: {len(result.legs)} legs, group '{group}'.")
            self.refresh()
        else:
            await self._show_failure(result)
        return result

    async def _show_failure(self, result: BasketResult) -> None:
        """List every leg: accepted (with what filled), failed (why), or held back."""
        t = theme.current()
        await self.context.session.refresh_orders()
        lines = []
        for leg in result.legs:
            r = leg.request
            colour = t.positive if leg.accepted else (t.negative if leg.sent else t.muted)
            filled = ""
            if leg.order_ids:
                done = sum(o.filled_quantity for i in leg.order_ids
                           if (o := self.context.portfolio.order(r.account, i)) is not None)
                filled = f" — filled {group_indian(done)} of {group_indian(r.quantity)}"
            lines.append(f"<span style='color:{colour}'>{r.side.value} {group_indian(r.quantity)} "
                         f"{self._name(r.instrument_key)}: {leg.status}{filled}</span>")
        holding = "Unwind takes back what the broker holds." if result.at_broker else "Nothing was placed."
        self.status_label.setText("<b>Basket stopped.</b><br>" + "<br>".join(lines) + f"<br>{holding}")
        self.unwind_button.setVisible(bool(result.at_broker))
        self.context.messages.error("Basket stopped part way: " + "; ".join(describe(result, self._name)),
                                    "Unwind in the strategy builder squares off the legs that went through.")

    async def unwind(self) -> Unwind | None:
        """Cancel what is still open of the failed basket and close what filled, hedge first."""
        if self.last_result is None or not self.last_result.at_broker:
            return None
        self.unwind_button.setEnabled(False)
        try:
            done = await unwind(self.context.orders, self.context.session, self.context.portfolio, self.last_result,
                                self.chain.touch_price)
        finally:
            self.unwind_button.setEnabled(True)
        self.last_unwind = done
        closing = done.closing
        ok = closing is None or closing.complete
        colour = theme.current().positive if ok else theme.current().negative
        text = (f"Unwound: {len(done.cancelled)} open order(s) cancelled, "
                f"{len(closing.legs) if closing else 0} closing order(s) sent.")
        if closing and not closing.complete:
            text += " Some closing orders failed: " + "; ".join(describe(closing, self._name))
        self.status_label.setText(f"<span style='color:{colour}'>{text}</span>")
        self.unwind_button.setVisible(not ok)
        if ok:
            self.last_result = None
        await self.context.session.refresh_portfolio()
        return done

    def _name(self, key: InstrumentKey) -> str:
        instrument = self.market.instrument(key)
        return instrument.display_name if instrument else key

    def _default_name(self) -> str:
        return f"{self.chain.underlying} {self.chain.expiry:%d%b} {self.template_box.currentText()}"

    # --- keys ------------------------------------------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.table and event.type() == QEvent.KeyPress and not event.modifiers():
            row = self.table.current_row()
            if event.key() == Qt.Key_Delete and row >= 0:
                self.remove_leg(row)
                return True
            if event.key() in (Qt.Key_Plus, Qt.Key_Minus, Qt.Key_Equal) and row >= 0:
                leg = self.legs[row]
                step = -1 if event.key() == Qt.Key_Minus else 1
                self.legs[row] = replace(leg, lots=max(1, leg.lots + step))
                self.refresh()
                return True
        return super().eventFilter(watched, event)

    def focus_primary(self) -> None:
        self.table.setFocus(Qt.ShortcutFocusReason)

    def closeEvent(self, event) -> None:
        self.chain.close()
        super().closeEvent(event)
