"""Market watch: live rows by key, flash, search to add, Delete to remove, persistence."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt

from terminal.domain import Side
from terminal.ui.panels.market_watch import MarketWatchPanel

RELIANCE, HDFC, NIFTY = "NSE:2885", "NSE:1333", "NSE:26000"


def make_panel(qtbot, ctx, keys):
    ctx.settings.set("watchlist", keys)
    panel = MarketWatchPanel(ctx)
    qtbot.addWidget(panel)
    panel.resize(1100, 320)
    panel.show()
    return panel


def cell(panel, key, header):
    model = panel.model
    column = [c.header for c in model.columns].index(header)
    return model.data(model.index(model.row_for_key(key), column))


def test_rows_come_from_settings_and_are_subscribed(qtbot, ctx):
    panel = make_panel(qtbot, ctx, [RELIANCE, HDFC, NIFTY, RELIANCE])
    assert panel.keys() == [RELIANCE, HDFC, NIFTY]
    assert cell(panel, RELIANCE, "Symbol") == "RELIANCE-EQ"
    assert ctx.session.feed.subscribed() == {RELIANCE, HDFC, NIFTY}
    assert panel.panel_id == "market_watch" and panel.title == "Market Watch"


def test_tick_batch_updates_only_its_rows_without_reset(qtbot, ctx, make_tick, spy_model):
    keys = [RELIANCE, HDFC, NIFTY, "NSE:4963", "NSE:1594"]
    panel = make_panel(qtbot, ctx, keys)
    spy = spy_model(panel.model)
    ctx.market.apply_ticks({HDFC: make_tick(HDFC, 990_00, 980_00), "NSE:1594": make_tick("NSE:1594", 1560_00),
                            "NSE:9999": make_tick("NSE:9999", 1_00)})
    assert spy.resets == 0
    assert sorted(spy.changed) == [(1, 1), (4, 4)]
    assert cell(panel, HDFC, "LTP") == "990.00"
    assert cell(panel, HDFC, "Chg") == "+10.00"
    assert cell(panel, HDFC, "Chg %") == "+1.02%"
    assert cell(panel, HDFC, "Bid") == "990.00" and cell(panel, HDFC, "Ask") == "990.05"
    assert cell(panel, HDFC, "Volume") == "1,000"
    assert cell(panel, RELIANCE, "LTP") == ""


def test_contiguous_rows_share_one_signal(qtbot, ctx, make_tick, spy_model):
    panel = make_panel(qtbot, ctx, [RELIANCE, HDFC, NIFTY])
    spy = spy_model(panel.model)
    ctx.market.apply_ticks({k: make_tick(k, 100_00) for k in (RELIANCE, HDFC, NIFTY)})
    assert spy.changed == [(0, 2)]


def test_price_rise_flashes_green_then_fades(qtbot, ctx, make_tick):
    from terminal.ui import theme

    panel = make_panel(qtbot, ctx, [RELIANCE, HDFC])
    ctx.market.apply_ticks({RELIANCE: make_tick(RELIANCE, 1545_00), HDFC: make_tick(HDFC, 990_00)})
    assert not panel.is_flashing(RELIANCE)  # the first quote is not a move
    ctx.market.apply_ticks({RELIANCE: make_tick(RELIANCE, 1546_00), HDFC: make_tick(HDFC, 989_00)})
    model = panel.model
    up = model.data(model.index(0, 1), Qt.BackgroundRole).color()
    down = model.data(model.index(1, 1), Qt.BackgroundRole).color()
    assert up.name() == theme.current().positive and up.alpha() < 255
    assert down.name() == theme.current().negative
    qtbot.waitUntil(lambda: not panel.is_flashing(RELIANCE) and not panel.is_flashing(HDFC), timeout=3000)
    assert model.data(model.index(0, 1), Qt.BackgroundRole) is None
    assert not panel._flash_timer.isActive()


def test_search_enter_adds_persists_and_subscribes(qtbot, ctx):
    panel = make_panel(qtbot, ctx, [RELIANCE])
    panel.focus_search()
    qtbot.keyClicks(panel.search, "finnifty nov fut")
    future = panel.search.results()[0].key
    assert ctx.market.instrument(future).trading_symbol == "FINNIFTY25NOVFUT"
    qtbot.keyClick(panel.search, Qt.Key_Return)
    assert panel.keys() == [RELIANCE, future]
    assert panel.selected_key() == future
    assert future in ctx.session.feed.subscribed()
    ctx.settings.flush()
    assert json.loads(ctx.settings.path.read_text())["watchlist"] == [RELIANCE, future]
    qtbot.wait(10)
    assert panel.search.text() == ""


def test_popup_choice_adds_the_highlighted_instrument(qtbot, ctx):
    panel = make_panel(qtbot, ctx, [])
    panel.focus_search()
    qtbot.keyClicks(panel.search, "hdfc")
    popup = panel.search.completer_.popup()
    assert popup.isVisible()
    panel.search.completer_.activated[type(popup.currentIndex())].emit(popup.currentIndex())
    assert panel.keys() == [HDFC]


def test_adding_a_watched_instrument_selects_it(qtbot, ctx):
    panel = make_panel(qtbot, ctx, [RELIANCE, HDFC])
    assert not panel.add_instrument(HDFC)
    assert panel.keys() == [RELIANCE, HDFC]
    assert panel.selected_key() == HDFC


def test_delete_removes_selected_unsubscribes_and_persists(qtbot, ctx):
    panel = make_panel(qtbot, ctx, [RELIANCE, HDFC, NIFTY])
    panel.focus_primary()
    panel.select_key(HDFC)
    qtbot.keyClick(panel.table, Qt.Key_Delete)
    assert panel.keys() == [RELIANCE, NIFTY]
    assert HDFC not in ctx.session.feed.subscribed()
    assert panel.selected_key() == NIFTY
    assert ctx.settings.get("watchlist") == [RELIANCE, NIFTY]


def test_typing_on_table_jumps_to_search(qtbot, ctx):
    panel = make_panel(qtbot, ctx, [RELIANCE])
    panel.focus_primary()
    qtbot.keyClick(panel.table, Qt.Key_T)
    assert panel.focusWidget() is panel.search
    assert panel.search.text() == "t"


def test_selection_and_enter_raise_requests(qtbot, ctx):
    panel = make_panel(qtbot, ctx, [RELIANCE, HDFC])
    panel.focus_primary()
    with qtbot.waitSignal(ctx.requests.instrument_selected) as selected:
        panel.select_key(HDFC)
    assert selected.args == [HDFC]
    with qtbot.waitSignal(ctx.requests.depth_requested) as depth:
        qtbot.keyClick(panel.table, Qt.Key_Return)
    assert depth.args == [HDFC]


def test_context_menu_buy_asks_for_order_entry(qtbot, ctx):
    panel = make_panel(qtbot, ctx, [RELIANCE])
    panel.focus_primary()
    menu = panel.build_menu()
    texts = [a.text() for a in menu.actions() if not a.isSeparator()]
    assert texts == ["Buy", "Sell", "Market depth", "Chart", "Remove"]
    with qtbot.waitSignal(ctx.requests.order_entry_requested) as request:
        menu.actions()[0].trigger()
    assert request.args[:2] == [Side.BUY, RELIANCE]


def test_screenshot(qtbot, ctx, make_tick, shots, dark_theme):
    from terminal.sim.instruments import STOCKS

    keys = [NIFTY, "NSE:26009"] + [f"NSE:{s.token}" for s in STOCKS[:8]] + ["NFO:436130"]
    panel = make_panel(qtbot, ctx, keys)
    ctx.market.apply_ticks({k: make_tick(k, 1000_00 + 1234_55 * i, 1000_00 + 1200_00 * i, volume=12_34_567 * i,
                                         oi=1_20_000 * i) for i, k in enumerate(keys)})
    ctx.market.apply_ticks({NIFTY: make_tick(NIFTY, 1010_00, 1000_00)})
    panel.select_key("NSE:1333")
    panel.grab().save(str(shots / "market_watch.png"))


def test_flash_end_repaints_only_the_ltp_cell(qtbot, ctx, make_tick, spy_model):
    from terminal.ui.panels.market_watch import FLASH_COLUMN

    panel = make_panel(qtbot, ctx, [RELIANCE, HDFC])
    assert panel.model.columns[FLASH_COLUMN].header == "LTP"
    ctx.market.apply_ticks({RELIANCE: make_tick(RELIANCE, 1545_00)})
    ctx.market.apply_ticks({RELIANCE: make_tick(RELIANCE, 1546_00)})
    assert panel.is_flashing(RELIANCE)
    columns = []
    panel.model.dataChanged.connect(lambda a, b, roles=(): columns.append((a.row(), b.row(), a.column(), b.column())))
    qtbot.waitUntil(lambda: not panel.is_flashing(RELIANCE), timeout=3000)
    assert columns == [(0, 0, FLASH_COLUMN, FLASH_COLUMN)]
    assert panel.model.data(panel.model.index(0, FLASH_COLUMN), Qt.BackgroundRole) is None


def test_a_flash_that_ended_is_cleared_with_the_next_batch(qtbot, ctx, make_tick, monkeypatch):
    import terminal.ui.panels.market_watch as watch

    panel = make_panel(qtbot, ctx, [RELIANCE, HDFC])
    ctx.market.apply_ticks({RELIANCE: make_tick(RELIANCE, 1545_00), HDFC: make_tick(HDFC, 990_00)})
    ctx.market.apply_ticks({RELIANCE: make_tick(RELIANCE, 1546_00)})
    assert panel.is_flashing(RELIANCE)
    later = watch.time.monotonic() + watch.FLASH_SECONDS + 0.01
    monkeypatch.setattr(watch.time, "monotonic", lambda: later)
    ctx.market.apply_ticks({HDFC: make_tick(HDFC, 990_00)})  # same price: no new flash
    assert not panel.is_flashing(RELIANCE)
    assert panel.model.data(panel.model.index(0, watch.FLASH_COLUMN), Qt.BackgroundRole) is None


def test_a_row_that_flashes_again_flashes_until_its_latest_move_is_old(qtbot, ctx, make_tick, monkeypatch):
    import terminal.ui.panels.market_watch as watch

    panel = make_panel(qtbot, ctx, [RELIANCE, HDFC])
    start = watch.time.monotonic()
    clock = [start]
    monkeypatch.setattr(watch.time, "monotonic", lambda: clock[0])
    ctx.market.apply_ticks({RELIANCE: make_tick(RELIANCE, 1545_00), HDFC: make_tick(HDFC, 990_00)})
    ctx.market.apply_ticks({RELIANCE: make_tick(RELIANCE, 1546_00)})  # flashes until start + 0.4
    clock[0] = start + 0.75 * watch.FLASH_SECONDS
    ctx.market.apply_ticks({RELIANCE: make_tick(RELIANCE, 1547_00)})  # again: until start + 0.7
    clock[0] = start + 1.25 * watch.FLASH_SECONDS
    ctx.market.apply_ticks({HDFC: make_tick(HDFC, 990_00)})
    assert panel.is_flashing(RELIANCE)  # the first flash's end passed, the second's did not
    clock[0] = start + 1.8 * watch.FLASH_SECONDS
    ctx.market.apply_ticks({HDFC: make_tick(HDFC, 990_00)})
    assert not panel.is_flashing(RELIANCE)
    assert panel.model.data(panel.model.index(0, watch.FLASH_COLUMN), Qt.BackgroundRole) is None


def test_ticks_of_rows_scrolled_out_of_view_send_no_repaint_signal(qtbot, ctx, make_tick, spy_model):
    keys = [f"NSE:{9000 + i}" for i in range(80)]
    panel = make_panel(qtbot, ctx, keys)
    qtbot.waitExposed(panel)
    far = keys[70]
    assert panel.table.rowViewportPosition(70) > panel.table.viewport().height()  # below the fold
    spy = spy_model(panel.model)
    ctx.market.apply_ticks({keys[1]: make_tick(keys[1], 100_00), far: make_tick(far, 200_00)})
    assert spy.changed == [(1, 1)]
    assert cell(panel, far, "LTP") == "200.00"  # what it shows when scrolled in
    panel.select_key(far)
    ctx.market.apply_ticks({far: make_tick(far, 201_00)})
    assert spy.changed[-1] == (70, 70)  # now on screen
