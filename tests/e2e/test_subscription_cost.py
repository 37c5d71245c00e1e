"""A subscription that replays the log is priced per event it will replay."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from service.events import record as event_log
from service.models import AssistanceNeed
from tests.support.servers import running_server

pytestmark = pytest.mark.asyncio

REPLAY = "subscription($after: Int) { events(after: $after) { sequence } }"


async def first_message(base: str, variables: dict) -> dict:
    url = base.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"], open_timeout=10) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
        await ws.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": REPLAY, "variables": variables}})
        )
        return json.loads(await asyncio.wait_for(ws.recv(), 10))


async def test_replay_is_priced_per_event(database_url, world, sessionmaker):
    need_id = await world.need("KEN", title="Public")
    async with sessionmaker() as session, session.begin():
        need = await session.get(AssistanceNeed, need_id)
        for _ in range(150):
            event_log.need_updated(session, need, before_visibility=need.visibility)
    async with running_server(database_url, env={"ANONYMOUS_RATE_LIMIT_CAPACITY": "100"}) as (base, _):
        # 150+ events to replay, one point each, plus the subscription: over the bucket.
        refused = await first_message(base, {"after": 0})
        errors = refused["payload"] if refused["type"] == "error" else refused["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "QUERY_TOO_COMPLEX", refused
        assert "replays" in errors[0]["message"] and "changes(since:)" in errors[0]["message"]
        # A short replay fits.
        async with sessionmaker() as session:
            from service.events.broker import retained_range

            _, newest = await retained_range(session)
        admitted = await first_message(base, {"after": newest - 5})
        assert admitted["type"] == "next" and admitted["payload"]["data"]["events"]["sequence"] == newest - 4, admitted
