"""Placing a multi-leg basket hedge first, unwinding a basket that failed, and strategy groups.

The order of a basket is the rule of :func:`terminal.analytics.strategies.hedge_first`: every
BUY leg is sent first, all together; the SELL legs go, all together, only once every BUY was
accepted by the broker. The shorts then meet a margin that already sees their hedges, and a
failure part way leaves extra long options (risk: the premium) and never a naked short.
A leg above the freeze quantity is sliced by ``OrderService.place``; the leg counts as accepted
only if every slice was.

A placed basket is kept as a named strategy group in ``settings["strategy_groups"]``:
``{name: [{"account", "instrument_key", "product", "quantity"}]}`` with signed units (bought
positive). :func:`group_mtm` values a group from the positions and the last prices, and
:func:`group_exit_requests` closes the group's own units (sent hedge first again by
:func:`place_basket`: the shorts are bought back before their hedges are sold).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from terminal.domain import (
    AccountId, Instrument, InstrumentKey, Order, OrderRequest, OrderType, Position, Product, Side, slice_quantities,
)
from terminal.domain.money import format_quantity
from terminal.services.order_service import OrderService, Outcome

GROUPS_SETTING = "strategy_groups"


# --- placing -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LegOutcome:
    """What became of one leg: ``outcomes`` holds one Outcome per slice sent; empty when the leg
    was refused before sending (validation) or ``sent`` is False (held back after a failure)."""

    request: OrderRequest
    outcomes: tuple[Outcome, ...] = ()
    sent: bool = False

    @property
    def accepted(self) -> bool:
        return self.sent and bool(self.outcomes) and all(o.accepted for o in self.outcomes)

    @property
    def order_ids(self) -> list[str]:
        return [o.order_id for o in self.outcomes if o.accepted and o.order_id]

    @property
    def status(self) -> str:
        """In the trader's words: 'accepted (order 123)', 'rejected: reason', 'not sent'."""
        if not self.sent:
            return "not sent"
        if self.accepted:
            return f"accepted (order {', '.join(self.order_ids)})"
        if not self.outcomes:
            return "refused before sending (see the log)"
        problems = [f"{o.state.value.lower()}: {o.message}" if o.message else o.state.value.lower()
                    for o in self.outcomes if not o.accepted]
        partial = f"{len(self.order_ids)} of {len(self.outcomes)} slices accepted; " if self.order_ids else ""
        return partial + "; ".join(problems)


@dataclass(frozen=True, slots=True)
class BasketResult:
    """Every leg of a basket in the order it was sent (BUYs, then SELLs)."""

    legs: tuple[LegOutcome, ...]

    @property
    def complete(self) -> bool:
        return all(leg.accepted for leg in self.legs)

    @property
    def failed(self) -> list[LegOutcome]:
        return [leg for leg in self.legs if leg.sent and not leg.accepted]

    @property
    def at_broker(self) -> list[LegOutcome]:
        """Legs with at least one slice accepted: what the broker holds, to keep or to unwind."""
        return [leg for leg in self.legs if leg.order_ids]

    @property
    def held_back(self) -> list[LegOutcome]:
        return [leg for leg in self.legs if not leg.sent]


async def place_basket(orders: OrderService, requests: Sequence[OrderRequest], *,
                       exit_only: bool = False) -> BasketResult:
    """Send the BUY legs together, then, if every one was accepted, the SELL legs together.

    Returns every leg's outcome; the SELL legs are ``not sent`` when a BUY failed. Never raises
    for a refused leg: the result says what happened. ``exit_only``: every leg closes a position
    (the entry limits and the entry lock do not apply, as for a square-off).
    """
    if not requests:
        raise ValueError("a basket needs at least one leg")
    buys = [r for r in requests if r.side is Side.BUY]
    sells = [r for r in requests if r.side is not Side.BUY]
    done = list(await _send_all(orders, buys, exit_only))
    if all(leg.accepted for leg in done):
        done += await _send_all(orders, sells, exit_only)
    else:
        done += [LegOutcome(r) for r in sells]
    return BasketResult(tuple(done))


async def _send_all(orders: OrderService, requests: list[OrderRequest], exit_only: bool) -> list[LegOutcome]:
    results = await asyncio.gather(*(orders.place(r, exit_only=exit_only) for r in requests))
    return [LegOutcome(r, tuple(outcomes), True) for r, outcomes in zip(requests, results)]


