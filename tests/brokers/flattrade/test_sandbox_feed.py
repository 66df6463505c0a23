"""The websocket against the sandbox: every message type, order updates, reconnect and resubscribe."""

from __future__ import annotations

import json

import pytest
import websocket
from flattrade_helpers import RecordingSink, wait_for

from terminal.brokers.base import FeedState
from terminal.domain import InstrumentKind, OrderRequest, OrderStatus, OrderType, Product, Side


def nearest_call(broker):
    nifty = broker.quotes(["NSE:26000"])[0].ltp
    calls = [i for i in broker.instruments() if i.kind is InstrumentKind.OPTION and i.underlying == "NIFTY"
             and i.option_type.value == "CE"]
    expiry = min(i.expiry for i in calls)
    return min((i for i in calls if i.expiry == expiry), key=lambda i: abs(i.strike - nifty))


def raw_session(sandbox, path="ws_url"):
    """A bare websocket-client connection after the v2 handshake, to see the frames themselves."""
    ws = websocket.create_connection(sandbox.info()[path], timeout=5)
    ws.send(json.dumps({"t": "a", "uid": "FZ00000", "actid": "FZ00000", "source": "API",
                        "accesstoken": sandbox.token_for("FZ00000")}))
    assert json.loads(ws.recv()) == {"t": "ak", "uid": "FZ00000", "s": "OK"}
    return ws


def frames_until(ws, kind, limit=200):
    for _ in range(limit):
        frame = json.loads(ws.recv())
        if frame["t"] == kind:
            return frame
    raise AssertionError(f"no {kind} frame")


def test_ticks_with_depth_and_index_touchline(broker, sink):
    inst = nearest_call(broker)
    broker.subscribe(["NSE:26000", inst.key])
    broker.connect_feed(sink)
    wait_for(lambda: {"NSE:26000", inst.key} <= {t.key for t in sink.ticks})
    option_ticks = [t for t in sink.ticks if t.key == inst.key]
    assert option_ticks[-1].ltp > 0 and len(option_ticks[-1].bids) == 5 and option_ticks[-1].close > 0
    assert (FeedState.CONNECTED, "Flattrade live") in sink.states
    count = len(option_ticks)
    wait_for(lambda: len([t for t in sink.ticks if t.key == inst.key]) > count + 2)  # deltas keep coming
    merged = [t for t in sink.ticks if t.key == inst.key][-1]
    assert merged.open > 0 and merged.asks and merged.volume > 0  # delta frames merged into full ticks


def test_order_updates_and_fills_arrive_on_the_feed(broker, sink):
    inst = nearest_call(broker)
    broker.connect_feed(sink)
    wait_for(lambda: broker.feed.connected)
    ask = broker.quotes([inst.key])[0].asks[0].price
    request = OrderRequest(broker.account, inst.key, Side.BUY, inst.lot_size, OrderType.LIMIT, Product.NRML,
                           price=ask + 100)
    order_id = broker.place_order(request)
    wait_for(lambda: any(o.order_id == order_id and o.status is OrderStatus.COMPLETE for o in sink.orders))
    updates = [o for o in sink.orders if o.order_id == order_id]
    assert updates[0].status is OrderStatus.PENDING and updates[0].tag == request.tag
    assert updates[0].instrument_key == inst.key  # om frames carry no token: resolved from the master
    fills = wait_for(lambda: [t for t in sink.trades if t.order_id == order_id])
    assert sum(t.quantity for t in fills) == inst.lot_size


def test_reconnect_resubscribes_after_the_server_drops_the_link(broker, sink, sandbox):
    inst = nearest_call(broker)
    broker.connect_feed(sink)
    broker.subscribe([inst.key])
    wait_for(lambda: any(t.key == inst.key for t in sink.ticks))
    assert sandbox.drop_websockets() == 1
    wait_for(lambda: broker.feed.connections == 2 and broker.feed.connected)
    assert any(state is FeedState.RECONNECTING for state, _ in sink.states)
    seen = len(sink.ticks)
    wait_for(lambda: any(t.key == inst.key for t in sink.ticks[seen:]))  # resubscribed without being asked
    assert sandbox.session_count() == 1


def test_refused_token_stops_the_feed_and_asks_for_login(broker, sandbox):
    sandbox.expire_sessions()
    sink = RecordingSink()
    broker.connect_feed(sink)
    wait_for(lambda: any(s is FeedState.DISCONNECTED and "log in" in m for s, m in sink.states))


def test_v1_handshake_is_refused_on_the_v2_path_but_served_on_the_legacy_path(sandbox):
    token = sandbox.token_for("FZ00000")
    ws = websocket.create_connection(sandbox.info()["ws_url"], timeout=5)
    ws.send(json.dumps({"t": "c", "uid": "FZ00000", "actid": "FZ00000", "susertoken": token, "source": "API"}))
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        ws.recv()
        ws.recv()
    legacy = websocket.create_connection(sandbox.info()["ws_url_v1"], timeout=5)
    legacy.send(json.dumps({"t": "c", "uid": "FZ00000", "actid": "FZ00000", "susertoken": token, "source": "API"}))
    assert json.loads(legacy.recv()) == {"t": "ck", "uid": "FZ00000", "s": "OK"}
    legacy.close()


def test_every_client_frame_gets_its_reply(sandbox):
    key = next(k for k, i in sandbox.instruments.items() if i.kind is InstrumentKind.OPTION)
    wire_key = key.replace(":", "|")
    ws = raw_session(sandbox)
    ws.send(json.dumps({"t": "t", "k": f"NSE|26000#{wire_key}"}))
    tk = frames_until(ws, "tk")
    assert {"e", "tk", "lp", "pc", "o", "h", "l", "c", "ft"} <= set(tk)
    tf = frames_until(ws, "tf")
    assert set(tf) >= {"t", "e", "tk", "ft"} and len(tf) < len(tk)  # only what changed
    ws.send(json.dumps({"t": "d", "k": wire_key}))
    dk = frames_until(ws, "dk")
    assert all(f"{p}{n}" in dk for p in ("bp", "bq", "bo", "sp", "sq", "so") for n in range(1, 6))
    frames_until(ws, "df")
    ws.send(json.dumps({"t": "h"}))
    assert int(frames_until(ws, "hk")["hk"]) > 0
    ws.send(json.dumps({"t": "u", "k": "NSE|26000"}))
    assert frames_until(ws, "uk")["k"] == "NSE|26000"
    ws.send(json.dumps({"t": "ud", "k": wire_key}))
    assert frames_until(ws, "udk")["k"] == wire_key
    ws.send(json.dumps({"t": "o", "actid": "FZ00000"}))
    ws.send(json.dumps({"t": "uo"}))
    assert frames_until(ws, "uok") == {"t": "uok"}
    ws.close()
