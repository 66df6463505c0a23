"""Errors the simulated exchange raises. Order *rejections* are not errors: a refused order is
recorded with status REJECTED and the reason in ``status_message``, as a real exchange does."""

from __future__ import annotations


class SimError(Exception):
    """Base of every error the simulator raises; the message is meant for a trader."""


class UnknownAccountError(SimError):
    pass


class UnknownInstrumentError(SimError):
    pass


class UnknownOrderError(SimError):
    pass


class OrderNotOpenError(SimError):
    """The order is complete, cancelled or rejected, so it can no longer be changed."""


class ModificationRejectedError(SimError):
    """A modify request was refused; the order stays as it was. ``reason`` is the trader's text."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
