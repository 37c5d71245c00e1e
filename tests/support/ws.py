"""A minimal graphql-transport-ws client for tests (the real protocol over a real socket)."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any

import websockets


class Subscription:
    def __init__(self, url: str, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None):
        self.url, self.query, self.variables, self.token = url, query, variables or {}, token
        self.ws: Any = None

    async def __aenter__(self) -> "Subscription":
        self.ws = await websockets.connect(self.url, subprotocols=["graphql-transport-ws"], open_timeout=10)
        payload = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        await self.ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        ack = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
        if ack.get("type") != "connection_ack":
            raise AssertionError(f"no connection_ack: {ack}")
        await self.ws.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": self.query, "variables": self.variables}})
        )
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.ws.close()

    async def next(self, timeout: float = 10) -> dict[str, Any]:
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            if message["type"] == "next":
                return message["payload"]
            if message["type"] in ("error", "complete"):
                raise AssertionError(f"subscription ended: {message}")

    async def collect(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        return [await self.next(timeout) for _ in range(count)]

    async def nothing_for(self, seconds: float) -> bool:
        try:
            message = await asyncio.wait_for(self.ws.recv(), seconds)
        except TimeoutError:
            return True
        raise AssertionError(f"unexpected message: {message}")


async def rejected_close_code(url: str, token: str) -> int | None:
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
        try:
            await asyncio.wait_for(ws.recv(), 10)
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
        await asyncio.wait_for(ws.wait_closed(), 10)
        return ws.close_code


async def until(condition: Callable[[], bool | Awaitable[bool]], what: str, timeout: float = 30) -> None:
    """Poll `condition` until it holds, failing with `what` after `timeout` s: waits for the
    state a test needs, however loaded the machine, instead of sleeping and hoping."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        held = condition()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.01)


async def until_live(app: Any, count: int, timeout: float = 20) -> None:
    """Wait until `count` subscriptions are registered with the in-process app's broker: from
    then on every committed event reaches them live. An acknowledgement, not a sleep."""
    broker = app.state.broker
    await until(lambda: len(broker.subscribers) >= count, f"{count} subscriptions live", timeout)


async def log_head(database_url: str) -> int:
    """The event log's last sequence: subscribe with `after` it, and every later event is
    delivered (replayed or live), however long the subscription takes to go live."""
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(sa.text("select coalesce(max(sequence), 0) from event"))).scalar_one()
    finally:
        await engine.dispose()
