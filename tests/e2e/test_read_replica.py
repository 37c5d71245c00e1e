"""Read replica routing (DATABASE_READ_URL) against a real streaming replica whose replay is
held back: reads go to the replica, writes and the rate-limit charge to the primary, and a
caller always reads its own writes (waiting for the replica, or reading the primary)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.support.clusters import migrated_with_focal_key, scratch_folder
from tests.support.servers import running_server

pytestmark = pytest.mark.asyncio

CREATE = """mutation($t: String!) { createNeed(input: {state: "KEN", title: $t, description: "d", themes: ["JUSTICE"], visibility: PUBLIC}) {
  need { id title } userErrors { code } } }"""
NODE = "query($id: ID!) { node(id: $id) { ... on Need { title } } }"
COUNT = '{ needs(filter: {states: ["KEN"]}) { totalCount } }'
REPLAY_DELAY_SECONDS = 5  # far longer than a request takes, even on a loaded machine


async def graphql(
    client: httpx.AsyncClient, query: str, variables: dict | None = None, token: str | None = None
) -> dict:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {token}"} if token else {},
    )
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    return body["data"]


@pytest.mark.embedded_only
async def test_reads_go_to_the_replica_and_callers_read_their_own_writes(pg_server):
    from service.db.embedded import EmbeddedPostgres

    with scratch_folder("tcgraph-replica-") as folder:
        primary_cluster, replica_cluster = EmbeddedPostgres(folder / "primary"), EmbeddedPostgres(folder / "replica")
        try:
            primary = primary_cluster.ensure_running(durable=False)
            url = primary.url("tcgraph")
            focal = await migrated_with_focal_key(url)
            replica = await asyncio.to_thread(
                replica_cluster.ensure_replica_of, primary, apply_delay=f"{REPLAY_DELAY_SECONDS}s"
            )
            read_url = replica.url("tcgraph")

            for max_wait in (REPLAY_DELAY_SECONDS * 4, 0.05):  # waits for the replica / reads the primary
                env = {"DATABASE_READ_URL": read_url, "REPLICA_MAX_WAIT_SECONDS": str(max_wait)}
                async with (
                    running_server(url, env=env) as (base, _),
                    httpx.AsyncClient(base_url=base, timeout=60) as client,
                ):
                    before = (await graphql(client, COUNT))["needs"]["totalCount"]
                    title = f"Court records, wait {max_wait}"
                    created = (await graphql(client, CREATE, {"t": title}, focal))["createNeed"]
                    # The mutation's payload is read after the write, within the request.
                    assert created["userErrors"] == [] and created["need"]["title"] == title
                    # Another caller reads the replica, which has not replayed the write yet.
                    assert (await graphql(client, COUNT))["needs"]["totalCount"] == before
                    # The writer's next requests (new connections, any worker) see its write.
                    seen = await graphql(client, NODE, {"id": created["need"]["id"]}, focal)
                    assert seen["node"] == {"title": title}
                    assert (await graphql(client, COUNT, token=focal))["needs"]["totalCount"] == before + 1
        finally:
            replica_cluster.stop()
            primary_cluster.stop()
