"""Paper trading over the built-in simulated exchange: the default broker."""

from terminal.brokers.paper.broker import PaperBroker

__all__ = ["PaperBroker"]
