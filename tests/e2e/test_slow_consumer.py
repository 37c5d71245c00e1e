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
blocked send completes. The close is clean: no traceback in the server's log.

A client that never reads again cannot be closed that way: the subscription's task stays
blocked in that send (nothing more can be written to the full socket, the close frame
included). So SLOW_CONSUMER_CUTOFF_SECONDS after the overflow, a subscription still running
is cancelled and its TCP connection reset (the second test, with a raw socket that never
reads), which frees what was queued for it in the process and in the kernel.

No sleeps: every subscription starts `after` the log's head and the burst begins only once
each has delivered a probe event. Subscribing to the broker precedes the replay, so a
subscription that delivered the probe (replayed or live) is registered: every later event
is queued for it live, and a stalled one must overflow.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import os
import random
import socket
import string
import struct
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection, connect

from graphql_schema.events import SLOW_CONSUMER_CLOSE_CODE
from service.access.principals import Role
from tests.support.servers import running_server, serving
from tests.support.ws import Subscription, log_head, until, until_live

pytestmark = pytest.mark.asyncio

QUEUE_SIZE = 5
DESCRIPTION_LENGTH = 19_000  # the service's limit is 20,000 characters
ALIASES = 40
EVENT_BYTES = ALIASES * DESCRIPTION_LENGTH

HEAVY = (
    "subscription($after: Int) { events(after: $after, filter: {kinds: [NEED_CREATED]}) { sequence kind entity { ... on Need { title "
    + " ".join(f"d{i}: description" for i in range(ALIASES))
    + " } } } }"
)
LIGHT = """subscription($after: Int) { events(after: $after, filter: {kinds: [NEED_CREATED]}) {
  sequence kind entity { ... on Need { title } } } }"""
CREATE = """mutation($t: String!, $d: String!) { createNeed(input: {state: "KEN", title: $t, description: $d,
  themes: ["JUSTICE"], visibility: PUBLIC}) { need { id } userErrors { field message } } }"""
PROBE = "Probe: the subscriptions are live"


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


async def create_need(http: httpx.AsyncClient, title: str, description: str = "d") -> None:
    result = (await http.post("/graphql", json={"query": CREATE, "variables": {"t": title, "d": description}})).json()
    assert result["data"]["createNeed"]["userErrors"] == [], result


def title(message: dict[str, Any]) -> str:
    assert message["type"] == "next", str(message)[:500]
    return message["payload"]["data"]["events"]["entity"]["title"]


@contextlib.asynccontextmanager
async def stalled_subscriber(base: str, query: str, variables: dict[str, Any]) -> AsyncIterator[ClientConnection]:
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
        ws_url(base),
        sock=sock,
        subprotocols=["graphql-transport-ws"],
        compression=None,
        max_queue=1,
        max_size=None,
        ping_interval=None,
        open_timeout=10,
    )
    try:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert ack["type"] == "connection_ack", ack
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}}))
        yield ws
    finally:
        ws.transport.abort()


async def read_until_closed(ws: ClientConnection, timeout: float) -> tuple[list[dict[str, Any]], Any]:
    """Reads everything; returns (next payloads, the close frame received). `timeout` only
    bounds a hang: the close follows what was buffered, whatever the machine's load."""
    payloads: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(timeout):
            while True:
                message = json.loads(await ws.recv())
                assert message["type"] == "next", message
                payloads.append(message["payload"])
    except TimeoutError:
        raise AssertionError(f"not closed within {timeout} s of reading again; got {len(payloads)} events") from None
    except websockets.ConnectionClosed as closed:
        return payloads, closed.rcvd


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


def assert_no_traceback(log: Path) -> None:
    text = log.read_text()
    assert "Traceback" not in text and "Exception in" not in text, text[-5000:]


