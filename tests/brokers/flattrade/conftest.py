"""A loopback Noren sandbox per test, and a FlattradeBroker logged in to it."""

from __future__ import annotations

import pytest
from flattrade_helpers import RecordingSink, follow_in_background, free_port

from terminal.brokers.flattrade import create_broker, sandbox_config, store_sandbox_secrets
from terminal.sim.servers.noren import NorenSandbox


@pytest.fixture
def sandbox():
    server = NorenSandbox(redirect_port=free_port(), step_interval=0.05, seed=7).start()
    yield server
    server.stop()


@pytest.fixture
def broker_config(sandbox):
    info = sandbox.info()
    store_sandbox_secrets(info)
    config = sandbox_config(info)
    config.update(reconnect_initial_delay=0.1, reconnect_max_delay=0.5, login_timeout=5.0, http_timeout=5.0)
    return config


@pytest.fixture
def broker(broker_config, tmp_path):
    b = create_broker(broker_config, opener=follow_in_background, cache_dir=tmp_path / "scrips")
    b.login()
    yield b
    b.disconnect_feed()


@pytest.fixture
def sink():
    return RecordingSink()