# --- unwinding -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Unwind:
    """What unwinding did: the open orders cancelled, and the closing basket (None if nothing filled)."""

    cancelled: tuple[str, ...]
    closing: BasketResult | None


async def unwind(orders: OrderService, session, portfolio, result: BasketResult,
                 product_prices: Callable[[InstrumentKey, Side], int | None] | None = None) -> Unwind:
    """Take back what a failed basket left at the broker.

    Still-open orders of the basket are cancelled; then every filled quantity is closed with an
    opposite order, sent hedge first again (buying back shorts before selling the longs that
    protect them). Closing orders are MARKET unless ``product_prices(key, side)`` gives a limit
    price (paise). ``session`` refreshes the order book into ``portfolio``.
    """
    ids = [(leg, order_id) for leg in result.at_broker for order_id in leg.order_ids]
    await session.refresh_orders()
    cancelled = []
    for leg, order_id in ids:
        order = portfolio.order(leg.request.account, order_id)
        if order is not None and order.is_open and await orders.cancel(order):
            cancelled.append(order_id)
    if cancelled:
        await session.refresh_orders()  # a fill may have landed before the cancel: count it
    closing = []
    for leg in result.at_broker:
        filled = sum(_filled(portfolio.order(leg.request.account, order_id)) for order_id in leg.order_ids)
        if filled:
            closing.append(_closing_request(leg.request, filled, product_prices))
    if not closing:
        return Unwind(tuple(cancelled), None)
    return Unwind(tuple(cancelled), await place_basket(orders, closing, exit_only=True))


def _filled(order: Order | None) -> int:
    return order.filled_quantity if order is not None else 0


def _closing_request(request: OrderRequest, quantity: int,
                     prices: Callable[[InstrumentKey, Side], int | None] | None) -> OrderRequest:
    side = request.side.opposite
    price = prices(request.instrument_key, side) if prices else None
    return OrderRequest(account=request.account, instrument_key=request.instrument_key, side=side,
                        quantity=quantity, order_type=OrderType.LIMIT if price else OrderType.MARKET,
                        product=request.product, price=price or 0)


# --- strategy groups --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GroupLeg:
    """One member of a strategy group: the position it adds to, and its signed units (bought > 0)."""

    account: AccountId
    instrument_key: InstrumentKey
    product: Product
    quantity: int

    @property
    def position_key(self) -> tuple[AccountId, InstrumentKey, Product]:
        """The key of the position this leg adds to (``Position.key``)."""
        return (self.account, self.instrument_key, self.product)

    def to_dict(self) -> dict:
        return {"account": self.account, "instrument_key": self.instrument_key, "product": self.product.value,
                "quantity": self.quantity}

    @classmethod
    def from_dict(cls, data: dict) -> "GroupLeg":
        return cls(str(data["account"]), str(data["instrument_key"]), Product(data["product"]), int(data["quantity"]))


def group_legs(result: BasketResult, instrument_of: Callable[[InstrumentKey], Instrument | None]) -> list[GroupLeg]:
    """What the broker accepted of a basket, one leg per account, instrument and product, signed units."""
    totals: dict[tuple[AccountId, InstrumentKey, Product], int] = {}
    for leg in result.at_broker:
        r = leg.request
        key = (r.account, r.instrument_key, r.product)
        totals[key] = totals.get(key, 0) + r.side.sign * accepted_units(leg, instrument_of(r.instrument_key))
    return [GroupLeg(a, k, p, q) for (a, k, p), q in totals.items() if q]


def accepted_units(leg: LegOutcome, instrument: Instrument | None) -> int:
    """Units of the leg's accepted slices: outcomes come in the order ``slice_quantities`` gives."""
    if leg.accepted:
        return leg.request.quantity
    if instrument is None or not leg.outcomes:
        return 0
    slices = slice_quantities(leg.request.quantity, instrument)
    if len(slices) != len(leg.outcomes):
        return 0
    return sum(units for units, outcome in zip(slices, leg.outcomes) if outcome.accepted)


