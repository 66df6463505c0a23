"""Placing, modifying and cancelling orders: validated, journaled, sent off the UI thread.

Before anything is journaled, the pre-trade risk check runs (services/risk.py): a violation is
a message with a hint and nothing is sent; a softer finding (a big order, a stale quote) is put
to the trader through the optional ``confirm`` callback the UI sets.

Every intent is written to the journal (on the pool thread, so the UI never waits on the disk)
before the broker call, and its outcome after. Nothing here retries a place, modify or cancel:
when the reply is lost the order is looked up by its client tag in the broker's order book,
and the UI is told "unknown, checking" until that lookup settles it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from terminal.brokers.base import (
    Broker, BrokerError, NetworkError, OrderOutcomeUnknown, OrderRejectedError,
)
from terminal.domain import (
    Order, OrderModification, OrderRequest, OrderType, Position, Side, new_client_tag, slice_order,
)
from terminal.domain.money import format_price, format_quantity
from terminal.domain.validation import Problem, check_modification, check_order
from terminal.services.background import BackgroundRunner
from terminal.services.kill_switch import EntryLock
from terminal.services.market_store import MarketStore
from terminal.services.messages import MessageLog
from terminal.services.risk import RiskCheck, RiskLimits
from terminal.storage.journal import JournalState, OrderJournal
from terminal.storage.redaction import redact

log = logging.getLogger(__name__)

RECONCILE_DELAYS_S = (0.5, 1.0, 2.0, 4.0, 8.0)  # read-only lookups may retry with backoff


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one order intent (one slice of a sliced order)."""

    tag: str
    state: JournalState
    order_id: str = ""
    message: str = ""

    @property
    def accepted(self) -> bool:
        return self.state is JournalState.SENT