async def test_a_consumer_that_stops_reading_is_closed_with_4008_and_others_are_served(database_url, world, tmp_path):
    focal = await world.key(Role.STATE_FOCAL_POINT, state="KEN")
    produced = events_to_produce()
    env = {
        "SUBSCRIBER_QUEUE_SIZE": str(QUEUE_SIZE),
        # Closed with 4008 when it reads again, however long the others take on a loaded
        # machine: not cut off (reset) meanwhile, which the last test covers.
        "SLOW_CONSUMER_CUTOFF_SECONDS": "3600",
        "RATE_LIMIT_CAPACITY": "1e9",
        "RATE_LIMIT_RESTORE_RATE": "1e9",
    }
    log = tmp_path / "server.log"
    async with (
        running_server(database_url, env=env, log=log, ws="websockets-sansio") as (base, _),
        httpx.AsyncClient(base_url=base, timeout=30, headers={"Authorization": f"Bearer {focal}"}) as http,
    ):
        live_from = {"after": await log_head(database_url)}
        async with (
            stalled_subscriber(base, HEAVY, live_from) as stalled,
            stalled_subscriber(base, HEAVY, live_from) as heavy_reader,
            Subscription(ws_url(base), LIGHT, live_from) as light_reader,
        ):
            await create_need(http, PROBE)
            for ws in (stalled, heavy_reader):
                assert title(json.loads(await asyncio.wait_for(ws.recv(), 30))) == PROBE
            assert (await light_reader.next(30))["data"]["events"]["entity"]["title"] == PROBE
            # Two clients keep reading throughout: one with the same heavy query (so the close is
            # about not reading, not about the payload), one with a light query.
            heavy_task = asyncio.create_task(drain_heavy(heavy_reader, produced))
            light_task = asyncio.create_task(drain(light_reader, produced))

            titles = [f"Slow consumer burst {i}" for i in range(produced)]
            for burst_title in titles:
                await create_need(http, burst_title, incompressible(DESCRIPTION_LENGTH))

            light = await asyncio.wait_for(light_task, 60)
            assert [e["entity"]["title"] for e in light] == titles
            heavy_sequences, heavy_closed = await asyncio.wait_for(heavy_task, 60)
            assert heavy_closed is None, f"a client that kept reading was closed: {heavy_closed}"
            assert heavy_sequences == [e["sequence"] for e in light]

            # The stalled client reads again: what was already buffered, then the close.
            payloads, closed = await read_until_closed(stalled, timeout=60)
            assert closed is not None, "the connection ended without a close frame"
            assert closed.code == SLOW_CONSUMER_CLOSE_CODE, closed
            assert closed.reason and "slow" in closed.reason.lower(), closed
            # Events past the queue were dropped, not buffered for it.
            assert len(payloads) < produced - QUEUE_SIZE, len(payloads)
            received = [p["data"]["events"]["sequence"] for p in payloads]
            assert received == sorted(set(received)) and set(received) <= set(heavy_sequences)

        # Still serving: HTTP, and a new subscriber gets the next event.
        async with Subscription(ws_url(base), LIGHT, {"after": await log_head(database_url)}) as later:
            await create_need(http, "After the slow consumer")
            assert (await later.next(30))["data"]["events"]["entity"]["title"] == "After the slow consumer"
    # Closed cleanly: strawberry did not try to send `complete` on the closed socket.
    assert_no_traceback(log)


async def test_closing_a_slow_consumer_logs_no_error(app, caplog):
    """In process, so every log record is seen: overflow a live subscriber's queue; it closes
    with 4008 and its operation ends as cancelled, without strawberry trying to send
    `complete` on the closed socket (which fails and is logged with a traceback)."""
    import logging

    from service.events.broker import EventRow

    caplog.set_level(logging.DEBUG)
    broker = app.state.broker
    async with serving(app) as url:
        async with Subscription(url, "subscription { events { sequence } }") as sub:
            await until_live(app, 1)
            (subscriber,) = broker.subscribers
            row = EventRow(
                sequence=broker.position + 1,
                kind="NEED_CREATED",
                entity_type="Need",
                entity_id="0",
                need_id=None,
                states=(),
                themes=(),
                organization_ids=(),
                payload={},
                occurred_at=datetime.now(UTC),
            )
            for _ in range(subscriber.queue.maxsize + 1):
                subscriber.offer(row)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                async with asyncio.timeout(30):  # bounds a hang only
                    while True:
                        await sub.ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == SLOW_CONSUMER_CLOSE_CODE
        await until(lambda: not broker.subscribers, "the server side wound the subscription down")
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert not problems, [(r.name, r.getMessage(), r.exc_info) for r in problems]


# -- a client that never reads again --------------------------------------------------------

CUTOFF_SECONDS = 2
TCP_ESTABLISHED = 1


