"""Composition root: command line, logging, QApplication with the qasync loop, and wiring."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import logging.handlers
import os
import sys
from pathlib import Path

from terminal import __version__

log = logging.getLogger("terminal")

NO_DISPLAY_MESSAGE = (
    "No display was found, so the terminal window cannot open here; to see what it shows, run "
    "`python -m terminal --screenshot terminal.png` (add --after SECONDS to let prices flow first)."
)


BROKERS = ["paper", "flattrade", "angelone"]


class BrokerSetupError(Exception):
    """The chosen broker cannot be created; the message says what to do."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="trading-terminal", description="Desktop trading terminal for Indian markets.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--broker", default=None, choices=BROKERS,
                        help="broker to connect (default: the built-in simulated exchange, 'paper')")
    parser.add_argument("--sandbox", metavar="JSON_OR_FILE",
                        help="trade against a loopback sandbox: the first line a `trading-terminal sandbox ...` "
                             "printed, or a file holding it")
    parser.add_argument("--screenshot", metavar="PATH", type=Path,
                        help="start on the simulated exchange, save a PNG of the main window, and exit")
    parser.add_argument("--after", metavar="SECONDS", type=float, default=3.0,
                        help="with --screenshot: how long live data flows before the picture (default 3)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the simulated market (reproducible runs)")
    parser.add_argument("--ticks-per-second", type=float, default=None,
                        help="ticks per second per instrument on the simulated exchange")
    return parser.parse_args(argv)


