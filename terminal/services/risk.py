"""Pre-trade risk: the checks a professional terminal runs after validation and before the journal.

Limits come from the "risk" section of the settings (rupees, lots, percent, seconds), each with a
default. A violation stops the order before anything is journaled or sent, with a message and a
hint; softer findings become warnings or questions for the trader (``RiskVerdict.confirmations``,
asked through ``OrderService.confirm``).

An order that only reduces an open position (an exit, a square-off) is never blocked by the value,
quantity, open-order, daily-loss or entry-lock limits: taking risk off must always be possible.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace

from terminal.domain import Instrument, OrderRequest, OrderType, Position
from terminal.domain.money import PAISE_PER_RUPEE, format_price, format_rupees
from terminal.domain.validation import Problem

log = logging.getLogger(__name__)

SETTINGS_KEY = "risk"
SETTINGS_HINT = "The limit is in Settings > Risk (settings.json, section \"risk\")."


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Pre-trade limits. Money in rupees, quantities in lots, bands in percent, ages in seconds.

    A limit of 0 turns that check off.
    """

    # Order value is notional (one NIFTY futures lot is ~₹16 lakh), so F&O-sized defaults.
    max_order_value_rupees: int = 5_00_00_000  # one order before slicing: ₹5 crore
    max_order_lots: int = 100  # derivatives (lot size > 1); cash equity is bounded by value
    price_band_percent: float = 10.0  # limit/trigger price vs LTP: futures and equity
    option_price_band_percent: float = 40.0  # options move faster and sit on small premiums
    max_open_orders: int = 50  # open orders at the broker plus those being sent
    daily_loss_limit_rupees: int = 50_000  # day MTM below minus this: kill switch, no entries
    confirm_above_value_rupees: int = 1_00_00_000  # ask the trader before sending a bigger order: ₹1 crore
    stale_quote_seconds: float = 10.0  # a quote older than this is stale
    block_on_stale_quote: bool = False  # False: warn (and ask); True: refuse the order

    @classmethod
    def from_settings(cls, settings) -> "RiskLimits":
        """Read the "risk" section; a missing or malformed value falls back to its default (logged)."""
        section = settings.get(SETTINGS_KEY, {}) if settings is not None else {}
        return cls.from_dict(section if isinstance(section, dict) else {})

    @classmethod
    def from_dict(cls, values: dict) -> "RiskLimits":
        limits = cls()
        changes = {}
        for f in fields(cls):
            if f.name not in values:
                continue
            raw, default = values[f.name], getattr(limits, f.name)
            try:
                if isinstance(default, bool):
                    if not isinstance(raw, bool):
                        raise TypeError("expected true or false")
                    value = raw
                else:
                    value = type(default)(raw)
                    if value < 0:
                        raise ValueError("must not be negative")
            except (TypeError, ValueError) as exc:
                log.warning("Setting risk.%s = %r is invalid (%s); using %r.", f.name, raw, exc, default)
                continue
            changes[f.name] = value
        return replace(limits, **changes)

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(slots=True)
class RiskVerdict:
    """What the risk check found: problems block, warnings are shown, confirmations are asked."""

    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    confirmations: list[str] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return not self.problems


def day_mtm(positions: Iterable[Position], ltp_of: Callable[[str], int | None]) -> int:
    """Realised plus unrealised P&L of ``positions`` (paise); a position with no LTP counts realised only."""
    total = 0
    for position in positions:
        ltp = ltp_of(position.instrument_key)
        total += position.total_pnl(ltp) if ltp is not None and position.net_quantity else position.realised_pnl
    return total


def is_exit(request: OrderRequest, positions: Iterable[Position]) -> bool:
    """True if ``request`` only reduces an open position in the same instrument and product."""
    for position in positions:
        if (position.account == request.account and position.instrument_key == request.instrument_key
                and position.product == request.product and position.net_quantity):
            opposite = (position.net_quantity > 0) != (request.side.sign > 0)
            return opposite and request.quantity <= abs(position.net_quantity)
    return False


