"""Angel One (SmartAPI) adapter: REST, the binary WebSocket 2.0 feed, order updates, instrument master.

Layout: ``config`` (settings), ``auth`` (PIN + TOTP login, token refresh), ``http`` (routes,
headers, rate limits, reply shapes), ``schemas`` (wire <-> domain), ``decoder`` (binary ticks),
``sockets`` / ``market_feed`` / ``order_updates`` (websockets), ``instruments`` (scrip master),
``broker`` (the Broker contract). The loopback sandbox is ``terminal.sim.servers.smartapi``.
"""

from __future__ import annotations

from terminal.brokers.angelone.broker import AngelOneBroker
from terminal.brokers.angelone.config import AngelOneConfig
from terminal.brokers.angelone.decoder import FrameError, decode_tick

__all__ = ["AngelOneBroker", "AngelOneConfig", "FrameError", "create_broker", "decode_tick", "sandbox_config",
           "store_sandbox_secrets"]


def create_broker(config: dict) -> AngelOneBroker:
    """An AngelOneBroker from a settings dict (client_code, api_key, public_ip, URLs...).

    The PIN and TOTP secret are read from the OS keyring at login, never from ``config``.
    """
    return AngelOneBroker(AngelOneConfig.from_dict(config))


def sandbox_config(sandbox_json: dict) -> dict:
    """The settings dict for the sandbox whose first stdout line is ``sandbox_json``.

    Secrets in that line are left out: store them with ``store_sandbox_secrets``.
    """
    return {
        "client_code": sandbox_json["client_code"], "api_key": sandbox_json["api_key"],
        "public_ip": "127.0.0.1", "rest_url": sandbox_json["rest_url"], "ws_url": sandbox_json["ws_url"],
        "order_ws_url": sandbox_json["order_ws_url"], "scrip_master_url": sandbox_json["scrip_master_url"],
    }


def store_sandbox_secrets(sandbox_json: dict) -> None:
    """Put the sandbox's test PIN and TOTP secret in the keyring, as a user would for a real account."""
    from terminal.storage.secrets import save_secret

    save_secret("angelone", sandbox_json["client_code"], "pin", sandbox_json["pin"])
    save_secret("angelone", sandbox_json["client_code"], "totp_secret", sandbox_json["totp_secret"])
