"""Modify and cancel under faults, shared by the Flattrade and Angel One fault suites.

The plan (what the trader changes on each resting order), the exchange behind the sandbox as
the witness (it counts, per order, each modify and cancel that reached it and each it carried
out), and the checks: every change settled in the running session, none carried out twice, and
what the journal says about each change is what the exchange did. Only the broker's side is
simulated; the OrderService, the journal and the adapter are the terminal's own.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from dataclasses import dataclass

from terminal.domain import Order, OrderModification, OrderStatus, Side
from terminal.services.order_service import OrderService
from terminal.sim.exchange import SimulatedExchange
from terminal.storage.journal import JournalState, OrderJournal

SETTLED = {JournalState.SENT, JournalState.REJECTED, JournalState.FAILED, JournalState.NOT_FOUND}


class CountingExchange(SimulatedExchange):
    """The sandbox's exchange, counting per (order id, "modify" | "cancel") the calls that reached it
    (``reached``) and the ones it carried out (``applied``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reached: Counter[tuple[str, str]] = Counter()
        self.applied: Counter[tuple[str, str]] = Counter()
        self._count_lock = threading.Lock()

    def _count(self, counter: Counter, order_id: str, action: str) -> None:
        with self._count_lock:
            counter[(order_id, action)] += 1

    def modify(self, account, order_id, modification):
        self._count(self.reached, order_id, "modify")
        order = super().modify(account, order_id, modification)
        self._count(self.applied, order_id, "modify")
        return order

    def cancel(self, account, order_id):
        self._count(self.reached, order_id, "cancel")
        order = super().cancel(account, order_id)
        self._count(self.applied, order_id, "cancel")
        return order


@dataclass(frozen=True)
class Change:
    order: Order  # as the terminal last saw it (a stale view for the cancel after a fill)
    action: str  # "modify" | "cancel"
    modification: OrderModification | None = None


def _on_tick(price: int, tick: int) -> int:
    return max(price // tick * tick, tick)


def plan_changes(orders: list[Order], quotes: dict, instruments: dict) -> list[list[Change]]:
    """For each resting order, in turn: modify closer to the market then cancel; cancel; modify
    quantity and price; modify through the market (it fills) then cancel the filled order."""
    plan = []
    for n, order in enumerate(orders):
        inst, quote = instruments[order.instrument_key], quotes[order.instrument_key]
        tick = inst.tick_size
        step = max(abs(quote.ltp - order.price) // 3 // tick * tick, tick)
        closer = order.price + order.side.sign * step  # still resting, a third nearer the market
        if order.side is Side.BUY:
            through = _on_tick((quote.best_ask or quote.ltp) * 101 // 100, tick)
        else:
            through = _on_tick((quote.best_bid or quote.ltp) * 99 // 100, tick)
        kind = n % 4
        if kind == 0:
            plan.append([Change(order, "modify", OrderModification(price=closer)), Change(order, "cancel")])
        elif kind == 1:
            plan.append([Change(order, "cancel")])
        elif kind == 2:
            more = OrderModification(quantity=order.quantity + inst.lot_size, price=closer)
            plan.append([Change(order, "modify", more)])
        else:
            plan.append([Change(order, "modify", OrderModification(price=through)), Change(order, "cancel")])
    return plan


async def run_changes(service: OrderService, plan: list[list[Change]], at_once: int) -> dict:
    """Each order's changes in sequence, ``at_once`` orders at a time; (order id, action) -> took effect."""
    gate = asyncio.Semaphore(at_once)
    took: dict[tuple[str, str], bool] = {}

    async def one(changes: list[Change]) -> None:
        async with gate:
            for change in changes:
                if change.action == "cancel":
                    result = await service.cancel(change.order)
                else:
                    result = await service.modify(change.order, change.modification)
                took[(change.order.order_id, change.action)] = result

    await asyncio.gather(*(one(changes) for changes in plan))
    return took


def outcome_of(entry) -> str:
    """What the trader was told, in a word, from the journal row of a change."""
    if entry.state is not JournalState.SENT:
        for words in ("already filled", "still open", "has no order"):
            if words in entry.detail:
                return f"{entry.state.value}: {words}"
        return entry.state.value
    if entry.detail.startswith("found at the broker: cancelled"):
        return "SENT: cancelled (found)"
    if entry.detail.startswith("found at the broker: modified"):
        return "SENT: modified (found)" + (", then filled" if "COMPLETE" in entry.detail else "")
    return "SENT"


def check_changes(journal: OrderJournal, exchange: CountingExchange, account: str, plan: list[list[Change]],
                  took: dict, checked: set[str]) -> Counter:
    """The exchange is the witness: assert the terminal's belief about every change and every order
    matches it; return the outcome figures. ``checked``: tags that went "unknown, checking"."""
    changes = [c for changes in plan for c in changes]
    rows = {(e.order_id, e.action): e for e in journal.entries(limit=100_000) if e.action in ("modify", "cancel")}
    assert len(rows) == len(changes) == len(took), (len(rows), len(changes), len(took))
    assert journal.unresolved() == []
    figures: Counter[str] = Counter()
    for change in changes:
        key = (change.order.order_id, change.action)
        entry = rows[key]
        assert entry.state in SETTLED, entry
        # Never carried out twice, never even reaching the order system twice.
        assert exchange.reached[key] <= 1 and exchange.applied[key] <= 1, (key, exchange.reached[key])
        # What the journal and the caller believe is what the exchange did.
        assert (entry.state is JournalState.SENT) == (exchange.applied[key] == 1), (key, entry)
        assert took[key] == (entry.state is JournalState.SENT), (key, entry, took[key])
        figures[f"{change.action} {outcome_of(entry)}" + (" after 'unknown, checking'" if entry.tag in checked
                                                           else "")] += 1
    for order_changes in plan:
        first = order_changes[0].order
        now = exchange.order(account, first.order_id)
        modify, cancel = rows.get((first.order_id, "modify")), rows.get((first.order_id, "cancel"))
        cancelled = cancel is not None and cancel.state is JournalState.SENT
        assert (now.status is OrderStatus.CANCELLED) == cancelled, (first.order_id, now.status, cancel)
        wanted = next(c.modification for c in order_changes if c.action == "modify") if modify else None
        if modify is not None and modify.state is JournalState.SENT:
            assert now.price == wanted.price, (now, wanted)
            assert now.quantity == (wanted.quantity or first.quantity), (now, wanted)
        else:
            assert (now.price, now.quantity) == (first.price, first.quantity), (now, first)
    return figures
