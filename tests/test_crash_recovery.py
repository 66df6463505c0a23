"""kill -9 in the middle of placing an order, then a restart: nothing lost, nothing doubled.

The exchange must outlive the crashed terminal, as a real broker does, so it runs in a separate
server process (a multiprocessing manager on loopback) that both the terminal process and the
restarted one reach through the PaperBroker. The terminal is a real child process running the
unmodified OrderService with its journal under TRADING_TERMINAL_HOME; it kills itself with
SIGKILL at a chosen point of the broker call (CRASH_AT), so no cleanup, flush or finally runs.

Run as a script, this file is that child process.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import signal
import subprocess
import sys
from multiprocessing.managers import BaseManager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the child is started as a plain script
    sys.path.insert(0, str(ROOT))

from terminal.brokers.paper.broker import PaperBroker  # noqa: E402
from terminal.sim.exchange import SimulatedExchange  # noqa: E402

AUTHKEY = b"crash-recovery-test"
_exchange: SimulatedExchange | None = None


def _the_exchange() -> SimulatedExchange:
    global _exchange
    if _exchange is None:
        _exchange = SimulatedExchange(seed=9)
    return _exchange


class ExchangeManager(BaseManager):
    pass


ExchangeManager.register("exchange", callable=_the_exchange)


class CrashingBroker(PaperBroker):
    """The paper broker over the remote exchange, dying by SIGKILL around the ``crash_on``-th placement."""

    def __init__(self, exchange, crash_at: str, crash_on: int):
        super().__init__(exchange)
        self.crash_at, self.crash_on, self.calls = crash_at, crash_on, 0

    def place_order(self, request):
        self.calls += 1
        if self.crash_at == "before_send" and self.calls == self.crash_on:
            os.kill(os.getpid(), signal.SIGKILL)  # intent journaled, request never left
        order_id = super().place_order(request)
        if self.crash_at == "after_send" and self.calls == self.crash_on:
            os.kill(os.getpid(), signal.SIGKILL)  # accepted at the exchange, reply never journaled
        return order_id


def nifty_option(instruments):
    from terminal.domain.catalog import InstrumentCatalog

    catalog = InstrumentCatalog(instruments)
    rows = catalog.option_chain("NIFTY", catalog.expiries("NIFTY")[0])
    return catalog, rows[len(rows) // 2][1]


def child_main(host: str, port: int, crash_at: str, crash_on: int, lots: int) -> None:
    """The terminal: place one order (sliced above the freeze limit) through the OrderService."""
    from terminal.domain import OrderRequest, OrderType, Product, Side
    from terminal.services.background import BackgroundRunner
    from terminal.services.market_store import MarketStore
    from terminal.services.messages import MessageLog
    from terminal.services.order_service import OrderService
    from terminal.storage.journal import OrderJournal
    from terminal.storage.paths import data_dir

    manager = ExchangeManager(address=(host, port), authkey=AUTHKEY)
    manager.connect()
    broker = CrashingBroker(manager.exchange(), crash_at, crash_on)
    catalog, option = nifty_option(broker.instruments())
    service = OrderService(broker, MarketStore(catalog), OrderJournal(data_dir() / "orders.sqlite3"),
                           BackgroundRunner(workers=1), MessageLog())  # one worker: slices go in order
    quote = broker.quotes([option.key])[0]
    request = OrderRequest(broker.account, option.key, Side.BUY, lots * option.lot_size, OrderType.LIMIT,
                           Product.NRML, price=max(quote.ltp * 7 // 10 // 5 * 5, 5))  # rests: cheap margin
    outcomes = asyncio.run(service.place(request))
    print(json.dumps([[o.tag, o.state.value] for o in outcomes]))


if __name__ == "__main__":
    child_main(sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    sys.exit(0)


# --- the tests (parent side) -----------------------------------------------------------------------------
import pytest  # noqa: E402

from terminal.domain.catalog import InstrumentCatalog  # noqa: E402
from terminal.services.background import BackgroundRunner  # noqa: E402
from terminal.services.market_store import MarketStore  # noqa: E402
from terminal.services.messages import MessageLog  # noqa: E402
from terminal.services.order_service import OrderService  # noqa: E402
from terminal.storage.journal import JournalState, OrderJournal  # noqa: E402


@pytest.fixture
def remote_exchange():
    manager = ExchangeManager(address=("127.0.0.1", 0), authkey=AUTHKEY, ctx=multiprocessing.get_context("fork"))
    manager.start()
    try:
        yield manager
    finally:
        manager.shutdown()


def run_terminal(manager, home: Path, crash_at: str, crash_on: int = 1, lots: int = 1) -> subprocess.CompletedProcess:
    host, port = manager.address
    env = dict(os.environ, TRADING_TERMINAL_HOME=str(home), QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable, __file__, host, str(port), crash_at, str(crash_on), str(lots)],
                          env=env, capture_output=True, text=True, timeout=60)


def restart(manager, home: Path, run_async):
    """A fresh terminal on the same journal and the same exchange: reconcile, as start_session does."""
    broker = PaperBroker(manager.exchange())
    journal = OrderJournal(home / "data" / "orders.sqlite3")
    service = OrderService(broker, MarketStore(InstrumentCatalog(broker.instruments())), journal,
                           BackgroundRunner(), MessageLog())
    outcomes = run_async(service.reconcile_journal())
    return broker, journal, outcomes


def assert_journal_matches_exchange(broker, journal):
    """Every intent ends known; SENT exactly when the exchange has it; nothing sent without a journal row."""
    at_exchange = [o.tag for o in broker.order_book()]
    assert len(at_exchange) == len(set(at_exchange)), "a tag reached the exchange twice"
    entries = {e.tag: e for e in journal.entries() if e.action == "place"}
    assert journal.unresolved() == []
    assert set(at_exchange) <= set(entries), "an order reached the exchange without a journal row"
    for tag, entry in entries.items():
        if entry.state is JournalState.SENT:
            [order] = [o for o in broker.order_book() if o.tag == tag]
            assert entry.order_id == order.order_id
        else:
            assert entry.state is JournalState.NOT_FOUND and tag not in at_exchange


def test_killed_after_journaling_before_sending(remote_exchange, isolated_home, run_async):
    child = run_terminal(remote_exchange, isolated_home, "before_send")
    assert child.returncode == -signal.SIGKILL, child.stderr
    broker, journal, outcomes = restart(remote_exchange, isolated_home, run_async)
    assert [o.state for o in outcomes] == [JournalState.NOT_FOUND]
    assert broker.order_book() == []
    assert_journal_matches_exchange(broker, journal)


def test_killed_after_the_exchange_accepted_before_the_reply_was_journaled(remote_exchange, isolated_home,
                                                                           run_async):
    child = run_terminal(remote_exchange, isolated_home, "after_send")
    assert child.returncode == -signal.SIGKILL, child.stderr
    before = OrderJournal(isolated_home / "data" / "orders.sqlite3")
    [entry] = before.entries()
    assert entry.state is JournalState.INTENT  # what the crash left behind
    before.close()

    broker, journal, outcomes = restart(remote_exchange, isolated_home, run_async)
    [order] = broker.order_book()
    assert [(o.tag, o.state, o.order_id) for o in outcomes] == [(order.tag, JournalState.SENT, order.order_id)]
    assert_journal_matches_exchange(broker, journal)

    # A second restart finds nothing to do and sends nothing.
    journal.close()
    broker, journal, outcomes = restart(remote_exchange, isolated_home, run_async)
    assert outcomes == [] and len(broker.order_book()) == 1


def test_killed_between_the_slices_of_a_sliced_order(remote_exchange, isolated_home, run_async):
    child = run_terminal(remote_exchange, isolated_home, "after_send", crash_on=1, lots=40)  # two freeze slices
    assert child.returncode == -signal.SIGKILL, child.stderr
    broker, journal, _ = restart(remote_exchange, isolated_home, run_async)
    assert len(broker.order_book()) == 1
    assert_journal_matches_exchange(broker, journal)


def test_a_run_without_a_crash_needs_no_reconciliation(remote_exchange, isolated_home, run_async):
    child = run_terminal(remote_exchange, isolated_home, "none")
    assert child.returncode == 0, child.stderr
    [[tag, state]] = json.loads(child.stdout.strip().splitlines()[-1])
    assert state == "SENT"
    broker, journal, outcomes = restart(remote_exchange, isolated_home, run_async)
    assert outcomes == [] and [o.tag for o in broker.order_book()] == [tag]
    assert_journal_matches_exchange(broker, journal)
