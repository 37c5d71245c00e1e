"""Live updates end to end: two service processes on one database, real WebSockets."""

from __future__ import annotations

import asyncio
import base64

import httpx
import pytest

from service.access.principals import Role
from service.models.enums import OrganizationCategory
from tests.support.clusters import migrated_with_focal_key, scratch_folder
from tests.support.servers import running_server
from tests.support.ws import Subscription, log_head, rejected_close_code

pytestmark = pytest.mark.asyncio

EVENTS = """subscription($after: Int, $filter: EventFilter) {
  events(after: $after, filter: $filter) { sequence kind removed entityId entity { ... on Need { title visibility } } }
}"""


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/graphql"


async def post(base: str, query: str, variables: dict | None = None, token: str | None = None) -> dict:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        response = await client.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {token}"} if token else {},
        )
        return response.json()


CREATE = 'mutation($v: Visibility!, $t: String!) { createNeed(input: {state: "KEN", title: $t, description: "d", themes: ["JUSTICE"], visibility: $v}) { need { id } userErrors { code } } }'
UPDATE = "mutation($id: ID!, $v: Visibility!) { updateNeed(input: {id: $id, visibility: $v}) { need { id } userErrors { code } } }"


@pytest.fixture
async def tokens(world):
    return {
        "focal": await world.key(Role.STATE_FOCAL_POINT, state="KEN"),
        "partner": await world.key(
            Role.AGENCY, organization=await world.organization("UNDP", OrganizationCategory.UN_AGENCY)
        ),
    }


async def test_a_change_through_one_process_reaches_subscribers_of_another(database_url, tokens):
    async with running_server(database_url) as (a, _), running_server(database_url) as (b, _):
        # `after` the log's head: every later event arrives, replayed or live, without a sleep.
        after = {"after": await log_head(database_url)}
        async with (
            Subscription(ws_url(b), EVENTS, after, token=tokens["partner"]) as partner,
            Subscription(ws_url(b), EVENTS, after) as anonymous,
        ):
            public = await post(a, CREATE, {"v": "PUBLIC", "t": "Public court need"}, tokens["focal"])
            need_id = public["data"]["createNeed"]["need"]["id"]
            private = await post(a, CREATE, {"v": "PRIVATE", "t": "Private need"}, tokens["focal"])
            assert private["data"]["createNeed"]["need"]
            first = (await partner.next())["data"]["events"]
            assert first["kind"] == "NEED_CREATED" and first["entityId"] == need_id
            assert first["entity"] == {"title": "Public court need", "visibility": "PUBLIC"}
            seen = (await anonymous.next())["data"]["events"]
            assert seen["entityId"] == need_id
            # Neither ever hears of the private need.
            for subscriber in (partner, anonymous):
                while True:
                    try:
                        event = (await subscriber.next(timeout=1.5))["data"]["events"]
                    except TimeoutError:
                        break
                    assert event["entityId"] == need_id, event
            # Hidden from the public: anonymous gets a removal with the ID only.
            await post(a, UPDATE, {"id": need_id, "v": "PARTNERS"}, tokens["focal"])
            removal = None
            while removal is None:
                event = (await anonymous.next())["data"]["events"]
                if event["kind"] == "NEED_REMOVED":
                    removal = event
            assert removal == {
                "sequence": removal["sequence"],
                "kind": "NEED_REMOVED",
                "removed": True,
                "entityId": need_id,
                "entity": None,
            }
            updated = (await partner.next())["data"]["events"]
            assert updated["entityId"] == need_id and updated["entity"]["visibility"] == "PARTNERS"


async def test_resume_with_after_replays_then_streams_without_gap_or_duplicate(database_url, tokens):
    async with running_server(database_url) as (base, _):
        for i in range(3):
            await post(base, CREATE, {"v": "PUBLIC", "t": f"Need {i}"}, tokens["focal"])
        replay_query = EVENTS
        async with Subscription(ws_url(base), replay_query, {"after": 0, "filter": {"kinds": ["NEED_CREATED"]}}) as sub:
            replayed = [(await sub.next())["data"]["events"] for _ in range(3)]
            assert [e["entity"]["title"] for e in replayed] == ["Need 0", "Need 1", "Need 2"]
            await post(base, CREATE, {"v": "PUBLIC", "t": "Need 3"}, tokens["focal"])
            live = (await sub.next())["data"]["events"]
            assert live["entity"]["title"] == "Need 3"
            sequences = [e["sequence"] for e in replayed] + [live["sequence"]]
            assert sequences == sorted(set(sequences))
        async with Subscription(
            ws_url(base), EVENTS, {"after": replayed[1]["sequence"], "filter": {"kinds": ["NEED_CREATED"]}}
        ) as sub:
            resumed = [(await sub.next())["data"]["events"]["entity"]["title"] for _ in range(2)]
            assert resumed == ["Need 2", "Need 3"]


