"""Loopback front-ends that speak the real brokers' wire protocols from the simulated exchange.

``trading-terminal sandbox noren`` (Flattrade) and ``trading-terminal sandbox smartapi``
(Angel One). Each prints one JSON line with its URLs and test credentials, then serves until
interrupted. They bind to loopback only.
"""
