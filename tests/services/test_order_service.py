"""The order path on the simulated exchange: validation, journal, lost replies, crash recovery."""

import pytest

from terminal.brokers.base import NetworkError, OrderOutcomeUnknown
from terminal.brokers.paper.broker import PaperBroker
from terminal.domain import OrderModification, OrderRequest, OrderType, Product, Side
from terminal.domain.catalog import InstrumentCatalog
from terminal.domain.money import format_price, format_quantity
from terminal.services.background import BackgroundRunner
from terminal.services.market_store import MarketStore
from terminal.services.messages import Level, MessageLog
from terminal.services.order_service import OrderService
from terminal.sim.exchange import SimulatedExchange
from terminal.storage.journal import JournalState, OrderJournal


class ReplyLostBroker(PaperBroker):
    """Fault injection at the edge: the exchange takes the order, the reply never arrives."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.place_calls = 0

    def place_order(self, request):
        self.place_calls += 1
        super().place_order(request)
        raise OrderOutcomeUnknown("read timed out")


class NeverReachesBroker(PaperBroker):
    def place_order(self, request):
        raise OrderOutcomeUnknown("connection reset before the request was read")


@pytest.fixture
def exchange():
    return SimulatedExchange(seed=7)


def make_service(broker, tmp_path):
    broker.login()
    market = MarketStore(InstrumentCatalog(broker.instruments()))
    journal = OrderJournal(tmp_path / "journal.sqlite3")
    messages = MessageLog()
    return OrderService(broker, market, journal, BackgroundRunner(), messages), journal, messages


def nifty_option(broker):
    catalog = InstrumentCatalog(broker.instruments())
    expiry = catalog.expiries("NIFTY")[0]
    rows = catalog.option_chain("NIFTY", expiry)
    return rows[len(rows) // 2][1]


def resting_price(quote):
    """A buy price inside the exchange's band but well below the market, so the order rests."""
    return max(quote.ltp * 7 // 10 // 5 * 5, 5)


def buy(broker, instrument, lots=1, **kw):
    quote = broker.quotes([instrument.key])[0]
    fields = dict(account=broker.account, instrument_key=instrument.key, side=Side.BUY,
                  quantity=lots * instrument.lot_size, order_type=OrderType.LIMIT, product=Product.NRML,
                  price=quote.best_ask or quote.ltp)
    fields.update(kw)
    return OrderRequest(**fields)


def test_an_order_is_journaled_and_sent(exchange, tmp_path, run_async):
    broker = PaperBroker(exchange)
    service, journal, _ = make_service(broker, tmp_path)
    request = buy(broker, nifty_option(broker))
    [outcome] = run_async(service.place(request))
    assert outcome.accepted and outcome.order_id
    entry = journal.entry(request.tag)
    assert entry.state is JournalState.SENT and entry.order_id == outcome.order_id
    assert broker.find_order_by_tag(request.tag).order_id == outcome.order_id


def test_invalid_orders_never_reach_the_journal_or_the_broker(exchange, tmp_path, run_async):
    broker = PaperBroker(exchange)
    service, journal, messages = make_service(broker, tmp_path)
    request = buy(broker, nifty_option(broker), quantity=10)
    assert run_async(service.place(request)) == []
    assert journal.entries() == [] and broker.order_book() == []
    assert messages.messages()[-1].level is Level.ERROR and "lot size" in messages.messages()[-1].text


def test_a_rejection_is_journaled_with_the_reason_and_a_hint(exchange, tmp_path, run_async):
    broker = PaperBroker(exchange)
    service, journal, messages = make_service(broker, tmp_path)
    reliance = InstrumentCatalog(broker.instruments()).get("NSE:2885")
    huge = buy(broker, reliance, lots=2_000, product=Product.CNC)  # inside the risk limits, beyond the cash
    [outcome] = run_async(service.place(huge))
    assert outcome.state is JournalState.REJECTED and "funds" in outcome.message.lower()
    assert journal.entry(outcome.tag).state is JournalState.REJECTED
    assert journal.entry(outcome.tag).detail == outcome.message
    assert any(m.level is Level.ERROR and m.hint for m in messages.messages())


def test_freeze_quantity_orders_go_out_as_slices(exchange, tmp_path, run_async):
    broker = PaperBroker(exchange)
    service, journal, _ = make_service(broker, tmp_path)
    instrument = nifty_option(broker)
    quote = broker.quotes([instrument.key])[0]
    request = buy(broker, instrument, lots=40, price=resting_price(quote))  # rests, so cheap margin
    outcomes = run_async(service.place(request))
    assert all(o.accepted for o in outcomes)
    quantities = sorted(o.quantity for o in broker.order_book())
    assert len(outcomes) == 2 and quantities == [20 * 65, 20 * 65]


def test_a_lost_reply_is_reconciled_by_tag_and_never_resent(exchange, tmp_path, run_async):
    broker = ReplyLostBroker(exchange)
    service, journal, messages = make_service(broker, tmp_path)
    request = buy(broker, nifty_option(broker))
    states = []
    service.intent_state_changed.connect(lambda tag, state: states.append(state))
    [outcome] = run_async(service.place(request))
    assert broker.place_calls == 1
    assert outcome.state is JournalState.SENT
    assert [o.tag for o in broker.order_book()].count(request.tag) == 1
    assert journal.entry(request.tag).state is JournalState.SENT
    assert "unknown, checking" in states and states[-1] == "sent"


def test_a_request_that_never_arrived_is_reported_not_placed(exchange, tmp_path, run_async):
    broker = NeverReachesBroker(exchange)
    service, journal, _ = make_service(broker, tmp_path)
    request = buy(broker, nifty_option(broker))
    [outcome] = run_async(service.place(request))
    assert outcome.state is JournalState.NOT_FOUND
    assert broker.order_book() == []


def test_restart_after_a_crash_settles_every_open_intent(exchange, tmp_path, run_async):
    broker = PaperBroker(exchange)
    service, journal, _ = make_service(broker, tmp_path)
    instrument = nifty_option(broker)
    placed = buy(broker, instrument)
    lost = buy(broker, instrument)
    # Crash 1: killed after the broker took the order, before the outcome was journaled.
    journal.record_intent(placed)
    order_id = broker.place_order(placed)
    # Crash 2: killed after journaling, before sending.
    journal.record_intent(lost)
    journal.close()

    restarted, journal2, _ = make_service(PaperBroker(exchange), tmp_path)
    outcomes = {o.tag: o for o in run_async(restarted.reconcile_journal())}
    assert outcomes[placed.tag].state is JournalState.SENT and outcomes[placed.tag].order_id == order_id
    assert outcomes[lost.tag].state is JournalState.NOT_FOUND
    assert journal2.unresolved() == []
    assert len(broker.order_book()) == 1


def test_modify_and_cancel_are_journaled(exchange, tmp_path, run_async):
    broker = PaperBroker(exchange)
    service, journal, _ = make_service(broker, tmp_path)
    instrument = nifty_option(broker)
    quote = broker.quotes([instrument.key])[0]
    low = resting_price(quote)
    [outcome] = run_async(service.place(buy(broker, instrument, price=low)))
    order = next(o for o in broker.order_book() if o.order_id == outcome.order_id)
    assert run_async(service.modify(order, OrderModification(price=low + 5)))
    assert next(o for o in broker.order_book() if o.order_id == order.order_id).price == low + 5
    assert run_async(service.cancel(order))
    assert next(o for o in broker.order_book() if o.order_id == order.order_id).status.value == "CANCELLED"
    actions = sorted(e.action for e in journal.entries())
    assert actions == ["cancel", "modify", "place"]


class FlakyLinkBroker(PaperBroker):
    """Every change is lost on the way (never reaches the exchange), the reply to a placement is
    lost after it was placed, and the first look-ups by tag fail too; ``failing_books`` order-book
    reads fail when set."""

    def __init__(self, *args, failed_lookups=2, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = {"place": 0, "modify": 0, "cancel": 0, "lookup": 0, "book": 0}
        self.failed_lookups = failed_lookups
        self.failing_books = 0

    def place_order(self, request):
        self.calls["place"] += 1
        super().place_order(request)
        raise OrderOutcomeUnknown("reply lost")

    def modify_order(self, order_id, modification):
        self.calls["modify"] += 1
        raise NetworkError("connection reset")

    def cancel_order(self, order_id):
        self.calls["cancel"] += 1
        raise NetworkError("connection reset")

    def find_order_by_tag(self, tag):
        self.calls["lookup"] += 1
        if self.calls["lookup"] <= self.failed_lookups:
            raise NetworkError("order book timed out")
        return super().find_order_by_tag(tag)

    def order_book(self):
        self.calls["book"] += 1
        if self.failing_books:
            self.failing_books -= 1
            raise NetworkError("order book timed out")
        return super().order_book()


@pytest.fixture
def no_backoff(monkeypatch):
    """Look-ups still retry, without the real pauses."""
    from terminal.services import order_service

    monkeypatch.setattr(order_service, "RECONCILE_DELAYS_S", (0.0, 0.0, 0.0, 0.0, 0.0))


def resting_order(broker, service, run_async):
    instrument = nifty_option(broker)
    request = buy(broker, instrument, price=resting_price(broker.quotes([instrument.key])[0]))
    [outcome] = run_async(service.place(request))
    assert outcome.accepted
    return broker.find_order_by_tag(request.tag)


def at_exchange(exchange, order):
    return exchange.order(order.account, order.order_id)


def test_place_modify_and_cancel_are_never_retried_but_lookups_are(exchange, tmp_path, run_async, no_backoff):
    broker = FlakyLinkBroker(exchange)
    service, journal, _ = make_service(broker, tmp_path)
    instrument = nifty_option(broker)
    request = buy(broker, instrument, price=resting_price(broker.quotes([instrument.key])[0]))
    [outcome] = run_async(service.place(request))
    assert outcome.state is JournalState.SENT  # settled by the third lookup
    assert broker.calls["place"] == 1 and broker.calls["lookup"] == 3
    order = PaperBroker.find_order_by_tag(broker, request.tag)
    broker.failing_books, broker.calls["book"] = 4, 0
    assert not run_async(service.modify(order, OrderModification(price=order.price + 5)))
    assert not run_async(service.cancel(order))
    assert broker.calls["modify"] == 1 and broker.calls["cancel"] == 1
    assert broker.failing_books == 0 and broker.calls["book"] > 4  # the failed order-book reads were retried
    # Neither change reached the exchange, and the order book says so: settled, not left UNKNOWN.
    changes = [e for e in journal.entries() if e.action in ("modify", "cancel")]
    assert sorted(e.state for e in changes) == [JournalState.NOT_FOUND, JournalState.NOT_FOUND]
    assert journal.unresolved() == []
    assert len(broker.order_book()) == 1 and at_exchange(exchange, order) == order


class LostChangeReplies(PaperBroker):
    """The exchange carries out each modify and cancel, then the reply is lost."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = {"modify": 0, "cancel": 0}

    def modify_order(self, order_id, modification):
        self.calls["modify"] += 1
        super().modify_order(order_id, modification)
        raise OrderOutcomeUnknown("read timed out")

    def cancel_order(self, order_id):
        self.calls["cancel"] += 1
        super().cancel_order(order_id)
        raise OrderOutcomeUnknown("read timed out")


def test_a_lost_cancel_reply_is_settled_by_order_id_and_never_resent(exchange, tmp_path, run_async, no_backoff):
    broker = LostChangeReplies(exchange)
    service, journal, messages = make_service(broker, tmp_path)
    order = resting_order(broker, service, run_async)
    states = []
    service.intent_state_changed.connect(lambda tag, state: states.append((tag, state)))
    assert run_async(service.cancel(order)) is True
    assert broker.calls["cancel"] == 1
    assert at_exchange(exchange, order).status.value == "CANCELLED"
    [entry] = [e for e in journal.entries() if e.action == "cancel"]
    assert entry.state is JournalState.SENT and entry.order_id == order.order_id and "cancelled" in entry.detail
    assert [s for _, s in states] == ["sending", "unknown, checking", "sent"]
    assert {t for t, _ in states} == {entry.tag}
    said = messages.messages()
    assert any(m.level is Level.WARNING and "unknown, checking" in m.text.lower() and "not be resent" in m.hint
               for m in said)
    assert said[-1].level is Level.INFO and f"Cancel of order {order.order_id}" in said[-1].text \
        and "CANCELLED" in said[-1].text


def test_a_lost_modify_reply_reports_what_the_order_became(exchange, tmp_path, run_async, no_backoff):
    broker = LostChangeReplies(exchange)
    service, journal, messages = make_service(broker, tmp_path)
    order = resting_order(broker, service, run_async)
    change = OrderModification(quantity=2 * order.quantity, price=order.price + 5)
    assert run_async(service.modify(order, change)) is True
    assert broker.calls["modify"] == 1
    now = at_exchange(exchange, order)
    assert (now.quantity, now.price) == (2 * order.quantity, order.price + 5)
    [entry] = [e for e in journal.entries() if e.action == "modify"]
    assert entry.state is JournalState.SENT and "modified" in entry.detail
    text = messages.messages()[-1].text
    assert f"{format_quantity(2 * order.quantity)} @ {format_price(order.price + 5)}" in text and "OPEN" in text


class ChangesLostOnTheWay(PaperBroker):
    """Each modify and cancel is lost before it reaches the exchange (a reset, a 5xx at the gateway)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = {"modify": 0, "cancel": 0}

    def modify_order(self, order_id, modification):
        self.calls["modify"] += 1
        raise OrderOutcomeUnknown("HTTP 502 from the gateway")

    def cancel_order(self, order_id):
        self.calls["cancel"] += 1
        raise NetworkError("connection reset")


def test_a_change_that_never_arrived_reports_the_order_still_open(exchange, tmp_path, run_async, no_backoff):
    broker = ChangesLostOnTheWay(exchange)
    service, journal, messages = make_service(broker, tmp_path)
    order = resting_order(broker, service, run_async)
    states = []
    service.intent_state_changed.connect(lambda tag, state: states.append(state))
    assert run_async(service.modify(order, OrderModification(price=order.price + 5))) is False
    said = messages.messages()[-1]
    assert said.level is Level.WARNING and "still open as it was" in said.text and "not resent" in said.text
    assert "Modify it again" in said.hint
    assert run_async(service.cancel(order)) is False
    assert "still open" in messages.messages()[-1].text and "Cancel it again" in messages.messages()[-1].hint
    assert broker.calls == {"modify": 1, "cancel": 1}
    assert at_exchange(exchange, order) == order
    changes = [e for e in journal.entries() if e.action in ("modify", "cancel")]
    assert [e.state for e in changes] == [JournalState.NOT_FOUND, JournalState.NOT_FOUND]
    assert all("still open" in e.detail for e in changes)
    assert states == ["sending", "unknown, checking", "not placed"] * 2


def test_a_lost_cancel_of_an_order_that_filled_meanwhile_says_already_filled(exchange, tmp_path, run_async,
                                                                            no_backoff):
    broker = ChangesLostOnTheWay(exchange)
    service, journal, messages = make_service(broker, tmp_path)
    order = resting_order(broker, service, run_async)
    ask = broker.quotes([order.instrument_key])[0].best_ask
    exchange.modify(order.account, order.order_id, OrderModification(price=ask))  # e.g. from the broker's web page
    assert at_exchange(exchange, order).status.value == "COMPLETE"
    assert run_async(service.cancel(order)) is False  # the trader's stale view still showed it open
    said = messages.messages()[-1]
    assert said.level is Level.WARNING and "already filled" in said.text and "filled @ avg" in said.text
    [entry] = [e for e in journal.entries() if e.action == "cancel"]
    assert entry.state is JournalState.NOT_FOUND and "already filled" in entry.detail


def test_a_change_that_cannot_be_checked_stays_unknown_until_the_next_start(exchange, tmp_path, run_async,
                                                                           no_backoff):
    broker = LostChangeReplies(exchange)
    service, journal, messages = make_service(broker, tmp_path)
    order = resting_order(broker, service, run_async)
    broker.order_book = lambda: (_ for _ in ()).throw(NetworkError("order book timed out"))
    states = []
    service.intent_state_changed.connect(lambda tag, state: states.append(state))
    assert run_async(service.cancel(order)) is False
    assert states[-1] == "unknown" and messages.messages()[-1].level is Level.ERROR
    [entry] = journal.unresolved()
    assert entry.action == "cancel" and entry.state is JournalState.UNKNOWN
    journal.close()

    restarted, journal2, _ = make_service(PaperBroker(exchange), tmp_path)
    [outcome] = run_async(restarted.reconcile_journal())
    assert outcome.tag == entry.tag and outcome.state is JournalState.SENT
    assert journal2.unresolved() == [] and broker.calls["cancel"] == 1


def test_restart_settles_changes_by_order_id(exchange, tmp_path, run_async, no_backoff):
    broker = PaperBroker(exchange)
    service, journal, _ = make_service(broker, tmp_path)
    order = resting_order(broker, service, run_async)
    other = resting_order(broker, service, run_async)
    modified = OrderModification(price=order.price + 5)
    # Crash 1: killed after the exchange carried out the modify, before its outcome was journaled.
    journal.record_change_intent("TTMODIFIED", order.account, "modify", order.order_id, modified)
    broker.modify_order(order.order_id, modified)
    # Crash 2: killed after journaling a cancel, before sending it.
    journal.record_change_intent("TTNOTSENT", other.account, "cancel", other.order_id)
    journal.close()

    restarted, journal2, _ = make_service(PaperBroker(exchange), tmp_path)
    outcomes = {o.tag: o for o in run_async(restarted.reconcile_journal())}
    assert outcomes["TTMODIFIED"].state is JournalState.SENT
    assert outcomes["TTNOTSENT"].state is JournalState.NOT_FOUND
    assert at_exchange(exchange, other).is_open
    assert journal2.unresolved() == []


def test_a_market_modify_shown_as_the_same_protected_limit_is_not_taken_as_done():
    """Flattrade shows MARKET as a protected LIMIT: a lost modify-to-MARKET whose order still rests
    at its old limit price did not happen, and the trader must not be told it did."""
    from dataclasses import replace

    from terminal.domain import Order, OrderStatus, Validity
    from terminal.services.order_service import change_report, change_took_effect
    from terminal.storage.journal import JournalState

    before = Order("flattrade:X", "42", "NSE:2885", "RELIANCE-EQ", Side.BUY, 10, OrderType.LIMIT, Product.MIS,
                   Validity.DAY, OrderStatus.OPEN, price=100_00)
    to_market = OrderModification(order_type=OrderType.MARKET)
    unchanged = replace(before)
    assert not change_took_effect("modify", to_market, unchanged, before)
    assert not change_took_effect("modify", to_market, unchanged)  # nothing to compare with: no proof
    state, _, text, _ = change_report("modify", to_market, unchanged, before)
    assert state is JournalState.NOT_FOUND and "still open as it was" in text
    # Done: the broker re-priced it as a protected limit through the market, or it filled.
    assert change_took_effect("modify", to_market, replace(before, price=107_10), before)
    filled = replace(before, status=OrderStatus.COMPLETE, filled_quantity=10, average_price=105_00)
    assert change_took_effect("modify", to_market, filled, before)
