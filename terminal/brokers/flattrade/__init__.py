"""Flattrade (PiConnect / Noren OMS): the adapter, its configuration, and wiring to the sandbox.

    broker = create_broker({"client_id": "FZ12345", "api_key": "..."})   # real Flattrade
    broker.login()   # browser login; the API secret comes from the OS keyring

Against the loopback sandbox (``trading-terminal sandbox noren`` prints one JSON line):

    info = json.loads(first_line)
    store_sandbox_secrets(info)
    broker = create_broker(sandbox_config(info))
"""

from __future__ import annotations

from terminal.brokers.flattrade.broker import FlattradeBroker
from terminal.brokers.flattrade.config import FlattradeConfig
from terminal.brokers.flattrade.gtt import OcoRule
from terminal.storage import secrets

__all__ = ["FlattradeBroker", "FlattradeConfig", "OcoRule", "create_broker", "sandbox_config", "store_sandbox_secrets"]


def create_broker(config: dict, **kwargs) -> FlattradeBroker:
    """A FlattradeBroker from a settings dict: client_id, api_key, and optionally redirect_port,
    auth_url, token_url, rest_url, ws_url, scrip_master_url, scrip_files, market_protection_percent
    and the timing knobs of FlattradeConfig. ``kwargs`` go to FlattradeBroker (opener, cache_dir)."""
    return FlattradeBroker(FlattradeConfig.from_dict(config), **kwargs)


_SANDBOX_KEYS = ("auth_url", "token_url", "rest_url", "ws_url", "scrip_master_url", "redirect_port")


def sandbox_config(sandbox_json: dict) -> dict:
    """The create_broker config for a running sandbox, from the JSON of its first stdout line."""
    missing = [k for k in ("user_id", "api_key", *_SANDBOX_KEYS) if k not in sandbox_json]
    if missing:
        raise ValueError(f"not a Noren sandbox description; missing {', '.join(missing)}")
    config = {"client_id": sandbox_json["user_id"], "api_key": sandbox_json["api_key"]}
    config.update({k: sandbox_json[k] for k in _SANDBOX_KEYS})
    if "scrip_files" in sandbox_json:
        config["scrip_files"] = list(sandbox_json["scrip_files"])
    return config


def store_sandbox_secrets(sandbox_json: dict) -> None:
    """Put the sandbox's test API secret in the keyring, where the adapter reads secrets from."""
    secrets.save_secret("flattrade", sandbox_json["user_id"], "api_secret", sandbox_json["api_secret"])
