"""A subscriber that stops reading is cut off with close code 4008, instead of having events
buffered for it without bound, and the server keeps serving everyone else meanwhile.

How the overflow comes about. The server only queues events for a subscriber (the broker's
per-subscriber queue, SUBSCRIBER_QUEUE_SIZE) when it cannot send them: strawberry awaits each
`websocket.send`, which blocks once the socket is full. Before that, every byte the client
does not read is absorbed by buffers: the client library's own message queue, the client's
kernel receive buffer, the server's kernel send buffer (autotuned up to tcp_wmem's maximum,
4 MiB here; ~2.8 MB were observed queued) and the server transport's write buffer. So the
stalled client below reads through a 4 KiB receive buffer with a 1-message library queue and
no compression, and each event carries ~0.75 MB of incompressible text (the need's
description under 40 aliases), so that a few events fill every buffer and the rest of the
burst must overflow the server-side queue of 5.

What the client sees: the events that were already in the buffers, then the close frame
(4008 and a reason) as soon as it reads again — the server notices the overflow when its
blocked send completes. A client that never reads again is not closed by this path: the
subscription's task stays blocked in that send (nothing more can be written to the full
socket, the close frame included), so such a connection lingers — still open after 70 s
with either of uvicorn's WebSocket implementations — holding the queue, about one message in
the transport and the kernel's send buffer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import socket
import string
import time
from pathlib import Path
from typing import Any, AsyncIterator

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection, connect

from graphql_schema.events import SLOW_CONSUMER_CLOSE_CODE
from service.access.principals import Role
from tests.support.servers import running_server
from tests.support.ws import Subscription

pytestmark = pytest.mark.asyncio

QUEUE_SIZE = 5
DESCRIPTION_LENGTH = 19_000  # the service's limit is 20,000 characters
ALIASES = 40
EVENT_BYTES = ALIASES * DESCRIPTION_LENGTH

HEAVY = (
    "subscription { events(filter: {kinds: [NEED_CREATED]}) { sequence kind entity { ... on Need { title "
    + " ".join(f"d{i}: description" for i in range(ALIASES))
    + " } } } }"
)
LIGHT = """subscription($after: Int) { events(after: $after, filter: {kinds: [NEED_CREATED]}) {
  sequence kind entity { ... on Need { title } } } }"""
CREATE = """mutation($t: String!, $d: String!) { createNeed(input: {state: "KEN", title: $t, description: $d,
  themes: ["JUSTICE"], visibility: PUBLIC}) { need { id } userErrors { field message } } }"""


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/graphql"


def events_to_produce() -> int:
    """Enough events that the stalled client's buffers (dominated by the server's kernel send
    buffer, at most tcp_wmem's maximum) hold only a fraction of them, plus the queue, plus margin."""
    try:
        send_buffer_max = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, ValueError, IndexError):
        send_buffer_max = 4 * 1024 * 1024
    return max(30, math.ceil((send_buffer_max + 2 * 1024 * 1024) / EVENT_BYTES) + QUEUE_SIZE + 10)


def incompressible(length: int) -> str:
    return "".join(random.choices(string.ascii_letters + string.digits, k=length))


