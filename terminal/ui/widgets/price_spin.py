"""A price field in rupees that steps by the instrument's tick size and speaks paise to code."""

from __future__ import annotations

from PySide6.QtWidgets import QAbstractSpinBox, QDoubleSpinBox, QWidget

from terminal.domain.validation import round_to_tick

MAX_PRICE_RUPEES = 99_99_999.95


class TickPriceSpinBox(QDoubleSpinBox):
    """Shows rupees with two decimals; the arrow keys and wheel move one tick at a time.

    A price typed off the tick grid is kept as typed (validation explains it); the next arrow
    press first snaps it to the grid in the direction of the press.
    """

    def __init__(self, parent: QWidget | None = None, tick_paise: int = 5):
        super().__init__(parent)
        self.setDecimals(2)
        self.setRange(0.0, MAX_PRICE_RUPEES)
        self.setGroupSeparatorShown(False)
        self.setAccelerated(True)
        self.setKeyboardTracking(True)
        self.setButtonSymbols(QAbstractSpinBox.UpDownArrows)
        self._tick = 5
        self.set_tick(tick_paise)

    @property
    def tick(self) -> int:
        return self._tick

    def set_tick(self, tick_paise: int) -> None:
        self._tick = max(1, int(tick_paise))
        self.setSingleStep(self._tick / 100)

    def paise(self) -> int:
        return round(self.value() * 100)

    def set_paise(self, paise: int) -> None:
        self.setValue(paise / 100)

    def stepBy(self, steps: int) -> None:
        price = self.paise()
        on_grid = round_to_tick(price, self._tick)
        if on_grid != price:  # snap first: an up press from 1545.03 lands on 1545.05
            on_grid = (price // self._tick + (1 if steps > 0 else 0)) * self._tick
            steps -= 1 if steps > 0 else -1
        self.set_paise(max(0, on_grid + steps * self._tick))
        self.selectAll()
