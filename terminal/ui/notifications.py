"""Toasts for fills and rejections inside the window, with an optional tray balloon and sound.

``Notifier`` watches the PortfolioStore's orders: an order that becomes COMPLETE, fills more,
or is REJECTED after the notifier started gets a toast (orders already done at login do not).
Errors of the MessageLog (a risk refusal, a broker that refused at placement) get one too.
Options live in settings["notifications"]: {"toasts": bool, "tray": bool, "sound": bool,
"seconds": float}. Sound is QSoundEffect when QtMultimedia is installed, else the system beep.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, QTimer, Signal
from PySide6.QtWidgets import QApplication, QFrame, QLabel, QSystemTrayIcon, QVBoxLayout, QWidget

from terminal.domain import OrderStatus
from terminal.domain.money import format_price
from terminal.ui import theme

DEFAULTS = {"toasts": True, "tray": False, "sound": False, "seconds": 5.0}
MAX_TOASTS = 4  # more at once are not read; the oldest goes
SAME_EVENT_SECONDS = 2.0  # a rejection told by the order service and then by the order book is one event


@dataclass(frozen=True)
class Notice:
    kind: str  # "fill", "partial", "rejected", "error"
    title: str
    text: str


class Toast(QFrame):
    """One notice in the window's corner; a click closes it."""

    closed = Signal()

    def __init__(self, notice: Notice, seconds: float, parent: QWidget):
        super().__init__(parent)
        self.notice = notice
        self.setObjectName(f"toast_{notice.kind}")
        colours = theme.current()
        accent = {"fill": colours.positive, "partial": colours.positive}.get(notice.kind, colours.negative)
        self.setStyleSheet(f"#{self.objectName()} {{ background: {colours.alt_base}; border: 1px solid "
                           f"{colours.border}; border-left: 4px solid {accent}; border-radius: 4px; }}")
        title = QLabel(f"<b>{notice.title}</b>", self)
        body = QLabel(notice.text, self)
        body.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 8)
        layout.addWidget(title)
        layout.addWidget(body)
        self.setFixedWidth(340)
        self.setAttribute(Qt.WA_DeleteOnClose)
        QTimer.singleShot(int(seconds * 1000), self.close)

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        self.close()

    def closeEvent(self, event) -> None:  # noqa: N802
        self.closed.emit()
        super().closeEvent(event)


