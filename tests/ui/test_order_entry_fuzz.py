"""Whatever a trader types into the order entry: no crash, a clear message, nothing bad sent."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from terminal.domain import Side
from terminal.domain.validation import check_order
from terminal.ui.panels.order_entry import OrderEntryPanel

NIFTY_FUT = "NFO:436130"  # NIFTY25NOVFUT at the frozen test exchange, lot 65
RELIANCE = "NSE:2885"

typed = st.text(alphabet="0123456789.,-+e abc", max_size=12)  # keys a keyboard types
pasted = st.text(max_size=12)  # anything a clipboard may hold


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from([NIFTY_FUT, RELIANCE]), side=st.sampled_from([Side.BUY, Side.SELL]),
       order_type=st.integers(0, 3), lots=typed, price=typed, trigger=typed, paste=pasted)
def test_any_typed_input_is_sent_only_when_valid(qtbot, ctx, broker, event_loop_qt, key, side, order_type, lots,
                                                 price, trigger, paste):
    panel = OrderEntryPanel(ctx)
    qtbot.addWidget(panel)
    panel.show()
    panel.open_order(side, key)
    panel.order_type.setCurrentIndex(order_type)
    for field, text in ((panel.lots, lots), (panel.price, price), (panel.trigger, trigger)):
        if field.isEnabled():
            field.selectAll()
            QTest.keyClicks(field, text)
    if panel.price.isEnabled():  # and something pasted into the price
        QApplication.clipboard().setText(paste)
        panel.price.setFocus()
        qtbot.keyClick(panel.price, Qt.Key_V, Qt.ControlModifier)
    sent = []
    panel.order_submitted.connect(sent.append)
    before = len(broker.order_book())

    qtbot.keyClick(panel, Qt.Key_Return)

    if sent:
        request = sent[0]
        instrument = ctx.market.instrument(request.instrument_key)
        assert check_order(request, instrument) == []  # only a valid order ever leaves the form
        qtbot.waitUntil(panel.last_task.done, timeout=5_000)
        assert panel.last_task.exception() is None
    else:
        assert panel.problems()  # refused with a reason the form shows
        assert panel.problems_label.text()
        qtbot.wait(10)
        assert len(broker.order_book()) == before
    for task in asyncio.all_tasks(event_loop_qt):
        task.cancel()
