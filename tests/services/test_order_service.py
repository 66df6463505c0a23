"""The order path on the simulated exchange: validation, journal, lost replies, crash recovery."""

import pytest

from terminal.brokers.base import NetworkError, OrderOutcomeUnknown
from terminal.brokers.paper.broker import PaperBroker
from terminal.domain import OrderRequest, OrderType, Product, Side
from terminal.domain.catalog import InstrumentCatalog
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
    from terminal.domain import OrderModification

    assert run_async(service.modify(order, OrderModification(price=low + 5)))
    assert next(o for o in broker.order_book() if o.order_id == order.order_id).price == low + 5
    assert run_async(service.cancel(order))
    assert next(o for o in broker.order_book() if o.order_id == order.order_id).status.value == "CANCELLED"
    actions = sorted(e.action for e in journal.entries())
    assert actions == ["cancel", "modify", "place"]


class FlakyLinkBroker(PaperBroker):
    """The reply to every change is lost, and the first order-book lookups fail too."""

    def __init__(self, *args, failed_lookups=2, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = {"place": 0, "modify": 0, "cancel": 0, "lookup": 0}
        self.failed_lookups = failed_lookups

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


def test_place_modify_and_cancel_are_never_retried_but_lookups_are(exchange, tmp_path, run_async, monkeypatch):
    from terminal.domain import OrderModification
    from terminal.services import order_service

    monkeypatch.setattr(order_service, "RECONCILE_DELAYS_S", (0.0, 0.0, 0.0, 0.0, 0.0))
    broker = FlakyLinkBroker(exchange)
    service, journal, _ = make_service(broker, tmp_path)
    instrument = nifty_option(broker)
    request = buy(broker, instrument, price=resting_price(broker.quotes([instrument.key])[0]))
    [outcome] = run_async(service.place(request))
    assert outcome.state is JournalState.SENT  # settled by the third lookup
    assert broker.calls == {"place": 1, "modify": 0, "cancel": 0, "lookup": 3}
    order = broker.find_order_by_tag(request.tag)
    assert not run_async(service.modify(order, OrderModification(price=order.price + 5)))
    assert not run_async(service.cancel(order))
    assert broker.calls["modify"] == 1 and broker.calls["cancel"] == 1
    changes = [e for e in journal.entries() if e.action in ("modify", "cancel")]
    assert sorted(e.state for e in changes) == [JournalState.UNKNOWN, JournalState.UNKNOWN]
    assert len(broker.order_book()) == 1
