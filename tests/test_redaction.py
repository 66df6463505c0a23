"""No secret reaches a file: redaction rules, and a full paper session swept for known secrets."""

import json
import logging
import logging.handlers
import sys
import threading
from urllib.parse import quote, urlencode

import pytest

from terminal.brokers.base import AuthenticationError
from terminal.brokers.paper.broker import PaperBroker
from terminal.domain import OrderRequest, OrderType, Product, Side
from terminal.domain.catalog import InstrumentCatalog
from terminal.services.background import BackgroundRunner
from terminal.services.kill_switch import KillSwitch
from terminal.services.market_store import MarketStore
from terminal.services.messages import MessageLog
from terminal.services.order_service import OrderService
from terminal.services.portfolio_store import PortfolioStore
from terminal.sim.exchange import SimulatedExchange
from terminal.storage import redaction, secrets
from terminal.storage.journal import OrderJournal
from terminal.storage.paths import data_dir, log_dir
from terminal.storage.redaction import MASK, redact, register_secret
from terminal.storage.settings import Settings


@pytest.fixture(autouse=True)
def clean_registry():
    redaction.forget_registered_secrets()
    yield
    redaction.forget_registered_secrets()


@pytest.mark.parametrize("line, secret", [
    ('jData={"uid":"FT1","pwd":"9f86d081884c7d65","factor2":"482913"}&jKey=a1b2c3d4e5', "9f86d081884c7d65"),
    ('jData={"uid":"FT1","pwd":"9f86d081884c7d65","factor2":"482913"}&jKey=a1b2c3d4e5', "a1b2c3d4e5"),
    ('jData={"uid":"FT1","pwd":"9f86d081884c7d65","factor2":"482913"}&jKey=a1b2c3d4e5', "482913"),
    ("jData=%7B%22uid%22%3A%22FT1%22%2C%22pwd%22%3A%22cafebabe99%22%7D&jKey=f00d", "cafebabe99"),
    ("{'Authorization': 'Bearer eyJhbGciOiJIUzUxMiJ9.e30.sig', 'X-PrivateKey': 'k3yk3y'}", "eyJhbGciOiJIUzUxMiJ9"),
    ("{'Authorization': 'Bearer eyJhbGciOiJIUzUxMiJ9.e30.sig', 'X-PrivateKey': 'k3yk3y'}", "k3yk3y"),
    ("Authorization: Bearer eyJhbGciOiJIUzUxMiJ9.e30.sig", "eyJhbGciOiJIUzUxMiJ9"),
    ('{"data":{"jwtToken":"Bearer eyJjd3Q","refreshToken":"eyJyZWZyZXNo","feedToken":"eyJmZWVk"}}', "eyJyZWZyZXNo"),
    ('{"data":{"jwtToken":"Bearer eyJjd3Q","refreshToken":"eyJyZWZyZXNo","feedToken":"eyJmZWVk"}}', "eyJmZWVk"),
    ('{"data":{"jwtToken":"Bearer eyJjd3Q","refreshToken":"eyJyZWZyZXNo","feedToken":"eyJmZWVk"}}', "eyJjd3Q"),
    ("clientcode=A1&password=7391&totp=118822&api_secret=zz-top-secret", "7391"),
    ("clientcode=A1&password=7391&totp=118822&api_secret=zz-top-secret", "118822"),
    ("clientcode=A1&password=7391&totp=118822&api_secret=zz-top-secret", "zz-top-secret"),
    ('{"susertoken": "8f2e1c0b", "accesstoken": "1a2b3c4d"}', "8f2e1c0b"),
    ('{"susertoken": "8f2e1c0b", "accesstoken": "1a2b3c4d"}', "1a2b3c4d"),
    ("{'pin': 2468, 'mpin': '1357'}", "2468"),
    ("{'pin': 2468, 'mpin': '1357'}", "1357"),
    ("access_token=tok-123456&refresh_token=ref-654321", "ref-654321"),
])
def test_secret_fields_are_masked_in_every_notation(line, secret):
    cleaned = redact(line)
    assert secret not in cleaned
    assert MASK in cleaned


