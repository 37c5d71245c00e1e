"""Prometheus metrics move when requests run: operations by name and outcome, their cost, SQL
statements and time, the pool, subscriptions over a real WebSocket, events delivered, import
rows; labels stay bounded and carry nothing private; /metrics behind METRICS_TOKEN."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import httpx
import pytest

from service.access.principals import Role
from service.models.enums import Visibility
from tests.support import gql
from tests.support.metrics import scrape
from tests.support.servers import running_server, serving
from tests.support.ws import Subscription, until

pytestmark = pytest.mark.asyncio

STATES = "query StatesPage { states(first: 3) { edges { node { code } } } }"
REQUESTS = "tcgraph_graphql_requests_total"


async def test_an_operation_moves_its_counters(app_client):
    before = await scrape(app_client)
    result = await gql(app_client, STATES)
    assert "errors" not in result
    after = await scrape(app_client)

    labels = {"operation": "StatesPage", "type": "query"}
    assert after.get(REQUESTS, **labels, outcome="ok") == before.get(REQUESTS, **labels, outcome="ok") + 1
    assert (
        after.get("tcgraph_graphql_request_duration_seconds_count", **labels)
        == before.get("tcgraph_graphql_request_duration_seconds_count", **labels) + 1
    )
    # Cost: the requested cost of this query (3 states, 1 connection), as extensions.cost says.
    cost = result["extensions"]["cost"]["requestedQueryCost"]
    assert cost > 0
    assert (
        after.get("tcgraph_graphql_query_cost_sum", **labels)
        == before.get("tcgraph_graphql_query_cost_sum", **labels) + cost
    )
    # SQL: at least the page's statement and the rate limit's charge, and their time.
    statements = after.get("tcgraph_graphql_sql_statements_sum", **labels) - before.get(
        "tcgraph_graphql_sql_statements_sum", **labels
    )
    assert statements >= 2
    assert after.get("tcgraph_graphql_sql_seconds_sum", **labels) > before.get(
        "tcgraph_graphql_sql_seconds_sum", **labels
    )
    assert after.get("tcgraph_sql_statements_total") >= before.get("tcgraph_sql_statements_total") + statements
    assert after.get("tcgraph_http_responses_total", status="200") > before.get(
        "tcgraph_http_responses_total", status="200"
    )
    # The pool: the app's connections are open, the request's given back once it ended.
    assert after.get("tcgraph_db_pool_connections_open") >= 1
    # In use again as before: background work (event pruning at start-up, credential checks)
    # may hold a connection at the moment of a scrape, so wait for it, bounded, not a sleep.
    level = before.get("tcgraph_db_pool_connections_in_use")

    async def back_to_level() -> bool:
        return (await scrape(app_client)).get("tcgraph_db_pool_connections_in_use") <= level

    await until(back_to_level, "the pool's in-use gauge back to its level")
    assert after.get("tcgraph_db_pool_connections_limit") >= 30  # DB_POOL_SIZE + DB_MAX_OVERFLOW


async def test_outcomes_refused_and_error(app_client):
    before = await scrape(app_client)
    # Not valid: refused before execution; a name never seen valid is `other`.
    refused = await gql(app_client, "query NoSuchThing { noSuchField }")
    assert refused["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    # Valid but its resolver refuses the input: executed, with an error.
    too_many = json.dumps([f"id{i}" for i in range(101)])
    failed = await gql(app_client, f"query ManyNodes {{ nodes(ids: {too_many}) {{ id }} }}")
    assert failed["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    after = await scrape(app_client)
    other = {"operation": "other", "type": "query", "outcome": "refused"}
    assert after.get(REQUESTS, **other) == before.get(REQUESTS, **other) + 1
    assert 'operation="NoSuchThing"' not in after.text
    error = {"operation": "ManyNodes", "type": "query", "outcome": "error"}
    assert after.get(REQUESTS, **error) == before.get(REQUESTS, **error) + 1


async def test_metrics_carry_nothing_private(app_client, world):
    focal = await world.key(Role.STATE_FOCAL_POINT, state="KEN")
    await world.need("KEN", title="Witness protection for the Kisumu trial", visibility=Visibility.PRIVATE)
    seen = await gql(app_client, "query MyNeeds { needs(first: 5) { edges { node { title } } } }", token=focal)
    assert "Witness protection for the Kisumu trial" in json.dumps(seen)
    text = (await scrape(app_client)).text
    assert "Kisumu" not in text and focal not in text and focal[:12] not in text
    assert 'operation="MyNeeds"' in text


@pytest.fixture
def app_settings(request):
    from service.settings import Settings

    return Settings(**getattr(request, "param", {}))


@pytest.mark.parametrize("app_settings", [{"metrics_token": "s3cret-scrape-token"}], indirect=True)
async def test_metrics_token(app_client):
    refused = await app_client.get("/metrics")
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    wrong = await app_client.get("/metrics", headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 401
    samples = await scrape(app_client, headers={"Authorization": "Bearer s3cret-scrape-token"})
    assert "tcgraph_graphql_requests" in samples.text


@pytest.mark.parametrize("app_settings", [{"profile": "production"}], indirect=True)
async def test_production_without_a_token_does_not_serve_metrics(app_client):
    response = await app_client.get("/metrics")
    assert response.status_code == 403 and "METRICS_TOKEN" in response.text


@pytest.mark.parametrize("app_settings", [{"metrics": False}], indirect=True)
async def test_metrics_can_be_turned_off(app_client):
    assert (await app_client.get("/metrics")).status_code == 404


EVENTS = "subscription($after: Int) { events(after: $after) { sequence kind entityId } }"


async def test_subscriptions_and_events_over_a_real_websocket(app, app_client, world):
    open_events = {"field": "events"}
    first = await world.need("KEN", title="First need")
    async with serving(app) as url:
        base = url.replace("ws://", "http://").removesuffix("/graphql")
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            before = await scrape(http)
            async with Subscription(url, EVENTS, {"after": 0}) as subscription:
                assert subscription.ws.response.headers["x-request-id"]  # the handshake echoes an ID
                # The replay reaches the first need's event: the subscription is running.
                while (await subscription.next())["data"]["events"]["entityId"] != _global_id(first):
                    pass
                during = await scrape(http)
                assert (
                    during.get("tcgraph_subscriptions_open", **open_events)
                    == before.get("tcgraph_subscriptions_open", **open_events) + 1
                )
                assert during.get("tcgraph_events_delivered_total", mode="replay") > before.get(
                    "tcgraph_events_delivered_total", mode="replay"
                )

                second = await world.need("KEN", title="Second need")  # committed now: a live event
                while (await subscription.next())["data"]["events"]["entityId"] != _global_id(second):
                    pass
                live = await scrape(http)
                assert (
                    live.get("tcgraph_events_delivered_total", mode="live")
                    >= before.get("tcgraph_events_delivered_total", mode="live") + 1
                )
                lag_count = "tcgraph_event_delivery_lag_seconds_count"
                assert live.get(lag_count) >= before.get(lag_count) + 1

                # `complete` ends the operation; the pong to a later ping says it was handled.
                await subscription.ws.send(json.dumps({"id": "1", "type": "complete"}))
                await subscription.ws.send(json.dumps({"type": "ping"}))
                while json.loads(await asyncio.wait_for(subscription.ws.recv(), 10))["type"] != "pong":
                    pass
                ended = await scrape(http)
                assert ended.get("tcgraph_subscriptions_open", **open_events) == before.get(
                    "tcgraph_subscriptions_open", **open_events
                )
                anonymous = {"operation": "anonymous", "type": "subscription", "outcome": "ok"}
                assert ended.get(REQUESTS, **anonymous) == before.get(REQUESTS, **anonymous) + 1


def _global_id(need_id: int) -> str:
    from graphql_schema.relay import to_global_id

    return to_global_id("Need", need_id)


FIXTURES = Path(__file__).resolve().parents[1] / "imports" / "fixtures"
IMPORT = """mutation($path: String!) {
  importFile(input: {source: UPR_INFO, path: $path, dryRun: false, allowRejects: true}) { result { committed created rejected } }
}"""


async def test_import_rows(app, world, tmp_path):
    folder = tmp_path / "imports"
    folder.mkdir()
    shutil.copy(FIXTURES / "upr_info_utf8_bom_crlf.csv", folder / "upr.csv")
    app.state.settings.import_dir = folder
    admin = await world.key(Role.ADMINISTRATOR)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        before = await scrape(client)
        result = (await gql(client, IMPORT, {"path": "upr.csv"}, token=admin))["data"]["importFile"]["result"]
        after = await scrape(client)
    assert result["committed"] and result["created"] > 0
    labels = {"source": "upr-info"}
    assert (
        after.get("tcgraph_import_rows_total", **labels, outcome="created")
        == before.get("tcgraph_import_rows_total", **labels, outcome="created") + result["created"]
    )
    assert (
        after.get("tcgraph_imports_total", **labels, result="committed")
        == before.get("tcgraph_imports_total", **labels, result="committed") + 1
    )


async def test_several_workers_report_the_sum_of_their_metrics(database_url, tmp_path):
    """Multi-process mode: whichever worker answers /metrics counts every worker's requests."""
    folder = tmp_path / "metrics"
    folder.mkdir()
    async with running_server(database_url, workers=2, env={"PROMETHEUS_MULTIPROC_DIR": str(folder)}) as (base, _):
        # Separate connections, so that both workers are likely to serve some; the sum holds either way.
        for _ in range(6):
            async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                assert "errors" not in (await gql(client, STATES))
        labels = {"operation": "StatesPage", "type": "query", "outcome": "ok"}
        for _ in range(4):
            async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                samples = await scrape(client)
            assert samples.get(REQUESTS, **labels) == 6
            assert samples.get("tcgraph_db_pool_connections_limit") == 2 * 30  # both workers' pools
        assert list(folder.glob("*.db"))  # the values live in files