class Notifier(QObject):
    """Turns order updates and error messages into toasts on ``window``.

    ``notified(Notice)`` fires for every notice, shown or not (tests, a future history panel).
    """

    notified = Signal(object)

    def __init__(self, window: QWidget, portfolio, messages=None, settings=None, account: str | None = None,
                 tray_icon=None):
        super().__init__(window)
        self.window = window
        self.settings = settings
        self.account = account
        self.toasts: list[Toast] = []
        self._started = time.time()
        self._seen: dict[tuple, tuple[OrderStatus, int]] = {}
        self._last_error_at = 0.0
        self._tray = None
        self._tray_icon = tray_icon
        self._sound = None
        self._portfolio, self._account = portfolio, account
        portfolio.orders_changed.connect(self._orders_changed)  # a bound slot: gone with this object
        if messages is not None:
            messages.message_added.connect(self.on_message)
        window.installEventFilter(self)  # keep toasts in the corner when the window resizes

    def _orders_changed(self) -> None:
        self.on_orders(self._portfolio.orders(self._account))

    def option(self, name: str):
        values = (self.settings.get("notifications", {}) or {}) if self.settings is not None else {}
        return values.get(name, DEFAULTS[name])

    # --- sources --------------------------------------------------------------------------------
    def on_orders(self, orders) -> None:
        for order in orders:
            status, filled = order.status, order.filled_quantity
            before = self._seen.get(order.key)
            self._seen[order.key] = (status, filled)
            if before is None and order.updated_at and order.updated_at < self._started:
                continue  # already like this when the terminal started
            if before == (status, filled):
                continue
            side = order.side.value.capitalize()
            what = f"{side} {order.quantity} {order.trading_symbol}"
            if status is OrderStatus.COMPLETE and (before is None or before[0] is not OrderStatus.COMPLETE):
                price = f" at {format_price(order.average_price)}" if order.average_price else ""
                self.notify(Notice("fill", "Filled", f"{what}{price} (order {order.order_id})"))
            elif status is OrderStatus.PARTIALLY_FILLED and filled > (before[1] if before else 0):
                self.notify(Notice("partial", "Part filled",
                                   f"{filled} of {order.quantity} {order.trading_symbol} (order {order.order_id})"))
            elif status is OrderStatus.REJECTED and (before is None or before[0] is not OrderStatus.REJECTED):
                if time.monotonic() - self._last_error_at < SAME_EVENT_SECONDS:
                    continue
                reason = order.status_message or "no reason given"
                self.notify(Notice("rejected", "Rejected", f"{what}: {reason}"))

    def on_message(self, message) -> None:
        if getattr(message.level, "value", message.level) != "ERROR":
            return
        self._last_error_at = time.monotonic()
        text = message.text + (f"\n{message.hint}" if message.hint else "")
        self.notify(Notice("error", "Rejected" if message.text.startswith("Rejected") else "Error", text))

    # --- showing --------------------------------------------------------------------------------
    def notify(self, notice: Notice) -> None:
        self.notified.emit(notice)
        if self.option("toasts"):
            self._show_toast(notice)
        if self.option("tray"):
            self._show_tray(notice)
        if self.option("sound"):
            self._play_sound()

    def _show_toast(self, notice: Notice) -> None:
        while len(self.toasts) >= MAX_TOASTS:
            self.toasts[0].close()
        toast = Toast(notice, float(self.option("seconds")), self.window)
        toast.closed.connect(lambda t=toast: self._forget(t))
        self.toasts.append(toast)
        toast.show()
        toast.raise_()
        self._place()

    def _forget(self, toast: Toast) -> None:
        if toast in self.toasts:
            self.toasts.remove(toast)
            self._place()

    def _place(self) -> None:
        """Stack toasts upwards from the bottom-right corner, above the status bar."""
        margin = 12
        bottom = self.window.height() - margin
        status = getattr(self.window, "statusBar", None)
        if callable(status) and status().isVisible():
            bottom -= status().height()
        for toast in reversed(self.toasts):
            toast.adjustSize()
            bottom -= toast.height()
            toast.move(QPoint(self.window.width() - toast.width() - margin, bottom))
            bottom -= 6

    def eventFilter(self, watched, event) -> bool:  # noqa: N802
        if watched is self.window and event.type() == QEvent.Resize and self.toasts:
            self._place()
        return False

    def _show_tray(self, notice: Notice) -> None:
        if not QSystemTrayIcon.isSystemTrayAvailable():
            return
        if self._tray is None:
            from terminal import resources

            self._tray = QSystemTrayIcon(self._tray_icon or resources.app_icon(), self)
            self._tray.setToolTip("Trading Terminal")
            self._tray.show()
        icon = QSystemTrayIcon.Information if notice.kind in ("fill", "partial") else QSystemTrayIcon.Critical
        self._tray.showMessage(notice.title, notice.text, icon, int(float(self.option("seconds")) * 1000))

    def _play_sound(self) -> None:
        if self._sound is None:
            self._sound = _sound_effect() or False
        if self._sound:
            self._sound.play()
        else:
            QApplication.beep()


def _sound_effect():
    """A QSoundEffect of resources/sounds/notify.wav when QtMultimedia and the file exist."""
    try:
        from PySide6.QtCore import QUrl
        from PySide6.QtMultimedia import QSoundEffect

        from terminal.resources import ResourceMissing, resource_path
    except ImportError:
        return None
    try:
        path = resource_path("sounds/notify.wav")
    except ResourceMissing:
        return None
    effect = QSoundEffect()
    effect.setSource(QUrl.fromLocalFile(str(path)))
    return effect
