"""The official NorenRestApiPy 0.0.22 client, unchanged, against the sandbox.

It speaks the v1 websocket handshake, so it is pointed at the sandbox's legacy /PiConnectWSTp/
endpoint. Its one incompatibility with Flattrade's rules is ``amo="NO"`` by default (Flattrade
answers "Invalid AMO"), so orders are placed with ``amo=None`` as Flattrade's own 0.0.29 build does.
"""

from __future__ import annotations

import threading

import requests
from flattrade_helpers import wait_for
from NorenRestApiPy.NorenApi import NorenApi

from terminal.brokers.flattrade.auth import token_checksum
from terminal.domain import InstrumentKind
from terminal.sim.servers.noren_wire import noren_symbol


def sandbox_token(info: dict) -> str:
    """The Flattrade login the way the official token helper does it: browser code, then apitoken."""
    redirect = requests.get(info["auth_url"], params={"app_key": info["api_key"]}, allow_redirects=False, timeout=5)
    code = requests.utils.urlparse(redirect.headers["Location"]).query.split("code=")[1].split("&")[0]
    reply = requests.post(info["token_url"], json={"api_key": info["api_key"], "request_code": code,
                                                   "api_secret": token_checksum(info["api_key"], code,
                                                                                info["api_secret"])}, timeout=5)
    assert reply.json()["stat"] == "Ok"
    return reply.json()["token"]


def test_official_client_trades_reads_books_and_streams(sandbox):
    info = sandbox.info()
    api = NorenApi(host=info["rest_url"].rstrip("/"), websocket=info["ws_url_v1"])
    assert api.set_session(userid=info["user_id"], password="", usertoken=sandbox_token(info))

    inst = next(i for i in sandbox.instruments.values() if i.kind is InstrumentKind.OPTION and i.underlying == "NIFTY")
    tsym = noren_symbol(inst)
    quote = api.get_quotes("NFO", inst.token)
    assert quote["tsym"] == tsym and float(quote["lp"]) > 0
    assert api.searchscrip("NSE", "RELIANCE")["values"][0]["tsym"] == "RELIANCE-EQ"

    ticks, updates, opened = [], [], threading.Event()
    api.start_websocket(subscribe_callback=ticks.append, order_update_callback=updates.append,
                        socket_open_callback=opened.set)
    try:
        assert opened.wait(5)
        api.subscribe_orders()
        api.subscribe([f"NFO|{inst.token}"])
        wait_for(lambda: any(t["t"] == "tk" and t["tk"] == inst.token for t in ticks))

        low = f"{max(float(quote['lp']) * 0.6, 0.05):.1f}"
        placed = api.place_order(buy_or_sell="B", product_type="M", exchange="NFO", tradingsymbol=tsym,
                                 quantity=inst.lot_size, discloseqty=0, price_type="LMT", price=low,
                                 retention="DAY", amo=None, remarks="official-client")
        assert placed["stat"] == "Ok"
        order_id = placed["norenordno"]
        book = api.get_order_book()
        assert book[0]["norenordno"] == order_id and book[0]["remarks"] == "official-client"
        assert api.single_order_history(order_id)[0]["status"] == "OPEN"
        assert api.cancel_order(order_id)["result"] == order_id
        wait_for(lambda: any(u["norenordno"] == order_id and u["status"] == "CANCELED" for u in updates))
        assert [u["reporttype"] for u in updates if u["norenordno"] == order_id][-1] == "Canceled"

        assert api.get_trade_book() is None  # no fills yet: "no data" (the client returns None)
        assert api.get_positions() is None
        ask = api.get_quotes("NFO", inst.token)["sp1"]
        filled = api.place_order(buy_or_sell="B", product_type="M", exchange="NFO", tradingsymbol=tsym,
                                 quantity=inst.lot_size, discloseqty=0, price_type="LMT",
                                 price=f"{float(ask) + 1:.2f}", amo=None, remarks="fill-me")["norenordno"]
        wait_for(lambda: any(u["norenordno"] == filled and u["status"] == "COMPLETE" for u in updates))
        assert sum(int(t["flqty"]) for t in api.get_trade_book() if t["norenordno"] == filled) == inst.lot_size
        assert api.get_positions()[0]["netqty"] == str(inst.lot_size)
        assert len(api.get_holdings()) == 3
        assert api.get_limits()["stat"] == "Ok"
    finally:
        api.close_websocket()