class OrderService(QObject):
    intent_state_changed = Signal(str, str)  # tag, "sending" | "sent" | "rejected" | "unknown, checking" | ...

    def __init__(self, broker: Broker, market: MarketStore, journal: OrderJournal,
                 runner: BackgroundRunner, messages: MessageLog, parent=None, *, risk: RiskCheck | None = None):
        super().__init__(parent)
        self.broker = broker
        self.market = market  # for the instrument master, which arrives after login
        self.journal = journal
        self.runner = runner
        self.messages = messages
        self.allow_freeze_slicing = True
        # Default limits and an entry lock on disk, so that a service built without settings is still safe.
        self.risk = risk or RiskCheck(RiskLimits(), market, lock=EntryLock())
        #: Set by the UI: ask the trader a yes/no question (the text says what and why); None = never ask.
        self.confirm: Callable[[str], Awaitable[bool]] | None = None
        self._in_flight = 0  # slices between the risk check and the broker's answer

    # --- place ----------------------------------------------------------------------------------
    async def place(self, request: OrderRequest, *, exit_only: bool = False) -> list[Outcome]:
        """Validate, check risk, slice above the freeze quantity, journal and send.

        Returns one Outcome a slice, or [] when nothing was sent (invalid, refused by a risk limit,
        or declined at confirmation). ``exit_only``: the order closes a position (square-off), so
        the entry limits and the entry lock do not apply.
        """
        instrument = self.market.catalog.get(request.instrument_key)
        if instrument is None:
            self.messages.error(f"Unknown instrument {request.instrument_key}.",
                                "Invalid symbol: refresh the instrument master and search again.")
            return []
        problems = check_order(request, instrument, allow_freeze_slicing=self.allow_freeze_slicing)
        if problems:
            for problem in problems:
                self.messages.error(f"{instrument.display_name}: {problem.message}", problem.hint)
            return []
        slices = slice_order(request, instrument) if self.allow_freeze_slicing else [request]
        if not await self._passes_risk(request, instrument, len(slices), exit_only):
            return []
        if len(slices) > 1:
            self.messages.info(
                f"{instrument.display_name}: {format_quantity(request.quantity)} is above the freeze limit; "
                f"sending {len(slices)} orders of " + " + ".join(format_quantity(s.quantity) for s in slices) + ".")
        self._in_flight += len(slices)
        try:
            return list(await asyncio.gather(*(self._place_one(s, instrument.display_name) for s in slices)))
        finally:
            self._in_flight -= len(slices)

    async def _passes_risk(self, request: OrderRequest, instrument, slices: int, exit_only: bool) -> bool:
        """Run the pre-trade risk check; report what it found; ask the trader where it wants asking."""
        verdict = self.risk.check(request, instrument, slices=slices, in_flight=self._in_flight, exit_only=exit_only)
        if not verdict.allowed:
            for problem in verdict.problems:
                self.messages.error(f"Not sent: {problem.message}", problem.hint)
            return False
        for warning in verdict.warnings:
            self.messages.warning(warning.message, warning.hint)
        # A square-off was confirmed (or ordered by the kill switch) before it got here: no second question.
        if verdict.confirmations and self.confirm is not None and not exit_only:
            try:
                agreed = await self.confirm("\n".join(verdict.confirmations))
            except Exception:  # a broken dialog must not send an order nobody agreed to
                log.exception("Confirmation failed for %s", request.tag)
                agreed = False
            if not agreed:
                self.messages.info(f"Not sent: {instrument.display_name} order declined at confirmation.")
                return False
        return True

    async def _place_one(self, request: OrderRequest, name: str) -> Outcome:
        self.intent_state_changed.emit(request.tag, "sending")
        what = (f"{request.side.value} {format_quantity(request.quantity)} {name} "
                f"{request.order_type.value}" + (f" @ {format_price(request.price)}" if request.price else ""))
        try:
            order_id = await self.runner.run(self._journal_and_place, request)
        except OrderRejectedError as exc:
            await self.runner.run(self.journal.record_outcome, request.tag, JournalState.REJECTED, "",
                                  redact(exc.reason))
            self.messages.error(f"Rejected: {what}: {exc.reason}", exc.hint)
            self.intent_state_changed.emit(request.tag, "rejected")
            return Outcome(request.tag, JournalState.REJECTED, message=exc.reason)
        except (OrderOutcomeUnknown, NetworkError) as exc:
            return await self._settle_unknown(request, what, str(exc))
        except BrokerError as exc:  # session expired, rate limited: refused before processing
            await self.runner.run(self.journal.record_outcome, request.tag, JournalState.FAILED, "",
                                  redact(str(exc)))
            self.messages.error(f"Not sent: {what}: {exc}", exc.hint)
            self.intent_state_changed.emit(request.tag, "failed")
            return Outcome(request.tag, JournalState.FAILED, message=str(exc))
        except Exception as exc:  # a bug or a garbled reply: we cannot know, so reconcile
            log.exception("Unexpected error placing %s", request.tag)
            return await self._settle_unknown(request, what, f"unexpected error: {exc}")
        self.messages.info(f"Sent: {what} (order {order_id})")
        self.intent_state_changed.emit(request.tag, "sent")
        return Outcome(request.tag, JournalState.SENT, order_id)

    def _journal_and_place(self, request: OrderRequest) -> str:
        """Pool thread: the intent reaches the disk before the order reaches the broker."""
        self.journal.record_intent(request)
        order_id = self.broker.place_order(request)
        self.journal.record_outcome(request.tag, JournalState.SENT, order_id)
        return order_id

    async def _settle_unknown(self, request: OrderRequest, what: str, reason: str) -> Outcome:
        await self.runner.run(self.journal.record_outcome, request.tag, JournalState.UNKNOWN, "", redact(reason))
        self.messages.warning(f"Outcome unknown, checking: {what} ({reason})",
                              "The order is being looked up in the broker's order book; it will not be resent.")
        self.intent_state_changed.emit(request.tag, "unknown, checking")
        return await self.reconcile(request.tag)

    async def reconcile(self, tag: str) -> Outcome:
        """Settle an UNKNOWN or INTENT journal row by looking its tag up at the broker."""
        for delay in RECONCILE_DELAYS_S:
            try:
                order = await self.runner.run(self.broker.find_order_by_tag, tag)
            except BrokerError as exc:
                log.info("Reconcile lookup for %s failed (%s); retrying in %.1fs", tag, exc, delay)
                await asyncio.sleep(delay)
                continue
            if order is not None:
                await self.runner.run(self.journal.record_outcome, tag, JournalState.SENT, order.order_id,
                                      "found at the broker by tag")
                self.messages.info(f"Found order {order.order_id} for tag {tag} at the broker: {order.status.value}.")
                self.intent_state_changed.emit(tag, "sent")
                return Outcome(tag, JournalState.SENT, order.order_id)
            await self.runner.run(self.journal.record_outcome, tag, JournalState.NOT_FOUND, "",
                                  "no order with this tag at the broker")
            self.messages.warning(f"The broker has no order with tag {tag}: it was not placed.",
                                  "Place it again if you still want it.")
            self.intent_state_changed.emit(tag, "not placed")
            return Outcome(tag, JournalState.NOT_FOUND)
        self.messages.error(f"Could not reach the broker to check tag {tag}.",
                            "Check the order book before placing again; the terminal will check on the next start.")
        self.intent_state_changed.emit(tag, "unknown")
        return Outcome(tag, JournalState.UNKNOWN)

    async def reconcile_journal(self) -> list[Outcome]:
        """On start: settle every intent a crash or kill left without an outcome."""
        entries = await self.runner.run(self.journal.unresolved, self.broker.account)
        outcomes = []
        for entry in entries:
            if entry.action == "place":
                outcomes.append(await self.reconcile(entry.tag))
            else:  # a modify or cancel whose reply was lost: the order book shows what happened
                await self.runner.run(self.journal.record_outcome, entry.tag, JournalState.NOT_FOUND, "",
                                      "unresolved at start; order book refreshed instead")
        return outcomes

    # --- modify and cancel ----------------------------------------------------------------------
    async def modify(self, order: Order, modification: OrderModification) -> bool:
        instrument = self.market.catalog.get(order.instrument_key)
        if instrument is None:
            self.messages.error(f"Unknown instrument {order.instrument_key}.")
            return False
        problems = check_modification(modification, order.order_type, instrument, order.price,
                                      order.trigger_price, order.side)
        lock = self.risk.lock
        if (modification.quantity is not None and modification.quantity > order.quantity and lock is not None
                and lock.is_locked(order.account)):
            problems.append(Problem("quantity", f"New entries are locked for today: {lock.reason(order.account)}.",
                                    "An open order may be reduced or cancelled, not increased."))
        if problems:
            for problem in problems:
                self.messages.error(f"Modify {order.order_id}: {problem.message}", problem.hint)
            return False
        return await self._change(order, "modify", modification)

    async def cancel(self, order: Order) -> bool:
        return await self._change(order, "cancel", None)

    async def _change(self, order: Order, action: str, modification: OrderModification | None) -> bool:
        tag = new_client_tag()

        def send() -> None:
            self.journal.record_change_intent(tag, order.account, action, order.order_id, modification)
            if modification is None:
                self.broker.cancel_order(order.order_id)
            else:
                self.broker.modify_order(order.order_id, modification)
            self.journal.record_outcome(tag, JournalState.SENT, order.order_id)

        try:
            await self.runner.run(send)
        except BrokerError as exc:
            state = JournalState.UNKNOWN if isinstance(exc, NetworkError) else JournalState.REJECTED
            await self.runner.run(self.journal.record_outcome, tag, state, "", redact(str(exc)))
            self.messages.error(f"{action.capitalize()} of order {order.order_id} failed: {exc}", exc.hint)
            return False
        self.messages.info(f"{action.capitalize()} sent for order {order.order_id} ({order.trading_symbol}).")
        return True

    async def cancel_all(self, orders: list[Order]) -> int:
        """Cancel every open order given; returns how many cancels the broker accepted."""
        results = await asyncio.gather(*(self.cancel(o) for o in orders if o.is_open))
        return sum(results)

    # --- square off -----------------------------------------------------------------------------
    def square_off_request(self, position: Position) -> OrderRequest | None:
        if position.net_quantity == 0:
            return None
        return OrderRequest(
            account=position.account, instrument_key=position.instrument_key,
            side=Side.SELL if position.net_quantity > 0 else Side.BUY,
            quantity=abs(position.net_quantity), order_type=OrderType.MARKET, product=position.product,
        )

    async def square_off(self, positions: list[Position]) -> list[Outcome]:
        """Close each open position at market, sliced into freeze-safe orders."""
        requests = [r for r in (self.square_off_request(p) for p in positions) if r is not None]
        results = await asyncio.gather(*(self.place(r, exit_only=True) for r in requests))
        return [outcome for outcomes in results for outcome in outcomes]
