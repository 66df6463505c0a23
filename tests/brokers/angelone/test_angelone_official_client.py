"""The official smartapi-python client works against the sandbox unchanged (root URL and socket URL set),
and nothing outside the machine is contacted while it runs."""

from __future__ import annotations

import os
import threading

import pyotp
import pytest

from angelone_official import OUTSIDE_ATTEMPTS, import_official, loopback_only


@pytest.fixture
def official(tmp_path):
    SmartConnect, SmartWebSocketV2 = import_official(tmp_path)
    cwd = os.getcwd()
    os.chdir(tmp_path)  # its ./logs folder
    OUTSIDE_ATTEMPTS.clear()
    try:
        with loopback_only():
            yield SmartConnect, SmartWebSocketV2
    finally:
        os.chdir(cwd)
    assert not OUTSIDE_ATTEMPTS, f"outside hosts contacted: {OUTSIDE_ATTEMPTS}"


def test_official_client_logs_in_trades_and_streams(sandbox, official):
    SmartConnect, SmartWebSocketV2 = official
    info = sandbox.info
    client = SmartConnect(api_key=info["api_key"], root=info["rest_url"])
    session = client.generateSession(info["client_code"], info["pin"], pyotp.TOTP(info["totp_secret"]).now())
    assert session["status"] is True and session["data"]["name"] == "SANDBOX TRADER"
    order_id = client.placeOrder({
        "variety": "NORMAL", "tradingsymbol": "RELIANCE-EQ", "symboltoken": "2885", "transactiontype": "BUY",
        "exchange": "NSE", "ordertype": "MARKET", "producttype": "INTRADAY", "duration": "DAY", "price": "0",
        "squareoff": "0", "stoploss": "0", "quantity": "1", "ordertag": "OFFICIAL1"})
    assert order_id
    book = client.orderBook()["data"]
    assert any(o["orderid"] == order_id and o["ordertag"] == "OFFICIAL1" and o["status"] == "complete" for o in book)
    assert client.ltpData("NSE", "RELIANCE-EQ", "2885")["data"]["ltp"]
    assert client.rmsLimit()["status"] is True
    assert client.getMarketData("FULL", {"NSE": ["2885"]})["data"]["fetched"][0]["symbolToken"] == "2885"

    feed = client.getfeedToken()
    ticks: list[dict] = []
    got = threading.Event()
    ws = SmartWebSocketV2(session["data"]["jwtToken"], info["api_key"], info["client_code"], feed,
                          max_retry_attempt=0)
    ws.ROOT_URI = info["ws_url"]

    def on_open(wsapp):
        ws.subscribe("abc123", 3, [{"exchangeType": 1, "tokens": ["2885", "1594"]}])

    def on_data(wsapp, message):
        ticks.append(message)
        if len({t["token"] for t in ticks}) == 2:
            got.set()

    ws.on_open, ws.on_data = on_open, on_data
    ws.on_error = lambda *args: None
    ws.on_close = lambda *args: None
    thread = threading.Thread(target=ws.connect, daemon=True)
    thread.start()
    try:
        assert got.wait(10), "no ticks reached the official client"
    finally:
        ws.close_connection()
        thread.join(5)
    tick = next(t for t in ticks if t["token"] == "2885")
    assert tick["subscription_mode"] == 3 and len(tick["best_5_buy_data"]) == 5
    assert tick["best_5_buy_data"][0]["price"] < tick["best_5_sell_data"][0]["price"]
    assert client.terminateSession(info["client_code"])["status"] is True
