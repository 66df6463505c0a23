"""Angel One settings: the account, the user's registered public IP and the endpoint URLs.

Secrets (trading PIN, TOTP secret) are never part of the config: they are read from the OS
keyring (terminal.storage.secrets) under ("angelone", client_code, "pin" / "totp_secret").
"""

from __future__ import annotations

from dataclasses import dataclass, fields

REST_URL = "https://apiconnect.angelone.in"
WS_URL = "wss://smartapisocket.angelone.in/smart-stream"
ORDER_WS_URL = "wss://tns.angelone.in/smart-order-update"
SCRIP_MASTER_URL = "https://margincalculator.angelbroking.com/OpenAPI_File/files/OpenAPIScripMaster.json"


@dataclass(frozen=True, slots=True)
class AngelOneConfig:
    """Everything but the secrets. Times are seconds.

    ``public_ip`` is the static IP registered with Angel One (a user setting; the terminal never
    asks an outside service for it). ``ping_interval`` is the text ``ping`` period, ``stall_timeout``
    how long a silent market socket is trusted before it is rebuilt, ``reconnect_delay`` and
    ``reconnect_max_delay`` bound the exponential backoff between reconnects.
    """

    client_code: str
    api_key: str
    public_ip: str = ""
    local_ip: str = "127.0.0.1"
    rest_url: str = REST_URL
    ws_url: str = WS_URL
    order_ws_url: str = ORDER_WS_URL
    scrip_master_url: str = SCRIP_MASTER_URL
    timeout: float = 7.0
    ping_interval: float = 10.0
    stall_timeout: float = 30.0
    reconnect_delay: float = 1.0
    reconnect_max_delay: float = 30.0

    def __post_init__(self) -> None:
        if not self.client_code.strip():
            raise ValueError("Angel One client code is empty: set it in Settings > Brokers.")
        if not self.api_key.strip():
            raise ValueError("Angel One API key is empty: set it in Settings > Brokers.")
        for name in ("timeout", "ping_interval", "stall_timeout", "reconnect_delay", "reconnect_max_delay"):
            if getattr(self, name) <= 0:
                raise ValueError(f"Angel One setting {name} must be positive (seconds).")

    @classmethod
    def from_dict(cls, config: dict) -> "AngelOneConfig":
        """Build from a plain dict; unknown keys are refused so a typo is not silently ignored."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"Unknown Angel One settings: {', '.join(unknown)}")
        missing = [name for name in ("client_code", "api_key") if not config.get(name)]
        if missing:
            raise ValueError(f"Angel One settings missing: {', '.join(missing)}")
        return cls(**config)