def has_display() -> bool:
    if os.environ.get("QT_QPA_PLATFORM"):
        return True  # the user chose a platform (offscreen, xcb, wayland...)
    if sys.platform.startswith("linux") or sys.platform.startswith("freebsd"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True  # Windows and macOS always have a window system


def setup_logging(level: str = "INFO") -> None:
    from terminal.storage.paths import log_dir

    # One file per day (terminal.log, then terminal.log.YYYY-MM-DD), a month kept.
    handler = logging.handlers.TimedRotatingFileHandler(log_dir() / "terminal.log", when="midnight",
                                                        backupCount=31, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(getattr(logging, str(level).upper(), logging.INFO))
    from terminal.storage.redaction import install as install_redaction

    install_redaction()  # secrets are masked in every log line, exception and crash report


def create_broker(name: str, settings, seed: int | None = None, ticks_per_second: float | None = None,
                  sandbox: dict | None = None):
    """The broker adapter for ``name``. Only the simulated exchange needs no set-up."""
    if name == "paper":
        from terminal.brokers.paper.broker import PaperBroker
        from terminal.sim.exchange import SimulatedExchange

        sim = settings.get("sim", {}) or {}
        exchange = SimulatedExchange(
            seed=seed if seed is not None else (sim.get("seed") or 0),
            ticks_per_second=ticks_per_second if ticks_per_second is not None else sim.get("ticks_per_second", 4.0),
        )
        return PaperBroker(exchange)
    if name == "flattrade":
        from terminal.brokers import flattrade as adapter
    elif name == "angelone":
        from terminal.brokers import angelone as adapter
    else:
        raise BrokerSetupError(f"Unknown broker {name!r}; choose one of {', '.join(BROKERS)}.")
    if sandbox is not None:
        adapter.store_sandbox_secrets(sandbox)
        if name == "flattrade":  # the sandbox approves its own login page: no browser needed
            return adapter.create_broker(adapter.sandbox_config(sandbox), opener=follow_login_page)
        return adapter.create_broker(adapter.sandbox_config(sandbox))
    config = (settings.get("brokers", {}) or {}).get(name)
    if not config:
        raise BrokerSetupError(f"{name} is not set up yet: add your account in Settings > Brokers, "
                               f"or start with --broker paper.")
    return adapter.create_broker(config)


def make_connection_tester():
    """``test(name, config, done)`` for the set-up dialogs: logs in off the UI thread, then calls
    ``done(ok, message)`` (which the dialogs accept from any thread)."""
    import threading

    def test(name: str, config: dict, done) -> None:
        def work() -> None:
            try:
                adapter = importlib.import_module(f"terminal.brokers.{name}")
                info = adapter.create_broker(config).login()
                done(True, f"Logged in as {info.user_name}.")
            except Exception as exc:  # any failure is the answer to "does it connect?"
                done(False, f"{exc} {getattr(exc, 'hint', '')}".strip())

        threading.Thread(target=work, name=f"test-{name}", daemon=True).start()

    return test


def follow_login_page(url: str) -> None:
    """Stand-in for the browser on a sandbox: fetch its auto-approving page, follow the redirect."""
    import threading

    import requests

    threading.Thread(target=requests.get, args=(url,), kwargs={"timeout": 10}, daemon=True).start()


def read_sandbox_info(text: str) -> dict:
    """The sandbox's description: its JSON line itself, or a file whose first line it is."""
    import json

    candidate = text.strip()
    if not candidate.startswith("{"):
        try:
            candidate = Path(candidate).read_text(encoding="utf-8").splitlines()[0]
        except (OSError, IndexError) as exc:
            raise BrokerSetupError(f"Cannot read the sandbox description from {text!r}: {exc}") from exc
    try:
        info = json.loads(candidate)
    except ValueError as exc:
        raise BrokerSetupError("The sandbox description is not the JSON line the sandbox printed.") from exc
    if not isinstance(info, dict):
        raise BrokerSetupError("The sandbox description is not the JSON line the sandbox printed.")
    return info


def create_context(broker, settings, journal=None):
    """Wire stores and services around ``broker``. Needs a QApplication and a qasync loop."""
    from terminal.services.account_session import AccountSession
    from terminal.services.background import BackgroundRunner
    from terminal.services.feed_health import FeedHealth
    from terminal.services.kill_switch import EntryLock, KillSwitch
    from terminal.services.market_store import MarketStore
    from terminal.services.messages import MessageLog
    from terminal.services.order_service import OrderService
    from terminal.services.portfolio_store import PortfolioStore
    from terminal.services.progress import ProgressTracker
    from terminal.services.risk import RiskCheck, RiskLimits
    from terminal.services.session_lifecycle import SessionGuard, SessionLifecycle
    from terminal.storage.journal import OrderJournal
    from terminal.storage.paths import data_dir
    from terminal.ui.context import TerminalContext

    broker = SessionGuard(broker)  # every service's calls: a dead session is noticed and orders refused
    runner = BackgroundRunner()
    messages = MessageLog()
    market = MarketStore()
    portfolio = PortfolioStore()
    journal = journal or OrderJournal(data_dir() / "orders.sqlite3")
    session = AccountSession(broker, market, portfolio, runner, messages, bar_builder=_bar_builder(),
                             progress=ProgressTracker())
    limits = RiskLimits.from_settings(settings)
    feed_health = FeedHealth(session.feed, market, broker, runner, messages, stale_after_s=limits.stale_quote_seconds)
    risk = RiskCheck(limits, market, portfolio, quote_age=feed_health.quote_age, lock=EntryLock())
    orders = OrderService(broker, market, journal, runner, messages, risk=risk)
    kill_switch = KillSwitch(orders, portfolio, market)
    kill_switch.watch_daily_loss()
    lifecycle = SessionLifecycle(session, orders)  # token countdown and logging in again; session.lifecycle
    session.ready.connect(feed_health.start)
    session.ready.connect(lifecycle.start)
    return TerminalContext(market=market, portfolio=portfolio, messages=messages, orders=orders, session=session,
                           settings=settings, runner=runner, feed_health=feed_health, kill_switch=kill_switch)


def _bar_builder():
    try:
        from terminal.analytics.candles import CandleBuilder
    except ImportError:  # the chart's analytics are optional for the core terminal
        return None
    return CandleBuilder()


async def start_session(context) -> bool:
    """Log in, load instruments, start the feed, then settle any intent a crash left open."""
    ok = await context.session.start()
    if ok:
        await context.orders.reconcile_journal()
    return ok


async def show_sample_trading(window, context) -> None:
    """For --screenshot: a few paper orders so every panel shows what it looks like in use."""
    from terminal.domain import OrderRequest, OrderType, Product, Side
    from terminal.domain.validation import round_to_tick

    watch = window.panels["market_watch"]
    keys = watch.keys()
    stock = next((k for k in keys if context.market.instrument(k) and context.market.instrument(k).is_tradeable), None)
    if stock:
        watch.select_key(stock)
    catalog = context.market.catalog
    expiries = catalog.expiries("NIFTY")
    if not expiries:
        return
    index = (await context.runner.run(context.session.broker.quotes, ["NSE:26000"]))[0].ltp
    chain = catalog.option_chain("NIFTY", expiries[0])
    strike, call, put = min(chain, key=lambda row: abs(row[0] - index))
    future = catalog.futures("NIFTY")[0]
    keys = [call.key, put.key, future.key]
    context.session.subscribe(keys)  # live quotes first: orders priced off no quote ask to confirm
    while any(context.market.tick(k) is None for k in keys):
        await asyncio.sleep(0.05)
    account = context.account
    for option, side in ((call, Side.BUY), (put, Side.SELL)):
        quote = (await context.runner.run(context.session.broker.quotes, [option.key]))[0]
        price = quote.best_ask if side is Side.BUY else quote.best_bid
        await context.orders.place(OrderRequest(account, option.key, side, option.lot_size, OrderType.LIMIT,
                                                Product.NRML, price=price or quote.ltp))
    quote = (await context.runner.run(context.session.broker.quotes, [future.key]))[0]
    resting = round_to_tick(quote.ltp * 97 // 100, future.tick_size)
    await context.orders.place(OrderRequest(account, future.key, Side.BUY, future.lot_size, OrderType.LIMIT,
                                            Product.NRML, price=resting))
    await context.session.refresh_all()
    window.open_order_entry(Side.BUY, stock)


def show_crash_reports(window) -> None:
    """Tell the trader where a crash report went, from whichever thread crashed."""
    from PySide6.QtCore import QObject, Signal
    from PySide6.QtWidgets import QMessageBox

    from terminal.storage import redaction

    class CrashNotice(QObject):
        written = Signal(str)

    notice = CrashNotice(window)

    def show(path: str) -> None:
        QMessageBox.warning(window, "Something went wrong",
                            "The terminal hit an unexpected error and kept running. A report (with every "
                            f"secret removed) was written to:\n\n{path}\n\nPlease check your open orders "
                            "and positions in the order book.")

    notice.written.connect(show)  # queued to the UI thread when the crash was elsewhere
    redaction.crash_listeners.append(lambda path: notice.written.emit(str(path)) if path else None)


def shutdown(context) -> None:
    context.feed_health.stop()
    context.session.stop()
    context.runner.shutdown()
    context.settings.flush()
    context.orders.journal.close()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "sandbox":
        from terminal.sim.servers.cli import main as sandbox_main

        return sandbox_main(argv[1:])
    args = parse_args(argv)
    if args.screenshot and not has_display():
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    if not has_display():
        print(NO_DISPLAY_MESSAGE, file=sys.stderr)
        return 2

    import qasync
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from terminal.services.background import spawn
    from terminal.services.gui_thread_gc import collect_on_gui_thread
    from terminal.storage.secrets import SecretStoreUnavailable
    from terminal.storage.settings import Settings
    from terminal.ui import theme
    from terminal.ui.dialogs.welcome import WelcomeDialog, should_show_welcome
    from terminal.ui.main_window import MainWindow
    from terminal.ui.workspaces import LayoutAutosave

    settings = Settings()
    setup_logging(settings.get("log_level", "INFO"))
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Trading Terminal")
    app.setApplicationVersion(__version__)
    theme.apply_theme(app, settings.get("theme", "dark"))
    from terminal import resources

    app.setWindowIcon(resources.app_icon())
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    collector = collect_on_gui_thread()  # a Qt object freed by a feed or pool thread's collection crashes Qt
    test_connection = make_connection_tester()
    if not args.screenshot and args.broker is None and should_show_welcome(settings):
        WelcomeDialog(settings, test_connection).exec()  # first run: simulated exchange or a broker

    # --screenshot shows the simulated exchange unless a broker was asked for by name.
    broker_name = args.broker or ("paper" if args.screenshot else settings.get("broker", "paper"))
    try:
        sandbox = read_sandbox_info(args.sandbox) if args.sandbox else None
        broker = create_broker(broker_name, settings, seed=args.seed, ticks_per_second=args.ticks_per_second,
                               sandbox=sandbox)
    except (BrokerSetupError, SecretStoreUnavailable) as exc:
        print(exc, file=sys.stderr)
        return 2
    journal = None
    if args.screenshot:  # a picture for docs: nothing of it goes into the user's journal
        from terminal.storage.journal import OrderJournal

        journal = OrderJournal(":memory:")
    context = create_context(broker, settings, journal)
    window = MainWindow(context, test_connection=test_connection)
    window.persist_layout = not args.screenshot
    if window.persist_layout:  # crash-safe: the layout is saved every 30 s, written off the UI thread
        window.autosave = LayoutAutosave(window.save_layout, 30, window)
    show_crash_reports(window)
    window.show()
    context.session.ready.connect(collector.settle)  # window, catalog and stores built: freeze them
    spawn(start_session(context))
    exit_code = 0

    if args.screenshot and (broker_name == "paper" or sandbox is not None):  # never on a real account
        context.session.ready.connect(lambda: spawn(show_sample_trading(window, context)))

        def take_screenshot() -> None:
            nonlocal exit_code
            path = args.screenshot
            path.parent.mkdir(parents=True, exist_ok=True)
            if not window.grab().save(str(path)):
                print(f"Could not write the screenshot to {path}.", file=sys.stderr)
                exit_code = 1
            else:
                print(f"Screenshot saved to {path}")
            window.close()
            app.quit()

        QTimer.singleShot(int(args.after * 1000), take_screenshot)

    app.aboutToQuit.connect(lambda: shutdown(context))
    with loop:
        loop.run_forever()
    return exit_code
