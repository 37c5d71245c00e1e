"""graphql-transport-ws messages the protocol does not allow: the connection is closed with
4400 (a clear reason, no server traceback), never dropped; the operation limit is a coded
GraphQL error."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
import websockets

from tests.support.servers import serving

pytestmark = pytest.mark.asyncio

LIVE = "subscription { events { sequence } }"


async def connected(url: str) -> websockets.ClientConnection:
    ws = await websockets.connect(url, subprotocols=["graphql-transport-ws"], open_timeout=10)
    await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
    assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
    return ws


async def close_of(ws: websockets.ClientConnection) -> tuple[int | None, str]:
    """The close frame the server sent (None when the TCP connection was dropped without one)."""
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    frame = closed.value.rcvd
    return (frame.code, frame.reason) if frame else (None, "")


MALFORMED = [
    [1],
    "subscribe",
    {"type": 7},
    {"type": "subscribe", "id": "1", "payload": "subscription { events { sequence } }"},
    {"type": "subscribe", "id": "1"},
    {"type": "subscribe", "id": 1, "payload": {"query": LIVE}},
    {"type": "subscribe", "id": "1", "payload": {"query": 42}},
    {"type": "subscribe", "id": "1", "payload": {"query": LIVE, "variables": [1]}},
    {"type": "subscribe", "id": "1", "payload": {"query": LIVE, "operationName": 3}},
    {"type": "complete"},
    {"type": "complete", "id": None},
]


@pytest.mark.parametrize("message", MALFORMED, ids=[json.dumps(m) for m in MALFORMED])
async def test_a_malformed_message_closes_with_4400(app, message, caplog):
    async with serving(app) as url:
        ws = await connected(url)
        with caplog.at_level(logging.ERROR):
            await ws.send(json.dumps(message))
            code, reason = await close_of(ws)
        assert code == 4400, (code, reason)
        assert reason
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [r.getMessage() for r in caplog.records]


async def test_a_well_formed_operation_still_runs_after_the_checks(app):
    async with serving(app) as url:
        ws = await connected(url)
        await ws.send(
            json.dumps(
                {
                    "type": "subscribe",
                    "id": "q",
                    "payload": {
                        "query": "{ viewer { role } }",
                        "variables": None,
                        "operationName": None,
                        "extensions": {},
                    },
                }
            )
        )
        message = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert message["id"] == "q" and message["type"] == "next"
        assert message["payload"]["data"] == {"viewer": {"role": "ANONYMOUS"}}
        await ws.close()


@pytest.fixture
def app_settings():
    from service.settings import Settings

    return Settings(max_subscriptions_per_connection=1)


async def test_the_operation_limit_is_a_coded_error(app):
    async with serving(app) as url:
        ws = await connected(url)
        for id_ in ("a", "b"):
            await ws.send(json.dumps({"type": "subscribe", "id": id_, "payload": {"query": LIVE}}))
        message = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert message["id"] == "b" and message["type"] == "error"
        [error] = message["payload"]
        assert error["message"].startswith("Subscription limit reached")
        assert error["extensions"]["code"] == "SUBSCRIPTION_LIMIT_REACHED"
        await ws.close()
