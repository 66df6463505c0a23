"""Memory: resident set size of the running terminal, step by step, against the bare process.

Run: ``QT_QPA_PLATFORM=offscreen python -m bench.bench_memory`` (``python -m bench`` runs it in
a process of its own, so nothing measured before it counts). RSS is VmRSS from /proc/self/status.

Steps, each on top of the last: the bare process after importing the terminal (the reference);
the main window with every default panel on the simulated exchange, logged in, with 1,000
instruments subscribed and ticking for a few seconds; a chart of 1,000,000 one-minute bars
(``ChartPanel.set_history`` with a ``CandleSeries``); the option chain panel, when the tree has one.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import sys
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import fmt, minute_bars, offscreen, row, rss_mib, scratch_home  # noqa: E402

offscreen()


@dataclass
class Scale:
    subscriptions: int = 1_000
    bars: int = 1_000_000
    feed_seconds: float = 3.0


FULL = Scale()
SMOKE = Scale(subscriptions=50, bars=20_000, feed_seconds=0.3)


def settle(app, seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.01)


def run(scale: Scale = FULL) -> list[dict]:
    import qasync
    from PySide6.QtWidgets import QApplication

    import terminal.app  # noqa: F401  (the reference: the bare process after importing the terminal)
    import terminal.ui.main_window  # noqa: F401

    gc.collect()
    bare = rss_mib()

    from terminal.app import create_context, start_session
    from terminal.brokers.paper.broker import PaperBroker
    from terminal.sim.exchange import SimulatedExchange
    from terminal.storage.journal import OrderJournal
    from terminal.storage.settings import Settings
    from terminal.ui import theme
    from terminal.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    theme.apply_theme(app, "dark")
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    results = []
    with scratch_home() as home:
        exchange = SimulatedExchange(seed=9, ticks_per_second=2.0)
        context = create_context(PaperBroker(exchange), Settings(home / "settings.json"), OrderJournal(":memory:"))
        window = MainWindow(context)
        window.persist_layout = False
        window.show()
        try:
            if not loop.run_until_complete(start_session(context)):
                raise RuntimeError("the session did not start on the paper broker")
            keys = [i.key for i in exchange.instruments()[: scale.subscriptions]]
            context.session.subscribe(keys)
            settle(app, scale.feed_seconds)
            gc.collect()
            subscribed = rss_mib()
            results.append(row(f"main window, every default panel, {len(keys):,} subscriptions ticking", subscribed,
                               "MiB", "bare process after importing the terminal", bare, digits=1))

            from terminal.analytics.indicators import EMA, VWAP
            from terminal.ui.panels.chart import ChartPanel

            instrument = exchange.instruments()[0]
            bars = minute_bars(scale.bars, seed=5)
            chart = ChartPanel(instrument, 1, indicators=[EMA(20), VWAP()])
            chart.resize(1200, 700)
            chart.show()
            chart.set_history(bars)
            del bars
            settle(app, 0.5)
            gc.collect()
            charted = rss_mib()
            results.append(row(f"+ a chart of {scale.bars:,} one-minute bars (EMA, VWAP)", charted, "MiB",
                               "bare process after importing the terminal", bare, digits=1,
                               note=f"the chart adds {charted - subscribed:,.1f} MiB"))

            chain_note, chain_rss = open_option_chain(window, context, app)
            results.append(row("+ the option chain open", chain_rss, "MiB", "bare process after importing the terminal",
                               bare if chain_rss is not None else None, digits=1, note=chain_note))
            results.append(row("bare process after importing the terminal (reference)", bare, "MiB", "", None,
                               digits=1))
            chart.close()
        finally:
            context.session.stop()
            context.runner.shutdown()
            window.close()
            context.orders.journal.close()
            asyncio.set_event_loop(None)
            loop.close()
    return results


def open_option_chain(window, context, app) -> tuple[str, float | None]:
    """Open the option chain panel if the tree has one; (note, RSS MiB or None)."""
    if importlib.util.find_spec("terminal.ui.panels.option_chain") is None:
        return "not measured: terminal/ui/panels/option_chain.py is not in the tree yet", None
    panel = window.panels.get("option_chain")
    try:
        if panel is None:
            from terminal.ui.panels.option_chain import OptionChainPanel

            panel = OptionChainPanel(context)
            panel.resize(1200, 700)
            panel.show()
        else:
            window.show_panel("option_chain", focus=False)
    except Exception as exc:  # an API this bench does not know yet: say so, do not guess a number
        return f"not measured: could not open the option chain panel ({type(exc).__name__}: {exc})", None
    settle(app, 2.0)
    gc.collect()
    return "", rss_mib()


if __name__ == "__main__":
    for r in run():
        print(f"{r['name']:<70} {fmt(r['value'], 1)} {r['unit']} ref {fmt(r['reference_value'], 1)}  {r['note']}")
