"""Placing, modifying and cancelling orders: validated, journaled, sent off the UI thread.

Before anything is journaled, the pre-trade risk check runs (services/risk.py): a violation is
a message with a hint and nothing is sent; a softer finding (a big order, a stale quote) is put
to the trader through the optional ``confirm`` callback the UI sets.

Every intent is written to the journal (on the pool thread, so the UI never waits on the disk)
before the broker call, and its outcome after. Nothing here retries a place, modify or cancel:
when the reply is lost, a placement is looked up by its client tag in the broker's order book
and a modify or cancel by its order's id (read-only look-ups retry with backoff); the UI is
told "unknown, checking" until that look-up settles it, and the trader what actually happened
(cancelled, still open, modified to X, already filled).
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
    Order, OrderModification, OrderRequest, OrderStatus, OrderType, Position, Side, new_client_tag, slice_order,
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
    # tag, "sending" | "sent" | "rejected" | "failed" | "unknown, checking" | "not placed" | "unknown".
    # A modify or cancel has a tag of its own; for it "sent" means it took effect, "not placed" not.
    intent_state_changed = Signal(str, str)

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
        order = await self._read_with_backoff(f"Reconcile lookup for {tag}", self.broker.find_order_by_tag, tag)
        if isinstance(order, Order):
            await self.runner.run(self.journal.record_outcome, tag, JournalState.SENT, order.order_id,
                                  "found at the broker by tag")
            self.messages.info(f"Found order {order.order_id} for tag {tag} at the broker: {order.status.value}.")
            self.intent_state_changed.emit(tag, "sent")
            return Outcome(tag, JournalState.SENT, order.order_id)
        if order is None:
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
        """On start: settle every intent a crash or kill left without an outcome (places by tag,
        modifies and cancels by their order's id)."""
        entries = await self.runner.run(self.journal.unresolved, self.broker.account)
        outcomes = []
        for entry in entries:
            if entry.action == "place":
                outcomes.append(await self.reconcile(entry.tag))
            else:
                modification = _modification_from_journal(entry.payload) if entry.action == "modify" else None
                outcomes.append(await self.reconcile_change(entry.tag, entry.order_id, entry.action, modification))
        return outcomes

    # --- modify and cancel ----------------------------------------------------------------------
    async def modify(self, order: Order, modification: OrderModification) -> bool:
        """Send one modification of an open order; True when it took effect at the broker."""
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
        """Send one cancel; True when the order is cancelled at the broker."""
        return await self._change(order, "cancel", None)

    async def _change(self, order: Order, action: str, modification: OrderModification | None) -> bool:
        """Journal, send once, and settle: a lost reply is looked up by order id, never resent."""
        tag = new_client_tag()
        what = _change_words(order.order_id, action, modification)
        journaled = False

        def send() -> None:
            nonlocal journaled
            self.journal.record_change_intent(tag, order.account, action, order.order_id, modification)
            journaled = True
            if modification is None:
                self.broker.cancel_order(order.order_id)
            else:
                self.broker.modify_order(order.order_id, modification)
            self.journal.record_outcome(tag, JournalState.SENT, order.order_id)

        self.intent_state_changed.emit(tag, "sending")
        try:
            await self.runner.run(send)
        except OrderRejectedError as exc:
            return await self._change_refused(tag, what, JournalState.REJECTED, exc)
        except (OrderOutcomeUnknown, NetworkError) as exc:
            return await self._settle_unknown_change(tag, order, action, modification, what, str(exc))
        except BrokerError as exc:  # session expired, rate limited, a failed look-up before sending
            return await self._change_refused(tag, what, JournalState.FAILED, exc)
        except Exception as exc:
            if not journaled:  # failed before the request could leave: nothing to check
                log.exception("Could not journal %s", what)
                self.messages.error(f"{what} not sent: {exc}")
                self.intent_state_changed.emit(tag, "failed")
                return False
            log.exception("Unexpected error sending %s", what)  # a bug or a garbled reply: we cannot know
            return await self._settle_unknown_change(tag, order, action, modification, what,
                                                     f"unexpected error: {exc}")
        self.messages.info(f"{what} sent ({order.trading_symbol}).")
        self.intent_state_changed.emit(tag, "sent")
        return True

    async def _change_refused(self, tag: str, what: str, state: JournalState, exc: BrokerError) -> bool:
        """REJECTED: the broker said no. FAILED: it never got that far (rate limit, expired session,
        a look-up before sending). Either way the change did not happen."""
        await self.runner.run(self.journal.record_outcome, tag, state, "", redact(str(exc)))
        self.messages.error(f"{what} failed: {exc}", exc.hint)
        self.intent_state_changed.emit(tag, UI_STATE[state])
        return False

    async def _settle_unknown_change(self, tag: str, before: Order, action: str,
                                     modification: OrderModification | None, what: str, reason: str) -> bool:
        order_id = before.order_id
        await self.runner.run(self.journal.record_outcome, tag, JournalState.UNKNOWN, "", redact(reason))
        self.messages.warning(f"Outcome unknown, checking: {what} ({reason})",
                              f"Order {order_id} is being looked up in the broker's order book; "
                              f"the {action} will not be resent.")
        self.intent_state_changed.emit(tag, "unknown, checking")
        outcome = await self.reconcile_change(tag, order_id, action, modification, before)
        return outcome.accepted

    async def reconcile_change(self, tag: str, order_id: str, action: str,
                               modification: OrderModification | None, before: Order | None = None) -> Outcome:
        """Settle a modify or cancel whose outcome is unknown from the order as the broker shows it.

        SENT: the change shows (cancelled; modified to the asked values). NOT_FOUND: it does not
        (still open as it was, already filled, no such order). UNKNOWN: the broker could not be
        reached. Nothing is ever resent from here. ``before``: the order as it was when the change
        was sent (None when settling the journal at start), see :func:`change_took_effect`.
        """
        order = await self._look_up_order(order_id)
        if isinstance(order, Order) and order.is_open and not change_took_effect(action, modification, order, before):
            # An order system may show a change a moment after it acted: look once more before
            # telling the trader that it did not happen.
            await asyncio.sleep(RECONCILE_DELAYS_S[0])
            again = await self._look_up_order(order_id)
            order = order if again is _UNREACHABLE else again
        what = _change_words(order_id, action, modification)
        if order is _UNREACHABLE:
            self.messages.error(f"Could not reach the broker to check: {what}.",
                                "Check the order book before changing the order again; "
                                "the terminal will check on the next start.")
            self.intent_state_changed.emit(tag, "unknown")
            return Outcome(tag, JournalState.UNKNOWN, order_id)
        if order is None:
            return await self._settle_change(tag, JournalState.NOT_FOUND, order_id,
                                             f"the broker's order book has no order {order_id}",
                                             f"{what}: the broker's order book has no order {order_id}.",
                                             "Refresh the order book; the order may be from another day.")
        state, detail, text, hint = change_report(action, modification, order, before)
        return await self._settle_change(tag, state, order_id, detail, f"{what}: {text}", hint)

    async def _settle_change(self, tag: str, state: JournalState, order_id: str, detail: str, text: str,
                             hint: str) -> Outcome:
        await self.runner.run(self.journal.record_outcome, tag, state, order_id, detail)
        if state is JournalState.SENT:
            self.messages.info(text)
        else:
            self.messages.warning(text, hint)
        self.intent_state_changed.emit(tag, UI_STATE[state])
        return Outcome(tag, state, order_id, detail)

    async def _look_up_order(self, order_id: str):
        """The order from a fresh order book, None if absent, _UNREACHABLE if every look-up failed."""
        book = await self._read_with_backoff(f"Order book look-up for {order_id}", self.broker.order_book)
        return book if book is _UNREACHABLE else next((o for o in book if o.order_id == order_id), None)

    async def _read_with_backoff(self, what: str, read, *args):
        """A read-only broker call on the pool, tried again after each of RECONCILE_DELAYS_S when it
        fails (never a place, modify or cancel); _UNREACHABLE if every try failed."""
        for attempt, delay in enumerate(RECONCILE_DELAYS_S):
            try:
                return await self.runner.run(read, *args)
            except BrokerError as exc:
                if attempt == len(RECONCILE_DELAYS_S) - 1:
                    break
                log.info("%s failed (%s); retrying in %.1fs", what, exc, delay)
                await asyncio.sleep(delay)
        return _UNREACHABLE

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


# --- settling a modify or cancel whose reply was lost -------------------------------------------------
# What the UI is told when an intent settles. For a modify or cancel, "sent" means it took effect
# and "not placed" that it did not (the order panel clears the intent on these words).
UI_STATE = {JournalState.SENT: "sent", JournalState.REJECTED: "rejected", JournalState.FAILED: "failed",
            JournalState.NOT_FOUND: "not placed", JournalState.UNKNOWN: "unknown"}
_UNREACHABLE = object()  # every order-book look-up failed


def change_took_effect(action: str, modification: OrderModification | None, order: Order,
                       before: Order | None = None) -> bool:
    """Whether ``order`` (as the broker shows it) carries the cancel or the modification.

    A modification shows when every field it set has its new value. A MARKET or SL-M change may
    show as a protected LIMIT or SL order (brokers without market orders), so its price is not
    compared with the modification's; but while the order is still open, a LIMIT (SL) at the price
    it had ``before`` proves nothing, and with no ``before`` nothing can be proved: the change is
    then not taken as done (the trader is told to look, never that an unfilled order was changed).
    """
    if action == "cancel":
        return order.status is OrderStatus.CANCELLED
    if modification is None:
        return False
    new_type = modification.order_type or order.order_type
    if modification.order_type is not None and order.order_type is not new_type:
        if PROTECTED_AS.get(new_type) is not order.order_type:
            return False
        if order.is_open and (before is None or (before.order_type is order.order_type
                                                 and before.price == order.price
                                                 and before.trigger_price == order.trigger_price)):
            return False  # shown as the protected type, but nothing moved: no proof of the change
    if modification.quantity is not None and order.quantity != modification.quantity:
        return False
    if modification.price is not None and new_type.needs_price and order.price != modification.price:
        return False
    return not (modification.trigger_price is not None and new_type.needs_trigger
                and order.trigger_price != modification.trigger_price)


PROTECTED_AS = {OrderType.MARKET: OrderType.LIMIT, OrderType.SL_M: OrderType.SL}


def change_report(action: str, modification: OrderModification | None,
                  order: Order, before: Order | None = None) -> tuple[JournalState, str, str, str]:
    """(journal state, journal detail, what the trader is told, hint) for a settled change."""
    shown = order_words(order)
    if change_took_effect(action, modification, order, before):
        done = "cancelled" if action == "cancel" else "modified"
        return (JournalState.SENT, f"found at the broker: {done} ({shown})",
                f"done; the broker shows the order {shown}.", "")
    verb = action.capitalize()
    if order.status is OrderStatus.COMPLETE:
        return (JournalState.NOT_FOUND, f"not done: the order was already filled ({shown})",
                f"not done: the order was already filled ({shown}).",
                "Check the position: the order filled before the change could take effect.")
    if not order.is_open:
        return (JournalState.NOT_FOUND, f"not done: the order is {order.status.value} ({shown})",
                f"not done: the order is {order.status.value} ({shown}).", "")
    return (JournalState.NOT_FOUND, f"not done: the order is still open, unchanged ({shown})",
            f"not done: the order is still open as it was ({shown}); the {action} was not resent.",
            f"{verb} it again if you still want to.")


def order_words(order: Order) -> str:
    """'OPEN, 130 @ 101.50' / 'COMPLETE, 130 @ 101.50, trigger 100.00, 130 filled @ avg 101.45' (rupees)."""
    price = f" @ {format_price(order.price)}" if order.price else " at market"
    text = f"{order.status.value}, {format_quantity(order.quantity)}{price}"
    if order.trigger_price:
        text += f", trigger {format_price(order.trigger_price)}"
    if order.filled_quantity:
        text += f", {format_quantity(order.filled_quantity)} filled @ avg {format_price(order.average_price)}"
    return text


def _change_words(order_id: str, action: str, modification: OrderModification | None) -> str:
    """'Cancel of order 123' / 'Modify of order 123 (to qty 130, price 101.50)' (prices in rupees)."""
    head = f"{action.capitalize()} of order {order_id}"
    if modification is None:
        return head
    parts = []
    if modification.quantity is not None:
        parts.append(f"qty {format_quantity(modification.quantity)}")
    if modification.price is not None:
        parts.append(f"price {format_price(modification.price)}")
    if modification.trigger_price is not None:
        parts.append(f"trigger {format_price(modification.trigger_price)}")
    if modification.order_type is not None:
        parts.append(modification.order_type.value)
    return f"{head} (to {', '.join(parts)})" if parts else head


def _modification_from_journal(payload: dict) -> OrderModification:
    """The modification a journal row holds (as ``record_change_intent`` wrote it)."""
    kind = payload.get("order_type")
    return OrderModification(quantity=payload.get("quantity"), price=payload.get("price"),
                             trigger_price=payload.get("trigger_price"),
                             order_type=OrderType(kind) if kind else None)
