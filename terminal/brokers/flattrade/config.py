"""Flattrade settings: who logs in, where the endpoints are, and the adapter's tuning knobs.

The API secret is not here: it lives in the OS keyring (``terminal.storage.secrets``) under
("flattrade", client_id, "api_secret"). Endpoints default to Flattrade's real v2 hosts; the
sandbox (``trading-terminal sandbox noren``) prints the URLs to point them at loopback.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

AUTH_URL = "https://auth.flattrade.in/"
TOKEN_URL = "https://authapi.flattrade.in/trade/apitoken"
REST_URL = "https://piconnect.flattrade.in/PiConnectAPI/"
WS_URL = "wss://piconnect.flattrade.in/PiConnectWSAPI/"
SCRIP_MASTER_URL = "https://flattrade.s3.ap-south-1.amazonaws.com/scripmaster/"

# Segment files of the scrip master the terminal loads (MCX and CDS are left out by default).
DEFAULT_SCRIP_FILES = (
    "NSE_Equity.csv", "Nfo_Index_Derivatives.csv", "Nfo_Equity_Derivatives.csv",
    "BSE_Equity.csv", "Bfo_Index_Derivatives.csv",
)


@dataclass(frozen=True)
class FlattradeConfig:
    """Frozen settings of one Flattrade account.

    ``market_protection_percent``: Flattrade refuses MKT and SL-MKT for API orders, so a market
    order is sent as a LIMIT priced this many percent through the LTP (buy above, sell below,
    rounded to the tick away from the LTP); an SL-M order becomes SL-LMT with its limit that
    far through the trigger. Times are seconds.
    """

    client_id: str
    api_key: str
    redirect_port: int = 8765
    auth_url: str = AUTH_URL
    token_url: str = TOKEN_URL
    rest_url: str = REST_URL
    ws_url: str = WS_URL
    scrip_master_url: str = SCRIP_MASTER_URL
    scrip_files: tuple[str, ...] = DEFAULT_SCRIP_FILES
    market_protection_percent: float = 2.0
    http_timeout: float = 10.0
    login_timeout: float = 300.0
    heartbeat_interval: float = 30.0  # {"t":"h"} every 30 s, as the docs ask
    dead_link_after: float = 120.0  # no inbound frame for this long: reconnect
    reconnect_initial_delay: float = 2.0  # doubled per failed attempt, capped below
    reconnect_max_delay: float = 60.0

    def __post_init__(self) -> None:
        if not self.client_id or not self.api_key:
            raise ValueError("Flattrade needs a client id (e.g. FZ12345) and an API key")
        if not 0 < self.market_protection_percent <= 20:
            raise ValueError("market_protection_percent must be in (0, 20]")
        if not 0 <= int(self.redirect_port) < 65536:
            raise ValueError("redirect_port must be a TCP port number")
        for name in ("rest_url", "ws_url", "scrip_master_url"):
            value = getattr(self, name)
            if not value.endswith("/"):
                object.__setattr__(self, name, value + "/")

    @classmethod
    def from_dict(cls, config: dict) -> "FlattradeConfig":
        """Build from a settings dict; unknown keys are refused so a typo is not silently ignored."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"unknown Flattrade settings: {', '.join(unknown)}")
        values = dict(config)
        if "scrip_files" in values:
            values["scrip_files"] = tuple(values["scrip_files"])
        return cls(**values)