def test_ordinary_fields_are_left_alone():
    line = 'subscribe token=26009 clientcode=A1 {"token": "2885", "tsym": "RELIANCE-EQ"} mapping=ok spin=3'
    assert redact(line) == line


def test_registered_values_are_masked_in_any_text_and_encoding():
    register_secret("Pa$$ w0rd/42")
    text = f"saw Pa$$ w0rd/42 and {quote('Pa$$ w0rd/42', safe='')} and {json.dumps('Pa$$ w0rd/42')}"
    assert redact(text).count(MASK) == 3
    register_secret("12")  # too short to mask without wrecking the log
    assert redact("12 lots") == "12 lots"


def test_records_made_outside_the_factory_are_masked_by_the_handler_filter():
    stream = []

    class ListHandler(logging.Handler):
        def emit(self, record):
            stream.append(self.format(record))

    handler = ListHandler()
    handler.addFilter(redaction.RedactingFilter())
    try:
        raise ValueError('reply {"jKey": "abcdef123456"}')
    except ValueError:
        record = logging.makeLogRecord({"msg": "login %s", "args": ("password=hunter22",), "levelno": 40,
                                        "levelname": "ERROR", "exc_info": sys.exc_info()})
    handler.handle(record)
    assert "hunter22" not in stream[0] and "abcdef123456" not in stream[0]
    assert "Traceback" in stream[0] and "login password=" in stream[0]


def test_install_covers_handlers_added_later_and_uninstall_restores():
    original = logging.getLogRecordFactory()
    redaction.install_log_redaction()
    try:
        record = logging.getLogger("x").makeRecord("x", logging.INFO, __file__, 1, "jKey=%s", ("zzz999zzz",), None)
        assert record.getMessage() == f"jKey={MASK}"
    finally:
        redaction.uninstall_log_redaction()
    assert logging.getLogRecordFactory() is original


# --- a full session --------------------------------------------------------------------------------------
SAVED = {  # saved through the secret store, as the login dialogs do
    ("flattrade", "FT1", "api_secret"): "ftsecret-7Gq2xv9LmP",
    ("angelone", "A1", "pin"): "8642",
    ("angelone", "A1", "totp_secret"): "JBSWY3DPEHPK3PXPQRST",
    ("angelone", "A1", "api_key"): "aK9vQ2mZr",
}
SESSION = {  # never saved: only their field names give them away
    "jkey": "c0ffee5e55104a7b9d0e",
    "pwd": "5994471abb01112afcc18159f6cc74b4f511b99806da59b3caf5a9c173cacfc5",
    "jwt": "eyJhbGciOiJIUzUxMiJ9.eyJ1c2VybmFtZSI6IkExIn0.QmFkU2ln",
    "refresh": "eyJyZWZyZXNoIjoiQTEifQ.R2Vu",
    "feed": "eyJmZWVkIjoiQTEifQ.RmVlZA",
    "susertoken": "9b1d2a7c6e5f4031",
}


