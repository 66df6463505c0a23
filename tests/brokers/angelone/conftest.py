"""Angel One tests: a loopback SmartAPI sandbox over the simulated exchange, and a broker wired to it."""

from __future__ import annotations

import uuid

import pytest

from angelone_helpers import RecordingSink, make_broker
from terminal.sim.exchange import SimulatedExchange
from terminal.sim.servers.smartapi import SmartApiSandbox


@pytest.fixture(scope="session")
def shared_exchange():
    return SimulatedExchange(seed=7, strikes_each_side=5)


@pytest.fixture
def sandbox(shared_exchange):
    box = SmartApiSandbox(shared_exchange, client_code="T" + uuid.uuid4().hex[:7].upper(), enforce_rate_limits=False,
                          step_interval=0.02)
    box.start()
    yield box
    box.stop()


@pytest.fixture
def broker(sandbox, tmp_path):
    b = make_broker(sandbox, tmp_path)
    b.login()
    yield b
    b.disconnect_feed()


@pytest.fixture
def sink():
    return RecordingSink()