class StrategyGroups:
    """Named strategy groups persisted in the settings (``settings["strategy_groups"]``)."""

    def __init__(self, settings):
        self.settings = settings

    def _all(self) -> dict:
        groups = self.settings.get(GROUPS_SETTING, {})
        return groups if isinstance(groups, dict) else {}

    def names(self) -> list[str]:
        return sorted(self._all())

    def legs(self, name: str) -> list[GroupLeg]:
        """The group's legs; KeyError if there is no such group."""
        return [GroupLeg.from_dict(d) for d in self._all()[name]]

    def all_legs(self) -> dict[str, list[GroupLeg]]:
        """Every group's legs by name; a group whose stored legs are unreadable is left out."""
        groups = {}
        for name, stored in self._all().items():
            try:
                groups[name] = [GroupLeg.from_dict(d) for d in stored]
            except (KeyError, TypeError, ValueError):
                continue  # hand-edited settings: skip the group, keep the rest
        return groups

    def save(self, name: str, legs: Sequence[GroupLeg]) -> None:
        name = name.strip()
        if not name:
            raise ValueError("a strategy group needs a name")
        if not legs:
            raise ValueError(f"strategy group {name!r} has no legs")
        groups = self._all()
        groups[name] = [leg.to_dict() for leg in legs]
        self.settings.set(GROUPS_SETTING, groups)
        self.settings.save()

    def remove(self, name: str) -> bool:
        groups = self._all()
        if groups.pop(name, None) is None:
            return False
        self.settings.set(GROUPS_SETTING, groups)
        self.settings.save()
        return True

    def unique_name(self, wanted: str) -> str:
        """``wanted``, or ``wanted (2)``, ``(3)``... if taken."""
        names, name, n = set(self._all()), wanted, 1
        while name in names:
            n += 1
            name = f"{wanted} ({n})"
        return name


def claimants(groups: dict[str, Sequence[GroupLeg]]) -> dict[tuple, set[str]]:
    """Position key -> the names of the groups with a leg in that position."""
    claims: dict[tuple, set[str]] = {}
    for name, legs in groups.items():
        for leg in legs:
            claims.setdefault(leg.position_key, set()).add(name)
    return claims


def group_mtm(legs: Sequence[GroupLeg], positions: Sequence[Position],
              ltp: Callable[[InstrumentKey], int | None],
              shared: Callable[[GroupLeg], bool] = lambda leg: False) -> int:
    """The group's mark-to-market, paise.

    Per leg: a position no other group claims (``shared(leg)`` is False) counts whole, realised
    plus unrealised P&L, so legs partly closed by hand and a strategy already exited keep their
    booked P&L. A position two groups share counts only this group's units still open in it,
    marked from the position's average price (its booked P&L cannot be split). Legs with no
    position count zero; with no last price the average is used (no made-up MTM).
    """
    by_key = {p.key: p for p in positions}
    total = 0
    for leg in legs:
        position = by_key.get(leg.position_key)
        if position is None:
            continue
        price = position.mark_price(ltp(leg.instrument_key))
        if not shared(leg):
            total += position.total_pnl(price)
        else:
            total += (price - position.average_price) * open_units(leg, position) * position.multiplier
    return total


def open_units(leg: GroupLeg, position: Position | None) -> int:
    """The group's units of this leg still open: signed like the leg, never more than the position holds."""
    if position is None or not position.net_quantity or (position.net_quantity > 0) != (leg.quantity > 0):
        return 0
    units = min(abs(leg.quantity), abs(position.net_quantity))
    return units if leg.quantity > 0 else -units


def group_exit_requests(legs: Sequence[GroupLeg], positions: Sequence[Position]) -> list[OrderRequest]:
    """MARKET orders closing what is still open of the group's own units (sliced later by the service).

    A leg whose position went flat or turned the other way (closed by hand) gets no order: an exit
    never opens a new position.
    """
    by_key = {p.key: p for p in positions}
    requests = []
    for leg in legs:
        units = open_units(leg, by_key.get(leg.position_key))
        if units:
            requests.append(OrderRequest(account=leg.account, instrument_key=leg.instrument_key,
                                         side=Side.SELL if units > 0 else Side.BUY, quantity=abs(units),
                                         order_type=OrderType.MARKET, product=leg.product))
    return requests


def strategy_group_mtm(context, name: str) -> int:
    """A saved group's MTM (paise) from the context's positions and last prices; KeyError if unknown."""
    groups = StrategyGroups(context.settings)
    legs, claims = groups.legs(name), claimants(groups.all_legs())
    return group_mtm(legs, context.portfolio.positions(), context.market.ltp,
                     shared=lambda leg: len(claims.get(leg.position_key, ())) > 1)


def describe(result: BasketResult, name_of: Callable[[InstrumentKey], str]) -> list[str]:
    """One line per leg: side, units, instrument, and what became of it."""
    return [f"{leg.request.side.value} {format_quantity(leg.request.quantity)} {name_of(leg.request.instrument_key)}: "
            f"{leg.status}" for leg in result.legs]