async def test_websocket_credentials_and_limits(database_url, tokens):
    async with running_server(database_url, env={"MAX_SUBSCRIPTIONS_PER_CONNECTION": "2"}) as (base, _):
        assert await rejected_close_code(ws_url(base), "tcg_unknown_key") == 4403
        async with Subscription(ws_url(base), "subscription { events(after: -5) { sequence } }") as sub:
            refused = await sub.next()
            assert refused["data"] is None
            assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
            assert "no longer retained" in refused["errors"][0]["message"]
        viewer = await post(base, "{ changes(since: 0) { lastSequence summary { entityType created } } }")
        assert "errors" not in viewer


async def test_changes_query_for_polling_partner_systems(database_url, tokens):
    async with running_server(database_url) as (base, _):
        public = (await post(base, CREATE, {"v": "PUBLIC", "t": "Open"}, tokens["focal"]))["data"]["createNeed"][
            "need"
        ]["id"]
        await post(base, CREATE, {"v": "PRIVATE", "t": "Closed"}, tokens["focal"])
        query = "query($since: Int!) { changes(since: $since) { lastSequence edges { node { operation entityType id } } summary { entityType created updated removed } } }"
        page = (await post(base, query, {"since": 0}))["data"]["changes"]
        assert [s for s in page["summary"] if s["entityType"] == "Need"] == [
            {"entityType": "Need", "created": [public], "updated": [], "removed": []}
        ]
        since = page["lastSequence"]
        await post(base, UPDATE, {"id": public, "v": "PRIVATE"}, tokens["focal"])
        later = (await post(base, query, {"since": since}))["data"]["changes"]
        assert {"entityType": "Need", "created": [], "updated": [], "removed": [public]} in later["summary"]
        mine = (await post(base, query, {"since": since}, tokens["focal"]))["data"]["changes"]
        assert any(public in s["updated"] for s in mine["summary"])


@pytest.mark.embedded_only
async def test_listener_reconnects_after_a_postgresql_restart(tokens, pg_server):
    """Its own small cluster, restarted mid-stream: the listener reconnects by itself, requests
    meanwhile are answered or refused as SERVICE_UNAVAILABLE (JSON, never a plain 500), and a
    client resuming with `after` misses nothing."""
    from service.db.embedded import EmbeddedPostgres

    with scratch_folder("tcgraph-restart-") as folder:
        cluster = EmbeddedPostgres(folder / "pg")
        url = cluster.ensure_running(durable=False).url("tcgraph")
        try:
            focal = await migrated_with_focal_key(url)
            async with running_server(url) as (base, _):
                live_from = {"after": await log_head(url), "filter": {"kinds": ["NEED_CREATED"]}}
                async with Subscription(ws_url(base), EVENTS, live_from) as sub:
                    await post(base, CREATE, {"v": "PUBLIC", "t": "Before restart"}, focal)
                    before = (await sub.next())["data"]["events"]
                    await asyncio.to_thread(cluster.restart)
                    # The server's pool and listener reconnect by themselves.
                    for _attempt in range(50):
                        result = await post(base, CREATE, {"v": "PUBLIC", "t": "After restart"}, focal)
                        if result.get("data") and result["data"]["createNeed"]:
                            break
                        assert [e["extensions"]["code"] for e in result["errors"]] == ["SERVICE_UNAVAILABLE"], result
                        await asyncio.sleep(0.2)
                    after = (await sub.next(timeout=20))["data"]["events"]
                    assert after["entity"]["title"] == "After restart" and after["sequence"] > before["sequence"]
                resumed_with = {"after": before["sequence"] - 1, "filter": {"kinds": ["NEED_CREATED"]}}
                async with Subscription(ws_url(base), EVENTS, resumed_with) as resumed:
                    titles = [(await resumed.next())["data"]["events"]["entity"]["title"] for _ in range(2)]
                    assert titles == ["Before restart", "After restart"]
        finally:
            cluster.stop()


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


async def test_dashboard_aggregates_are_debounced(database_url, tokens):
    query = "subscription { dashboard(debounceSeconds: 1.0) { sequence byStatus { status needs } byTheme { key needs gap { amount } } } }"
    async with running_server(database_url) as (base, _):
        async with Subscription(ws_url(base), query) as sub:
            initial = (await sub.next())["data"]["dashboard"]
            assert initial["byStatus"] == []
            await asyncio.gather(
                *(  # a burst
                    post(base, CREATE, {"v": "PUBLIC", "t": f"Burst {i}"}, tokens["focal"]) for i in range(5)
                )
            )
            update = (await sub.next(timeout=15))["data"]["dashboard"]
            # one update for the burst, reflecting all of it
            assert {s["status"]: s["needs"] for s in update["byStatus"]} == {"DRAFT": 5}
            assert [t for t in update["byTheme"] if t["key"] == "JUSTICE"][0]["needs"] == 5
            assert await sub.nothing_for(2.0)
