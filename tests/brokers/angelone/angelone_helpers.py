"""Shared helpers of the Angel One tests (a unique module name, so no clash with other brokers' tests)."""

from __future__ import annotations

from pathlib import Path

from support.feed_sink import RecordingSink

from terminal.brokers.angelone import AngelOneBroker, AngelOneConfig, sandbox_config, store_sandbox_secrets
from terminal.brokers.angelone.http import SmartApiHttp
from terminal.brokers.ratelimit import RateLimits
from terminal.sim.servers.smartapi import SmartApiSandbox

__all__ = ["RESOURCES", "RecordingSink", "frame", "make_broker"]  # RecordingSink is tests/support's

RESOURCES = Path(__file__).resolve().parents[2] / "resources" / "angelone"


def frame(name: str) -> bytes:
    """A fixture frame from its hex dump (offset column, then bytes)."""
    text = (RESOURCES / name).read_text()
    return bytes.fromhex("".join(line[6:] for line in text.splitlines() if line.strip()))


def make_broker(box: SmartApiSandbox, tmp_path: Path, **overrides) -> AngelOneBroker:
    """A broker for the sandbox; client-side rate limits off so tests run fast (they are tested apart)."""
    store_sandbox_secrets(box.info)
    settings = sandbox_config(box.info)
    settings.update(ping_interval=0.5, stall_timeout=3.0, reconnect_delay=0.05, reconnect_max_delay=0.5)
    settings.update(overrides)
    config = AngelOneConfig.from_dict(settings)
    http = SmartApiHttp(config.rest_url, config.api_key, public_ip=config.public_ip, limits=RateLimits({}))
    return AngelOneBroker(config, http=http, cache_dir=tmp_path / "cache")