class RawSubscriber:
    """graphql-transport-ws by hand over a blocking socket with a 4 KiB receive buffer: after
    the subscribe message nothing reads from it, no library and no kernel buffer to speak of."""

    def __init__(self, base: str):
        host, port = base.removeprefix("http://").rsplit(":", 1)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(30)
        self.sock.connect((host, int(port)))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET /graphql HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
            ).encode()
        )
        response = b""
        while b"\r\n\r\n" not in response:
            response += self.sock.recv(1)  # byte by byte: leave the first frame in the socket
        assert response.startswith(b"HTTP/1.1 101"), response

    def send(self, message: dict[str, Any]) -> None:
        payload = json.dumps(message).encode()
        mask = os.urandom(4)
        assert len(payload) < 65536
        header = (
            bytes([0x81, 0x80 | 126]) + struct.pack("!H", len(payload))
            if len(payload) > 125
            else bytes([0x81, 0x80 | len(payload)])
        )
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def receive(self) -> dict[str, Any]:
        """One unfragmented text frame under 64 KiB (the connection_ack, the probe event)."""
        first, length = self.sock.recv(2, socket.MSG_WAITALL)
        assert first == 0x81 and length <= 126, (first, length)
        if length == 126:
            (length,) = struct.unpack("!H", self.sock.recv(2, socket.MSG_WAITALL))
        return json.loads(self.sock.recv(length, socket.MSG_WAITALL))

    def tcp_state(self) -> int:
        """The kernel's view of the connection (struct tcp_info's first byte), read without
        touching the data waiting in the socket."""
        return self.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]

    def read_to_end(self) -> str:
        """How the connection ends when the client finally reads: 'reset' or 'closed'."""
        self.sock.settimeout(30)
        try:
            while self.sock.recv(1 << 20):
                pass
        except ConnectionResetError:
            return "reset"
        return "closed"


@pytest.mark.parametrize("ws", ["websockets", "websockets-sansio"])  # `tcgraph serve`, and `auto` (Docker)
async def test_a_consumer_that_never_reads_again_is_cut_off(database_url, world, tmp_path, ws):
    import psutil

    focal = await world.key(Role.STATE_FOCAL_POINT, state="KEN")
    produced = events_to_produce()
    env = {
        "SUBSCRIBER_QUEUE_SIZE": str(QUEUE_SIZE),
        "SLOW_CONSUMER_CUTOFF_SECONDS": str(CUTOFF_SECONDS),
        "RATE_LIMIT_CAPACITY": "1e9",
        "RATE_LIMIT_RESTORE_RATE": "1e9",
    }
    log = tmp_path / "server.log"
    async with (
        running_server(database_url, env=env, log=log, ws=ws) as (base, _),
        httpx.AsyncClient(base_url=base, timeout=30, headers={"Authorization": f"Bearer {focal}"}) as http,
    ):
        stalled = RawSubscriber(base)
        try:
            stalled.send({"type": "connection_init", "payload": {}})
            assert stalled.receive()["type"] == "connection_ack"
            live_from = {"after": await log_head(database_url)}
            stalled.send({"id": "1", "type": "subscribe", "payload": {"query": HEAVY, "variables": live_from}})
            client_port = stalled.sock.getsockname()[1]
            async with Subscription(ws_url(base), LIGHT, live_from) as reader:
                await create_need(http, PROBE)
                assert title(await asyncio.to_thread(stalled.receive)) == PROBE  # its last read
                assert (await reader.next(30))["data"]["events"]["entity"]["title"] == PROBE
                for i in range(produced):
                    await create_need(http, f"Never read {i}", incompressible(DESCRIPTION_LENGTH))
                await drain(reader, produced)  # every event was delivered to someone reading

                # Reset CUTOFF_SECONDS after the overflow: the bound only stops a hang.
                await until(lambda: stalled.tcp_state() != TCP_ESTABLISHED, "the stalled connection was reset", 60)
                assert stalled.read_to_end() == "reset"

                # The server holds nothing for it any more: no socket from that client port...
                server = psutil.Process(int(_pid_listening_on(int(base.rsplit(":", 1)[1]))))
                assert not [c for c in server.net_connections("tcp") if c.raddr and c.raddr.port == client_port]
                # ... and still serves the others.
                await create_need(http, "After the cut-off")
                assert (await reader.next(30))["data"]["events"]["entity"]["title"] == "After the cut-off"
        finally:
            stalled.sock.close()
    text = log.read_text()
    assert "cut off subscriber" in text, text[-3000:]
    assert_no_traceback(log)


def _pid_listening_on(port: int) -> int:
    import psutil

    for connection in psutil.net_connections("tcp"):
        if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port and connection.pid:
            return connection.pid
    raise AssertionError(f"nothing listens on {port}")
