"""The keyed table model: rows by key, minimal change signals, formatting and colours."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPalette
from PySide6.QtWidgets import QApplication

from terminal.ui import theme
from terminal.ui.models.table_model import (
    Column, KeyedTableModel, price_column, quantity_column, signed_price_column,
)
from terminal.ui.widgets.table_view import TradingTableView


@dataclass
class Row:
    key: str
    price: int
    qty: int
    change: int = 0


def make_model(count: int = 6) -> KeyedTableModel:
    model = KeyedTableModel(
        [Column("Key", lambda r: r.key), price_column("Price", lambda r: r.price),
         quantity_column("Qty", lambda r: r.qty), signed_price_column("Chg", lambda r: r.change)],
        key_of=lambda r: r.key)
    model.set_rows([Row(f"K{i}", 100_00 * (i + 1), 100_000 * i) for i in range(count)])
    return model


class Spy:
    def __init__(self, model):
        self.changed: list[tuple[int, int, int, int]] = []
        self.resets = 0
        model.dataChanged.connect(lambda a, b, roles=(): self.changed.append((a.row(), b.row(), a.column(), b.column())))
        model.modelReset.connect(self._reset)

    def _reset(self):
        self.resets += 1


def test_display_uses_indian_grouping_and_right_alignment(qapp):
    model = make_model()
    assert model.data(model.index(5, 1)) == "600.00"
    assert model.data(model.index(3, 2)) == "3,00,000"
    assert model.data(model.index(5, 2)) == "5,00,000"
    assert model.data(model.index(1, 1), Qt.TextAlignmentRole) & int(Qt.AlignRight)
    assert model.data(model.index(1, 0), Qt.TextAlignmentRole) & int(Qt.AlignLeft)
    assert model.data(model.index(1, 1), Qt.UserRole) == 200_00
    assert model.headerData(2, Qt.Horizontal) == "Qty"


def test_sign_colour_green_up_red_down_plain_at_zero(qapp):
    model = make_model(3)
    model.upsert(Row("K0", 1, 1, change=150))
    model.upsert(Row("K1", 1, 1, change=-5))
    assert model.data(model.index(0, 3)) == "+1.50"
    assert model.data(model.index(1, 3)) == "-0.05"
    assert model.data(model.index(0, 3), Qt.ForegroundRole).color() == QColor(theme.current().positive)
    assert model.data(model.index(1, 3), Qt.ForegroundRole).color() == QColor(theme.current().negative)
    assert model.data(model.index(2, 3), Qt.ForegroundRole) is None


def test_refresh_keys_emits_one_signal_per_contiguous_run_and_no_reset(qapp):
    model = make_model(8)
    spy = Spy(model)
    emitted = model.refresh_keys({"K1", "K2", "K3", "K6", "unknown"})
    assert emitted == 2
    assert sorted(spy.changed) == [(1, 3, 0, 3), (6, 6, 0, 3)]
    assert spy.resets == 0


def test_refresh_of_unknown_keys_emits_nothing(qapp):
    model = make_model()
    spy = Spy(model)
    assert model.refresh_keys(["nope"]) == 0
    assert spy.changed == []


def test_upsert_replaces_by_key_or_appends(qapp):
    model = make_model(3)
    spy = Spy(model)
    inserted = []
    model.rowsInserted.connect(lambda parent, first, last: inserted.append((first, last)))
    assert model.upsert(Row("K1", 999, 1)) == 1
    assert model.item(1).price == 999
    assert spy.changed == [(1, 1, 0, 3)]
    assert model.upsert(Row("NEW", 5, 5)) == 3
    assert inserted == [(3, 3)]
    assert model.row_for_key("NEW") == 3
    assert spy.resets == 0


def test_remove_reindexes_following_rows(qapp):
    model = make_model(4)
    assert model.remove("K1")
    assert not model.remove("K1")
    assert model.keys() == ["K0", "K2", "K3"]
    assert model.row_for_key("K3") == 2
    assert model.get("K2").price == 300_00


def test_move_keeps_index_consistent(qapp):
    model = make_model(4)
    assert model.move("K0", 3)
    assert model.keys() == ["K1", "K2", "K3", "K0"]
    assert model.move("K0", 0)
    assert model.keys() == ["K0", "K1", "K2", "K3"]
    assert all(model.row_for_key(k) == i for i, k in enumerate(model.keys()))


def test_no_rows_for_child_indexes(qapp):
    model = make_model(2)
    assert model.rowCount(model.index(0, 0)) == 0
    assert model.data(QModelIndex()) is None


def test_view_selection_enter_and_csv(qtbot, tmp_path):
    model = make_model(3)
    view = TradingTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    rows = []
    activated = []
    view.current_row_changed.connect(rows.append)
    view.row_activated.connect(activated.append)
    view.show()
    view.select_row(2)
    assert view.current_row() == 2 and rows[-1] == 2
    qtbot.keyClick(view, Qt.Key_Return)
    assert activated == [2]
    qtbot.keyClick(view, Qt.Key_Home)
    assert view.current_row() == 0
    path = tmp_path / "t.csv"
    assert view.export_csv(path) == 3
    text = path.read_text(encoding="utf-8").splitlines()
    assert text[0] == "Key,Price,Qty,Chg"
    assert text[3] == 'K2,300.00,"2,00,000",0.00'


def test_sync_signals_only_changed_rows_when_keys_are_the_same(qapp):
    model = make_model(4)
    spy = Spy(model)
    rows = model.rows()
    rows[2] = Row("K2", 1, 1)
    assert model.sync(rows) is False
    assert spy.changed == [(2, 2, 0, 3)] and spy.resets == 0
    assert model.sync(list(reversed(rows))) is True
    assert spy.resets == 1
    assert model.keys() == ["K3", "K2", "K1", "K0"] and model.row_for_key("K0") == 3


# --- formatted-cell cache and the cached-cell painter --------------------------------------------


class CountingModel(KeyedTableModel):
    """Counts data() calls, to prove that a cached view paints without asking the model per role."""

    calls = 0

    def data(self, index, role=Qt.DisplayRole):
        CountingModel.calls += 1
        return super().data(index, role)


def make_cached_model(count: int = 6, model_class=KeyedTableModel) -> KeyedTableModel:
    model = model_class(
        [Column("Key", lambda r: r.key), price_column("Price", lambda r: r.price),
         quantity_column("Qty", lambda r: r.qty), signed_price_column("Chg", lambda r: r.change)],
        key_of=lambda r: r.key, cache_cells=True)
    model.set_rows([Row(f"K{i}", 100_00 * (i + 1), 100_000 * i) for i in range(count)])
    return model


def test_cached_model_answers_like_the_plain_one(qapp):
    plain, cached = make_model(4), make_cached_model(4)
    cached.upsert(Row("K1", 1, 1, change=-5))
    plain.upsert(Row("K1", 1, 1, change=-5))
    for row in range(4):
        for column in range(4):
            for role in (Qt.DisplayRole, Qt.TextAlignmentRole, Qt.UserRole, Qt.BackgroundRole):
                assert cached.data(cached.index(row, column), role) == plain.data(plain.index(row, column), role)
            brush = cached.data(cached.index(row, column), Qt.ForegroundRole)
            expected = plain.data(plain.index(row, column), Qt.ForegroundRole)
            assert (brush is None) == (expected is None)
            if brush is not None:
                assert brush.color() == expected.color() == cached.cells(row)[column].colour


def test_cached_row_changes_only_when_refreshed_by_key(qapp):
    model = make_cached_model(4)
    assert model.data(model.index(2, 1)) == "300.00" and model.data(model.index(3, 1)) == "400.00"
    model.item(2).price = 301_00  # live state moved, nobody said so yet: the cell stays as painted
    model.item(3).price = 401_00
    assert model.data(model.index(2, 1)) == "300.00"
    model.refresh_keys(["K2"])
    assert model.data(model.index(2, 1)) == "301.00"
    assert model.data(model.index(3, 1)) == "400.00"  # not refreshed
    model.refresh_all()
    assert model.data(model.index(3, 1)) == "401.00"


def test_cached_rows_follow_removes_moves_and_resets(qapp):
    model = make_cached_model(4)
    assert [model.data(model.index(r, 0)) for r in range(4)] == ["K0", "K1", "K2", "K3"]
    model.remove("K1")
    assert [model.data(model.index(r, 0)) for r in range(3)] == ["K0", "K2", "K3"]
    model.move("K3", 0)
    assert [model.data(model.index(r, 0)) for r in range(3)] == ["K3", "K0", "K2"]
    model.upsert(Row("K9", 9_00, 9))
    assert model.data(model.index(3, 1)) == "9.00"
    model.set_rows([Row("A", 1_00, 1)])
    assert model.data(model.index(0, 0)) == "A" and model.rowCount() == 1


def test_theme_change_recolours_cached_cells(qtbot):
    model = make_cached_model(2)
    model.upsert(Row("K0", 1, 1, change=150))
    view = TradingTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    previous = theme.current().name
    try:
        theme.apply_theme(QApplication.instance(), "dark")
        assert model.data(model.index(0, 3), Qt.ForegroundRole).color() == QColor(theme.DARK.positive)
        theme.apply_theme(QApplication.instance(), "light")
        assert model.data(model.index(0, 3), Qt.ForegroundRole).color() == QColor(theme.LIGHT.positive)
    finally:
        theme.apply_theme(QApplication.instance(), previous)


def render(view: TradingTableView) -> QImage:
    image = QImage(view.viewport().size(), QImage.Format_ARGB32)
    view.viewport().render(image)
    return image


def test_cached_view_paints_from_the_cache_not_per_role(qtbot):
    model = make_cached_model(6, CountingModel)
    view = TradingTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(500, 300)
    view.show()
    qtbot.waitExposed(view)
    render(view)
    CountingModel.calls = 0
    render(view)
    assert CountingModel.calls == 0
    model.refresh_keys(["K1"])
    render(view)
    assert CountingModel.calls == 0  # the row is formatted again, straight from the columns


def test_cached_view_looks_like_the_default_one(qtbot):
    """Same rows, same colours: the selected row in the highlight colour, alternate rows in the
    alternate base, a cell background over them, and the same text in the same columns."""
    cached = make_cached_model(4)
    plain = make_model(4)
    for model in (cached, plain):
        model.background_of = lambda r: "#806040" if r.key == "K2" else None
    views = []
    for model in (cached, plain):
        view = TradingTableView()
        qtbot.addWidget(view)
        view.setModel(model)
        view.resize(520, 200)
        view.show()
        qtbot.waitExposed(view)
        view.select_row(0)
        views.append(view)
    fast, slow = (render(v) for v in views)
    row_height = views[0].rowHeight(0)
    palette = views[0].palette()
    middle = row_height // 2
    for image in (fast, slow):
        assert image.pixelColor(2, middle) == palette.color(QPalette.Highlight)  # row 0 selected
        assert image.pixelColor(2, row_height + middle) == palette.color(QPalette.AlternateBase)  # row 1
        assert image.pixelColor(2, 2 * row_height + middle) == QColor("#806040")  # row 2's background
    # Text lands in the same place: each cell's ink (pixels unlike the cell's background) spans
    # the same columns of pixels, within a pixel or two of rounding.
    for row in range(4):
        for column in range(4):
            rect = views[0].visualRect(cached.index(row, column))
            spans = []
            for image in (fast, slow):
                paper = image.pixelColor(rect.left(), rect.top())
                xs = [x for x in range(rect.left(), rect.right()) for y in range(rect.top(), rect.bottom())
                      if image.pixelColor(x, y) != paper]
                spans.append((min(xs), max(xs)) if xs else None)
            assert (spans[0] is None) == (spans[1] is None), (row, column)
            if spans[0]:
                assert abs(spans[0][0] - spans[1][0]) <= 2 and abs(spans[0][1] - spans[1][1]) <= 2, (row, column, spans)


def test_flags_enabled_and_selectable_without_a_python_override(qapp):
    model = make_cached_model(2)
    flags = model.flags(model.index(1, 2))
    assert flags & Qt.ItemIsEnabled and flags & Qt.ItemIsSelectable and not flags & Qt.ItemIsEditable
    assert "flags" not in KeyedTableModel.__dict__  # Qt asks per column on every selection check


def test_refresh_cells_signals_one_column_and_reformats_its_rows(qapp):
    model = make_cached_model(5)
    assert model.data(model.index(1, 1)) == "200.00"
    spy = Spy(model)
    model.item(1).price = 201_00
    model.item(2).price = 301_00
    assert model.refresh_cells(["K1", "K2", "K4", "nope"], 1) == 2
    assert sorted(spy.changed) == [(1, 2, 1, 1), (4, 4, 1, 1)]
    assert model.data(model.index(1, 1)) == "201.00" and model.data(model.index(2, 1)) == "301.00"


def test_cached_view_paints_its_own_background_below_the_rows(qtbot):
    model = make_cached_model(2)
    view = TradingTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(400, 300)
    view.show()
    qtbot.waitExposed(view)
    assert view.viewport().testAttribute(Qt.WA_OpaquePaintEvent)  # Qt paints nothing beneath
    image = render(view)
    below = image.pixelColor(200, image.height() - 5)
    assert below == view.palette().color(QPalette.Base), below.name()


# --- signalling only the rows on screen ------------------------------------------------------------


def shown_view(qtbot, model, height: int = 300) -> TradingTableView:
    view = TradingTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    model.show_in(view)
    view.resize(420, height)
    view.show()
    qtbot.waitExposed(view)
    return view


def screen_image(view) -> QImage:
    """The window as last painted (the backing store), not a fresh render: shows what the
    incremental repaints left on screen."""
    QApplication.processEvents()
    QApplication.processEvents()
    return QGuiApplication.primaryScreen().grabWindow(view.winId()).toImage()


def test_rows_scrolled_out_of_view_are_not_signalled_but_show_their_change_when_scrolled_in(qtbot):
    model = make_cached_model(60)
    view = shown_view(qtbot, model, height=150)
    assert model.data(model.index(50, 1)) == "5,100.00"  # formatted and cached
    first, last = model._rows_on_screen()
    assert first == 0 and 3 <= last < 50
    spy = Spy(model)
    model.item(1).price = 1_00
    model.item(50).price = 2_00
    assert model.refresh_keys(["K1", "K50"]) == 1
    assert spy.changed == [(1, 1, 0, 3)]  # row 50 is far below the viewport
    assert model.data(model.index(50, 1)) == "2.00"  # forgotten, so formatted afresh when asked
    view.scrollTo(model.index(50, 0))
    image = screen_image(view)
    view.viewport().update()
    assert screen_image(view) == image  # scrolled in, it was painted with its new price


def test_a_view_hidden_in_a_shown_window_gets_no_signals_and_a_never_shown_one_gets_all(qtbot):
    from PySide6.QtWidgets import QTabWidget

    tabs = QTabWidget()
    qtbot.addWidget(tabs)
    front, back = make_cached_model(4), make_cached_model(4)
    views = []
    for model in (front, back):
        view = TradingTableView()
        view.setModel(model)
        model.show_in(view)
        tabs.addTab(view, "t")
        views.append(view)
    spies = [Spy(front), Spy(back)]
    front.refresh_keys(["K1"])
    back.refresh_keys(["K1"])
    assert spies[0].changed == spies[1].changed == [(1, 1, 0, 3)]  # no window on screen: layout unknown
    tabs.resize(420, 300)
    tabs.show()
    qtbot.waitExposed(tabs)
    spies = [Spy(front), Spy(back)]
    front.refresh_keys(["K1"])
    back.refresh_keys(["K1"])
    back.refresh_all()
    assert spies[0].changed == [(1, 1, 0, 3)] and spies[1].changed == []
    tabs.setCurrentIndex(1)
    back.item(2).price = 7_00
    back.refresh_keys(["K2"])
    assert spies[1].changed == [(2, 2, 0, 3)]
    assert back.data(back.index(2, 1)) == "7.00"


def test_refreshing_a_row_leaves_the_next_row_as_a_full_repaint_would(qtbot):
    """Qt's dirty rect for a changed row reaches a pixel into the next one; the view repaints
    that strip's background (here the alternate row colour) without drawing its text."""
    model = make_cached_model(6)
    view = shown_view(qtbot, model)
    screen_image(view)
    model.item(0).price = 555_00
    model.refresh_keys(["K0"])
    after_refresh = screen_image(view)
    view.viewport().update()
    assert screen_image(view) == after_refresh


def test_refresh_keys_with_cells_signals_whole_rows_and_one_column_of_others(qapp):
    model = make_cached_model(6)
    spy = Spy(model)
    assert model.refresh_keys(["K1", "K2"], ["K4"], 1) == 2
    assert spy.changed == [(1, 2, 0, 3), (4, 4, 1, 1)]


def test_refreshing_one_cell_keeps_the_rest_of_the_cached_row(qapp):
    model = make_cached_model(3, CountingModel)
    before = model.cells(1)
    model.item(1).price = 9_00
    model.item(1).qty = 5
    model.refresh_cells(["K1"], 1)
    after = model.cells(1)
    assert after[1].text == "9.00" and after[2] is before[2] and after[0] is before[0]
