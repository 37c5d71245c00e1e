"""A live event is executed once per process for all subscribers with the same operation
(document and variables) and the same authorization class (role, State, organization) —
and never shared beyond that.

The service runs in this process (uvicorn on the test's event loop) so that the test can
count how often the selection is executed: the `Need` node loader, which `Event.entity`
calls once per execution, is wrapped with a counter."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter

import pytest

from graphql_schema import live, nodes
from service.access.principals import Role
from service.models.enums import OrganizationCategory, Visibility
from tests.support.servers import serving
from tests.support.ws import Subscription, until_live

pytestmark = pytest.mark.asyncio

QUERY = """subscription($withState: Boolean! = true) {
  events(filter: {kinds: [NEED_CREATED]}) {
    sequence kind entityId
    entity { ... on Need { title visibility state @include(if: $withState) { code needs { totalCount } } } }
  }
}"""
OTHER_QUERY = (
    "subscription { events(filter: {kinds: [NEED_CREATED]}) { sequence entity { ... on Need { title description } } } }"
)


@pytest.fixture
def executions(monkeypatch) -> Counter:
    """(role, State, organization) → how many times the selection was executed for it."""
    counted: Counter = Counter()
    load_need = nodes._REGISTRY["Need"]

    async def counting(info, key):
        p = info.context.principal
        counted[(p.role.value, p.state_iso3, p.organization_id)] += 1
        return await load_need(info, key)

    monkeypatch.setitem(nodes._REGISTRY, "Need", counting)
    return counted


async def test_one_execution_per_operation_and_authorization_class(app, world, executions):
    undp = await world.organization("UNDP", OrganizationCategory.UN_AGENCY)
    norway = await world.organization("Norway", OrganizationCategory.DONOR_GOVERNMENT)
    tokens = {
        "undp": await world.key(Role.AGENCY, organization=undp),
        "undp 2": await world.key(Role.AGENCY, organization=undp),
        "norway": await world.key(Role.DONOR, organization=norway),
        "KEN": await world.key(Role.STATE_FOCAL_POINT, state="KEN"),
        "UGA": await world.key(Role.STATE_FOCAL_POINT, state="UGA"),
    }
    await world.need("KEN", title="Private groundwork", visibility=Visibility.PRIVATE)
    subscribers = {
        # (a) the same query and class: one execution, identical results
        "anonymous": (QUERY, {}, None),
        "anonymous 2": (QUERY, {}, None),
        "undp": (QUERY, {}, tokens["undp"]),
        "undp 2": (QUERY, {}, tokens["undp 2"]),  # another key of the same organization
        # (b) other organization, other State: their own executions
        "norway": (QUERY, {}, tokens["norway"]),
        "KEN": (QUERY, {}, tokens["KEN"]),
        "UGA": (QUERY, {}, tokens["UGA"]),
        # (c) other variables, other query: their own executions
        "anonymous, no state": (QUERY, {"withState": False}, None),
        "anonymous, other query": (OTHER_QUERY, {}, None),
    }
    async with serving(app) as url, contextlib.AsyncExitStack() as stack:
        subs = {
            name: await stack.enter_async_context(Subscription(url, query, variables, token=token))
            for name, (query, variables, token) in subscribers.items()
        }
        await until_live(app, len(subs))
        await world.need("KEN", title="Court case management", visibility=Visibility.PUBLIC)
        got = {name: (await sub.next(timeout=15)) for name, sub in subs.items()}

    for name, payload in got.items():
        assert "errors" not in payload, (name, payload)
    events = {name: payload["data"]["events"] for name, payload in got.items()}
    assert len({e["sequence"] for e in events.values()}) == 1
    assert {e["entity"]["title"] for e in events.values()} == {"Court case management"}

    # (a) the same message for the same class and query (events carry no per-subscriber cost report)
    for a, b in [("anonymous", "anonymous 2"), ("undp", "undp 2")]:
        assert json.dumps(got[a]) == json.dumps(got[b])
    # (b) each State's focal point sees its own figures: KEN's private need counts for KEN only
    assert events["KEN"]["entity"]["state"] == {"code": "KEN", "needs": {"totalCount": 2}}
    assert events["UGA"]["entity"]["state"] == {"code": "KEN", "needs": {"totalCount": 1}}
    assert events["anonymous"]["entity"]["state"] == {"code": "KEN", "needs": {"totalCount": 1}}
    # (c) the shape each asked for
    assert "state" not in events["anonymous, no state"]["entity"]
    assert events["anonymous, other query"]["entity"] == {
        "title": "Court case management",
        "description": "Support for the judiciary.",
    }

    # Executions: once per (operation, class) — and a class is role, State and organization,
    # so two partners of different organizations are never served one execution.
    assert executions == Counter(
        {
            ("ANONYMOUS", None, None): 3,  # QUERY, QUERY without state, OTHER_QUERY
            ("AGENCY", None, undp): 1,
            ("DONOR", None, norway): 1,
            ("STATE_FOCAL_POINT", "KEN", None): 1,
            ("STATE_FOCAL_POINT", "UGA", None): 1,
        }
    )


async def test_replayed_events_are_executed_per_subscriber_and_show_the_entity_now(app, world, executions):
    """A replay (`after`) is not served a result remembered from when the event was live."""
    need = await world.need("KEN", title="Before", visibility=Visibility.PUBLIC)
    query = "subscription($after: Int) { events(after: $after, filter: {kinds: [NEED_CREATED, NEED_UPDATED]}) { sequence entity { ... on Need { title } } } }"
    async with serving(app) as url:
        async with Subscription(url, query, {"after": 0}) as first:
            created = (await first.next(timeout=15))["data"]["events"]
            assert created["entity"]["title"] == "Before"
        from service import needs as needs_service
        from service.access.principals import Principal

        async with world.sessionmaker() as session, session.begin():
            await needs_service.update_need(
                session=session,
                principal=Principal(role=Role.STATE_FOCAL_POINT, state_iso3="KEN"),
                need_id=need,
                values=needs_service.NeedFields(title="After"),
            )
        async with Subscription(url, query, {"after": 0}) as second:
            replayed = (await second.next(timeout=15))["data"]["events"]
    assert replayed["sequence"] == created["sequence"]
    assert replayed["entity"]["title"] == "After"
    assert executions[("ANONYMOUS", None, None)] >= 2


async def test_an_unexpected_error_in_an_event_is_masked_live_and_replayed(app, world, monkeypatch):
    """The same masking as queries: a failure inside an event's selection reaches the
    subscriber as INTERNAL_SERVER_ERROR, never with its own message."""

    async def failing(info, key):
        raise RuntimeError("connection to 10.0.0.7 refused; password=hunter2")

    monkeypatch.setitem(nodes._REGISTRY, "Need", failing)
    query = "subscription($after: Int) { events(after: $after, filter: {kinds: [NEED_CREATED]}) { sequence entity { id } } }"
    async with serving(app) as url:
        async with Subscription(url, query) as live:
            await until_live(app, 1)
            await world.need("KEN", title="Court case management", visibility=Visibility.PUBLIC)
            live_payload = await live.next(timeout=15)
        async with Subscription(url, query, {"after": 0}) as replay:
            replayed_payload = await replay.next(timeout=15)
    for payload in (live_payload, replayed_payload):
        assert payload["data"]["events"]["entity"] is None
        assert [(e["message"], e["extensions"]["code"]) for e in payload["errors"]] == [
            ("Internal server error.", "INTERNAL_SERVER_ERROR")
        ]
        assert "hunter2" not in json.dumps(payload)


async def test_live_events_are_sent_directly_as_the_usual_path_would_send_them(app, world, monkeypatch):
    """A live event with a shared result is sent straight from the event stream
    (graphql_schema/live.py); the message is byte for byte what the usual path sends (a
    replay of the same event takes it), with no per-subscriber `extensions`."""
    sent_directly: list[bool] = []
    deliver = live.deliver

    async def recording(event):
        sent = await deliver(event)
        sent_directly.append(sent)
        return sent

    monkeypatch.setattr(live, "deliver", recording)
    token = await world.key(Role.STATE_FOCAL_POINT, state="KEN")
    query = """subscription($after: Int) { events(after: $after, filter: {kinds: [NEED_CREATED]}) {
      sequence kind occurredAt entityId entity { ... on Need { title visibility state { code } } } } }"""
    async with serving(app) as url:
        async with Subscription(url, query, token=token) as subscriber:
            await until_live(app, 1)
            await world.need("KEN", title="Court case management", visibility=Visibility.PRIVATE)
            live_message = await asyncio.wait_for(subscriber.ws.recv(), 15)
        async with Subscription(url, query, {"after": 0}, token=token) as replay:
            replayed_message = await asyncio.wait_for(replay.ws.recv(), 15)
    assert sent_directly == [True]  # the replay does not ask
    assert live_message == replayed_message
    message = json.loads(live_message)
    assert message["type"] == "next" and "extensions" not in message["payload"]
    assert message["payload"]["data"]["events"]["entity"] == {
        "title": "Court case management",
        "visibility": "PRIVATE",
        "state": {"code": "KEN"},
    }


async def test_subscriptions_sharing_a_connection_each_get_their_own_messages(app, world):
    """Direct delivery is per operation (each runs in its own task): two subscriptions on one
    connection, with different selections, each receive their own `next` under their own ID."""
    import websockets

    selections = {"a": "sequence entity { ... on Need { title } }", "b": "entityId kind"}
    async with serving(app) as url, websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
        for operation_id, selection in selections.items():
            query = f"subscription {{ events(filter: {{kinds: [NEED_CREATED]}}) {{ {selection} }} }}"
            await ws.send(json.dumps({"id": operation_id, "type": "subscribe", "payload": {"query": query}}))
        await until_live(app, len(selections))
        await world.need("KEN", title="Court case management", visibility=Visibility.PUBLIC)
        messages = [json.loads(await asyncio.wait_for(ws.recv(), 15)) for _ in selections]
    by_id = {m["id"]: m for m in messages}
    assert set(by_id) == {"a", "b"} and all(m["type"] == "next" for m in messages)
    assert set(by_id["a"]["payload"]["data"]["events"]) == {"sequence", "entity"}
    assert by_id["a"]["payload"]["data"]["events"]["entity"] == {"title": "Court case management"}
    assert by_id["b"]["payload"]["data"]["events"]["kind"] == "NEED_CREATED"


async def test_dashboard_figures_are_computed_once_per_authorization_class(app, world, monkeypatch):
    from service.matching import queries as matching_queries

    computed: Counter = Counter()
    count_by_status = matching_queries.count_by_status

    async def counting(*, session, principal):
        computed[(principal.role.value, principal.state_iso3)] += 1
        return await count_by_status(session=session, principal=principal)

    monkeypatch.setattr(matching_queries, "count_by_status", counting)
    ken = await world.key(Role.STATE_FOCAL_POINT, state="KEN")
    await world.need("KEN", title="Private groundwork", visibility=Visibility.PRIVATE)
    query = "subscription { dashboard(debounceSeconds: 0.2) { sequence byStatus { status needs } } }"
    async with serving(app) as url, contextlib.AsyncExitStack() as stack:
        subs = [
            await stack.enter_async_context(Subscription(url, query, token=token))
            for token in [None, None, None, ken, ken]
        ]
        initial = [(await sub.next(timeout=15))["data"]["dashboard"] for sub in subs]
        computed.clear()
        await world.need("KEN", title="Court case management", visibility=Visibility.PUBLIC)
        updates = [(await sub.next(timeout=15))["data"]["dashboard"] for sub in subs]
    assert computed == Counter({("ANONYMOUS", None): 1, ("STATE_FOCAL_POINT", "KEN"): 1})
    assert len({u["sequence"] for u in updates}) == 1 and updates[0]["sequence"] > initial[0]["sequence"]
    totals = [sum(s["needs"] for s in u["byStatus"]) for u in updates]
    assert totals == [1, 1, 1, 2, 2]  # KEN's focal point also counts its private need