@contextlib.asynccontextmanager
async def stalled_subscriber(base: str, query: str) -> AsyncIterator[ClientConnection]:
    """A graphql-transport-ws client that subscribes and then reads nothing until the test does.

    Its socket has a 4 KiB receive buffer (set before connecting, so the window stays small),
    the library queues at most one message before it stops reading the socket, and there is
    no per-message compression: what the server sends stays on the server's side."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    sock.setblocking(False)
    ws = await connect(
        ws_url(base), sock=sock, subprotocols=["graphql-transport-ws"], compression=None,
        max_queue=1, max_size=None, ping_interval=None, open_timeout=10,
    )
    try:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert ack["type"] == "connection_ack", ack
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        yield ws
    finally:
        ws.transport.abort()


async def read_until_closed(ws: ClientConnection, deadline: float) -> tuple[list[dict[str, Any]], Any, float]:
    """Reads everything; returns (next payloads, the close frame received, seconds it took)."""
    started = time.monotonic()
    payloads: list[dict[str, Any]] = []
    try:
        while True:
            remaining = deadline - (time.monotonic() - started)
            if remaining <= 0:
                raise AssertionError(f"not closed within {deadline} s of reading again; got {len(payloads)} events")
            try:
                message = json.loads(await asyncio.wait_for(ws.recv(), remaining))
            except (asyncio.TimeoutError, TimeoutError):
                raise AssertionError(f"not closed within {deadline} s of reading again; got {len(payloads)} events") from None
            assert message["type"] == "next", message
            payloads.append(message["payload"])
    except websockets.ConnectionClosed as closed:
        return payloads, closed.rcvd, time.monotonic() - started


async def drain(subscription: Subscription, count: int) -> list[dict[str, Any]]:
    return [(await subscription.next(timeout=30))["data"]["events"] for _ in range(count)]


async def drain_heavy(ws: ClientConnection, count: int) -> tuple[list[int], Any]:
    """A client with the same heavy query that keeps reading: (sequences, close frame if any)."""
    sequences: list[int] = []
    try:
        while len(sequences) < count:
            message = json.loads(await asyncio.wait_for(ws.recv(), 30))
            assert message["type"] == "next" and "errors" not in message["payload"], str(message)[:500]
            sequences.append(message["payload"]["data"]["events"]["sequence"])
    except websockets.ConnectionClosed as closed:
        return sequences, closed.rcvd
    return sequences, None


async def test_a_consumer_that_stops_reading_is_closed_with_4008_and_others_are_served(database_url, world):
    focal = await world.key(Role.STATE_FOCAL_POINT, state="KEN")
    produced = events_to_produce()
    env = {
        "SUBSCRIBER_QUEUE_SIZE": str(QUEUE_SIZE),
        "RATE_LIMIT_CAPACITY": "1e9", "RATE_LIMIT_RESTORE_RATE": "1e9",
    }
    async with running_server(database_url, env=env) as (base, _), \
            httpx.AsyncClient(base_url=base, timeout=30, headers={"Authorization": f"Bearer {focal}"}) as http:
        since = (await http.post("/graphql", json={"query": "{ changes(since: 0) { lastSequence } }"})).json()
        since = since["data"]["changes"]["lastSequence"]
        async with stalled_subscriber(base, HEAVY) as stalled, stalled_subscriber(base, HEAVY) as heavy_reader, \
                Subscription(ws_url(base), LIGHT, {"after": since}) as light_reader:
            await asyncio.sleep(0.5)  # let the subscriptions go live
            # Two clients keep reading throughout: one with the same heavy query (so the close is
            # about not reading, not about the payload), one with a light query.
            heavy_task = asyncio.create_task(drain_heavy(heavy_reader, produced))
            light_task = asyncio.create_task(drain(light_reader, produced))

            titles = [f"Slow consumer burst {i}" for i in range(produced)]
            for title in titles:
                result = (await http.post("/graphql", json={
                    "query": CREATE, "variables": {"t": title, "d": incompressible(DESCRIPTION_LENGTH)},
                })).json()
                assert result["data"]["createNeed"]["userErrors"] == [], result

            light = await asyncio.wait_for(light_task, 60)
            assert [e["entity"]["title"] for e in light] == titles
            heavy_sequences, heavy_closed = await asyncio.wait_for(heavy_task, 60)
            assert heavy_closed is None, f"a client that kept reading was closed: {heavy_closed}"
            assert heavy_sequences == [e["sequence"] for e in light]

            # The stalled client reads again: what was already buffered, then the close.
            payloads, closed, seconds = await read_until_closed(stalled, deadline=10)
            assert closed is not None, "the connection ended without a close frame"
            assert closed.code == SLOW_CONSUMER_CLOSE_CODE, closed
            assert closed.reason and "slow" in closed.reason.lower(), closed
            assert seconds < 10
            # Events past the queue were dropped, not buffered for it.
            assert len(payloads) < produced - QUEUE_SIZE, len(payloads)
            received = [p["data"]["events"]["sequence"] for p in payloads]
            assert received == sorted(set(received)) and set(received) <= set(heavy_sequences)

        # Still serving: HTTP, and a new subscriber gets the next event.
        async with Subscription(ws_url(base), LIGHT) as later:
            await asyncio.sleep(0.5)
            result = (await http.post("/graphql", json={"query": CREATE, "variables": {"t": "After the slow consumer", "d": "d"}})).json()
            assert result["data"]["createNeed"]["userErrors"] == [], result
            assert (await later.next())["data"]["events"]["entity"]["title"] == "After the slow consumer"
