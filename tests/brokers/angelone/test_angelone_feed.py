"""Streaming against the sandbox: SNAP_QUOTE ticks, order updates, socket drop and resubscription."""

from __future__ import annotations

import websocket

from terminal.brokers.angelone.decoder import LTP
from terminal.brokers.base import FeedState
from terminal.domain import OrderRequest, OrderStatus, OrderType, Product, Side

RELIANCE, SBIN = "NSE:2885", "NSE:3045"


def test_snap_quote_ticks_with_depth(broker, sink):
    broker.subscribe([RELIANCE])
    broker.connect_feed(sink)
    assert sink.wait(lambda: any(t.key == RELIANCE and t.bids for t in sink.ticks))
    tick = next(t for t in sink.ticks if t.key == RELIANCE and t.bids)
    assert len(tick.bids) == 5 and len(tick.asks) == 5 and tick.best_bid < tick.best_ask
    assert tick.bids[0].price >= tick.bids[-1].price and tick.asks[0].price <= tick.asks[-1].price
    assert any(state is FeedState.CONNECTED for state, _ in sink.states)


def test_ltp_mode_and_unsubscribe(sandbox, broker, sink):
    broker.connect_feed(sink)
    broker.subscribe([SBIN], mode=LTP)
    assert sink.wait(lambda: any(t.key == SBIN for t in sink.ticks))
    assert all(not t.bids and t.volume == 0 for t in sink.ticks if t.key == SBIN)
    broker.unsubscribe([SBIN])
    assert sink.wait(lambda: sandbox.feed_subscriptions() == [{}], timeout=3)


def test_order_updates_arrive_with_fills(broker, sink):
    broker.connect_feed(sink)
    assert sink.wait(lambda: broker.order_socket is not None and broker.order_socket.connections == 1)
    request = OrderRequest(broker.account, RELIANCE, Side.BUY, 3, OrderType.MARKET, Product.MIS)
    order_id = broker.place_order(request)
    assert sink.wait(lambda: any(o.order_id == order_id and o.status is OrderStatus.COMPLETE for o in sink.orders))
    assert sink.wait(lambda: sum(t.quantity for t in sink.trades if t.order_id == order_id) == 3)
    assert all(o.tag == request.tag for o in sink.orders if o.order_id == order_id)


def test_feed_recovers_after_the_socket_is_killed(sandbox, broker, sink):
    broker.subscribe([RELIANCE, SBIN])
    broker.connect_feed(sink)
    assert sink.wait(lambda: {t.key for t in sink.ticks} >= {RELIANCE, SBIN})
    assert sandbox.drop_feed_connections() == 1
    seen = len(sink.ticks)
    assert sink.wait(lambda: any(s is FeedState.RECONNECTING for s, _ in sink.states))
    assert sink.wait(lambda: {t.key for t in sink.ticks[seen:]} >= {RELIANCE, SBIN})  # resubscribed in full
    assert broker.feed.sockets[0].connections == 2
    assert set(sandbox.feed_subscriptions()[0]) == {RELIANCE, SBIN}


def test_feed_reconnects_with_new_tokens_after_expiry(sandbox, broker, sink):
    broker.subscribe([RELIANCE])
    broker.connect_feed(sink)
    assert sink.wait(lambda: bool(sink.ticks))
    sandbox.expire_tokens()
    sandbox._feed_tokens.clear()  # the old feed token dies too: the upgrade gets 401
    sandbox.drop_feed_connections()
    seen = len(sink.ticks)
    assert sink.wait(lambda: len(sink.ticks) > seen + 2, timeout=10)


def test_upgrade_refused_with_bad_feed_token_and_ping_pong(sandbox, broker):
    url = sandbox.info["ws_url"]
    try:
        websocket.create_connection(url, header={"x-client-code": sandbox.client_code, "x-feed-token": "bad"},
                                    timeout=3)
        raise AssertionError("upgrade should be refused")
    except websocket.WebSocketBadStatusException as exc:
        assert exc.status_code == 401
        assert "Invalid Feed Token" in exc.resp_headers.get("x-error-message", "")
    tokens = broker.session.tokens
    ws = websocket.create_connection(url, header={"x-client-code": sandbox.client_code, "x-feed-token": tokens.feed,
                                                  "x-api-key": sandbox.api_key}, timeout=3)
    ws.send("ping")
    assert ws.recv() == "pong"
    ws.send("{not json")
    assert '"E1001"' in ws.recv()
    ws.close()


def test_subscription_limit_error_frame(sandbox, broker):
    import json

    tokens = broker.session.tokens
    ws = websocket.create_connection(sandbox.info["ws_url"], timeout=3, header={
        "x-client-code": sandbox.client_code, "x-feed-token": tokens.feed})
    keys = [i.token for i in sandbox.exchange.instruments() if i.exchange.value == "NFO"]
    from terminal.sim.servers import smartapi

    limit = smartapi.MAX_SUBSCRIPTIONS
    smartapi.MAX_SUBSCRIPTIONS = 3
    try:
        ws.send(json.dumps({"correlationID": "abcde12345", "action": 1,
                            "params": {"mode": 1, "tokenList": [{"exchangeType": 2, "tokens": keys[:4]}]}}))
        reply = ws.recv()
        while isinstance(reply, bytes):
            reply = ws.recv()
        assert json.loads(reply) == {"correlationID": "abcde12345", "errorCode": "E1002",
                                     "errorMessage": "Invalid Request. Subscription Limit Exceeded"}
    finally:
        smartapi.MAX_SUBSCRIPTIONS = limit
        ws.close()