def install_file_logging():
    """As app.setup_logging does: a rotating file in log_dir(), then the redaction."""
    handler = logging.handlers.RotatingFileHandler(log_dir() / "terminal.log", maxBytes=5_000_000, backupCount=5,
                                                   encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    redaction.install()
    return handler, old_level


def test_a_full_session_leaves_no_secret_in_any_file(isolated_home, run_async, qtbot, monkeypatch):
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    handler, old_level = install_file_logging()
    log = logging.getLogger("terminal.brokers.test_session")
    try:
        for (broker_name, client, field), value in SAVED.items():
            secrets.save_secret(broker_name, client, field, value)
        assert secrets.load_secret("angelone", "A1", "pin") == "8642"

        # What adapters log on login and on every call, in their own notations.
        body = {"uid": "FT1", "pwd": SESSION["pwd"], "factor2": "482913", "apkversion": "1.0.0"}
        log.debug("POST QuickAuth jData=%s&jKey=%s", json.dumps(body), SESSION["jkey"])
        log.debug("form body %s", urlencode({"jData": json.dumps(body), "jKey": SESSION["jkey"]}))
        log.debug("headers %s", {"Authorization": f"Bearer {SESSION['jwt']}",
                                 "X-PrivateKey": SAVED[("angelone", "A1", "api_key")]})
        log.info("login reply %s", json.dumps({"status": True, "data": {
            "jwtToken": f"Bearer {SESSION['jwt']}", "refreshToken": SESSION["refresh"], "feedToken": SESSION["feed"]}}))
        log.info("Noren reply {'stat': 'Ok', 'susertoken': '%s'}", SESSION["susertoken"])
        log.info("using api secret %s and totp seed %s", SAVED[("flattrade", "FT1", "api_secret")],
                 SAVED[("angelone", "A1", "totp_secret")])
        try:
            raise AuthenticationError(f"Invalid PIN 8642 for key {SAVED[('angelone', 'A1', 'api_key')]}")
        except AuthenticationError:
            log.exception("login failed")
        messages = MessageLog()
        messages.error(f"Session expired (susertoken={SESSION['susertoken']})", "Log in again.")

        # Trading through the paper broker, journaled in the data folder.
        broker = PaperBroker(SimulatedExchange(seed=2))
        broker.login()
        catalog = InstrumentCatalog(broker.instruments())
        market, portfolio = MarketStore(catalog), PortfolioStore()
        journal = OrderJournal(data_dir() / "orders.sqlite3")
        orders = OrderService(broker, market, journal, BackgroundRunner(), messages)
        reliance = catalog.get("NSE:2885")
        quote_ = broker.quotes([reliance.key])[0]
        market.apply_ticks({reliance.key: quote_})
        assert run_async(orders.place(OrderRequest(broker.account, reliance.key, Side.BUY, 5, OrderType.MARKET,
                                                   Product.MIS)))[0].accepted
        assert run_async(orders.place(OrderRequest(broker.account, reliance.key, Side.BUY, 3_000, OrderType.LIMIT,
                                                   Product.CNC, price=quote_.ltp)))[0].state.value == "REJECTED"
        run_async(KillSwitch(orders, portfolio, market).engage(f"test with pin {SAVED[('angelone', 'A1', 'pin')]}"))
        settings = Settings()
        settings.set("broker", "angelone")
        settings.save()
        settings.flush()
        journal.close()

        # Uncaught errors on the main thread and on a worker thread.
        try:
            api_secret = SAVED[("flattrade", "FT1", "api_secret")]
            raise RuntimeError(f"crash while holding jKey={SESSION['jkey']} and {api_secret}")
        except RuntimeError:
            sys.excepthook(*sys.exc_info())

        def worker():
            raise ValueError(f"feed died: feedToken={SESSION['feed']}")

        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
    finally:
        handler.flush()
        redaction.uninstall_log_redaction()
        logging.getLogger().removeHandler(handler)
        handler.close()
        logging.getLogger().setLevel(old_level)

    files = [p for p in isolated_home.rglob("*") if p.is_file()]
    blobs = {p: p.read_bytes() for p in files}
    for value in [*SAVED.values(), *SESSION.values(), "482913"]:
        for form in {value, quote(value, safe=""), quote(value)}:
            leaks = [str(p) for p, blob in blobs.items() if form.encode() in blob]
            assert not leaks, f"{form!r} found in {leaks}"

    # The session really wrote what it was meant to write.
    log_text = (log_dir() / "terminal.log").read_text(encoding="utf-8")
    assert "POST QuickAuth jData=" in log_text and "Traceback" in log_text and "login failed" in log_text
    assert log_text.count(MASK) >= 15
    assert "Sent: BUY 5 Reliance" in log_text or "Sent: BUY" in log_text
    crash_reports = sorted(log_dir().glob("crash-*.txt"))
    assert len(crash_reports) == 2
    assert any("crash while holding jKey=" in p.read_text() for p in crash_reports)
    assert any("feed died: feedToken=" in p.read_text() for p in crash_reports)
    assert (data_dir() / "orders.sqlite3").exists() and (isolated_home / "config" / "settings.json").exists()