class RiskCheck:
    """Runs the pre-trade limits for one account's orders.

    ``market`` gives LTPs; ``portfolio`` (optional) gives open orders and positions; ``quote_age``
    (optional, e.g. ``FeedHealth.quote_age``) gives seconds since the last quote of a key, else the
    tick's own timestamp is used; ``lock`` is the kill switch's entry lock (optional).
    """

    def __init__(self, limits: RiskLimits, market, portfolio=None, *, quote_age=None, lock=None,
                 clock: Callable[[], float] = time.time):
        self.limits = limits
        self.market = market
        self.portfolio = portfolio
        self.quote_age = quote_age
        self.lock = lock
        self._clock = clock

    # --- the check -------------------------------------------------------------------------
    def check(self, request: OrderRequest, instrument: Instrument, *, slices: int = 1, in_flight: int = 0,
              exit_only: bool = False) -> RiskVerdict:
        """Every limit ``request`` breaks. ``slices``: how many orders it goes out as; ``in_flight``:
        orders being sent right now; ``exit_only``: the caller knows it closes a position."""
        verdict = RiskVerdict()
        positions = self._positions(request.account)
        exiting = exit_only or is_exit(request, positions)
        ltp = self.market.ltp(request.instrument_key)
        self._check_quote(request, instrument, ltp, verdict, exiting)
        self._check_band(request, instrument, ltp, verdict)
        if exiting:
            return verdict
        self._check_lock(request, verdict)
        self._check_size(request, instrument, ltp, verdict)
        self._check_open_orders(request, slices, in_flight, verdict)
        self._check_daily_loss(request, positions, verdict)
        return verdict

    def _check_lock(self, request: OrderRequest, verdict: RiskVerdict) -> None:
        if self.lock is not None and self.lock.is_locked(request.account):
            verdict.problems.append(Problem(
                "account", f"New entries are locked for today: {self.lock.reason(request.account)}.",
                "Exits (orders that reduce a position) are still allowed; the lock lifts on the next "
                "trading day (IST)."))

    def _check_quote(self, request: OrderRequest, instrument: Instrument, ltp: int | None, verdict: RiskVerdict,
                     exiting: bool) -> None:
        age = self.age_of_quote(request.instrument_key)
        limit = self.limits.stale_quote_seconds
        if age is not None and (not limit or age <= limit):
            return
        what = "no live quote" if age is None else f"its last quote is {age:.0f} s old"
        message = f"{instrument.display_name}: {what}; the price may be out of date."
        block = self.limits.block_on_stale_quote and not exiting
        hint = ("Wait for the feed to recover (the market watch marks stale rows) or check the price at the "
                "broker." + (" Blocking is set by risk.block_on_stale_quote." if block else ""))
        if block:
            verdict.problems.append(Problem("price", message, hint))
        else:
            verdict.warnings.append(Problem("price", message, hint))
            verdict.confirmations.append(f"{message} Send anyway?")

    def _check_band(self, request: OrderRequest, instrument: Instrument, ltp: int | None,
                    verdict: RiskVerdict) -> None:
        band = self.limits.option_price_band_percent if instrument.is_option else self.limits.price_band_percent
        if not band or not ltp:
            return
        for label, price in (("price", request.price), ("trigger price", request.trigger_price)):
            if not price:
                continue
            off = abs(price - ltp) * 100.0 / ltp
            if off > band:
                verdict.problems.append(Problem(
                    "price", f"{instrument.display_name}: {label} {format_price(price)} is {off:.1f}% away from "
                    f"the LTP {format_price(ltp)} (fat-finger band {band:g}%).",
                    f"Check the price for a typo. {SETTINGS_HINT}"))

    def _check_size(self, request: OrderRequest, instrument: Instrument, ltp: int | None,
                    verdict: RiskVerdict) -> None:
        limits = self.limits
        lots = request.quantity // instrument.lot_size
        if limits.max_order_lots and instrument.lot_size > 1 and lots > limits.max_order_lots:
            verdict.problems.append(Problem(
                "quantity", f"{instrument.display_name}: {lots} lots is above the limit of "
                f"{limits.max_order_lots} lots an order.", f"Reduce the quantity. {SETTINGS_HINT}"))
        value = order_value(request, ltp)
        if value is None:
            return
        if limits.max_order_value_rupees and value > limits.max_order_value_rupees * PAISE_PER_RUPEE:
            verdict.problems.append(Problem(
                "quantity", f"{instrument.display_name}: order value {format_rupees(value)} is above the limit of "
                f"{format_rupees(limits.max_order_value_rupees * PAISE_PER_RUPEE)}.",
                f"Reduce the quantity. {SETTINGS_HINT}"))
        elif limits.confirm_above_value_rupees and value > limits.confirm_above_value_rupees * PAISE_PER_RUPEE:
            verdict.confirmations.append(
                f"{request.side.value} {request.quantity} {instrument.display_name}: order value "
                f"{format_rupees(value)}. Send it?")

    def _check_open_orders(self, request: OrderRequest, slices: int, in_flight: int, verdict: RiskVerdict) -> None:
        limit = self.limits.max_open_orders
        if not limit or self.portfolio is None:
            return
        open_now = len(self.portfolio.open_orders(request.account)) + in_flight
        if open_now + slices > limit:
            verdict.problems.append(Problem(
                "account", f"{open_now} orders are open or being sent; {slices} more would pass the limit of {limit}.",
                f"Cancel some open orders first. {SETTINGS_HINT}"))

    def _check_daily_loss(self, request: OrderRequest, positions: list[Position], verdict: RiskVerdict) -> None:
        limit = self.limits.daily_loss_limit_rupees * PAISE_PER_RUPEE
        if not limit:
            return
        mtm = day_mtm(positions, self.market.ltp)
        if mtm <= -limit:
            verdict.problems.append(Problem(
                "account", f"Today's loss {format_rupees(mtm)} has reached the daily loss limit of "
                f"{format_rupees(limit)}.", "Only exits are allowed for the rest of the day."))

    # --- inputs ----------------------------------------------------------------------------
    def age_of_quote(self, key: str) -> float | None:
        """Seconds since the last quote of ``key``; None if the terminal has none."""
        if self.quote_age is not None:
            return self.quote_age(key)
        tick = self.market.tick(key)
        if tick is None:
            return None
        return max(0.0, self._clock() - tick.timestamp)

    def _positions(self, account: str) -> list[Position]:
        return self.portfolio.positions(account) if self.portfolio is not None else []


def order_value(request: OrderRequest, ltp: int | None) -> int | None:
    """Paise the order is worth at its own price (limit, else trigger, else the LTP); None if unknown."""
    if request.order_type in (OrderType.LIMIT, OrderType.SL) and request.price:
        price = request.price
    elif request.order_type is OrderType.SL_M and request.trigger_price:
        price = request.trigger_price
    else:
        price = ltp
    return price * request.quantity if price else None
