"""A database that drops the service's connections (a restart, a failover, an administrator's
pg_terminate_backend): the next requests are answered, or refused with a JSON
SERVICE_UNAVAILABLE (503, Retry-After) — never a plain-text 500 — and the service recovers
by itself. Works on any PostgreSQL: the connections are terminated, not the server stopped."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from service.access.principals import Role
from tests.support.servers import running_server

pytestmark = pytest.mark.asyncio

QUERY = "{ viewer { role } needs(first: 1) { totalCount } }"


async def sever_service_connections(database_url: str) -> int:
    """Terminate every connection the service holds to its database."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return len(
                (
                    await conn.execute(
                        sa.text(
                            "select pg_terminate_backend(pid) from pg_stat_activity"
                            " where datname = current_database() and application_name = 'tcgraph' and pid <> pg_backend_pid()"
                        )
                    )
                ).all()
            )
    finally:
        await engine.dispose()


def assert_answered_or_unavailable(response: httpx.Response) -> bool:
    """True when answered; a refusal must be the documented one."""
    body = response.json()  # JSON whatever happened
    if response.status_code == 200 and "errors" not in body:
        return True
    assert response.status_code == 503, response.text
    assert [e["extensions"]["code"] for e in body["errors"]] == ["SERVICE_UNAVAILABLE"], body
    assert response.headers["retry-after"] == "1"
    return False


# Compiled, so answered as a ready read (graphql_schema/ready.py, its own connections) once kept.
READY_QUERY = "query Count { needs(first: 1) { totalCount } }"


@pytest.mark.parametrize("authenticated", [True, False], ids=["api key", "anonymous"])
@pytest.mark.parametrize("query", [QUERY, READY_QUERY], ids=["pipeline", "ready read"])
async def test_severed_connections_are_retried_or_refused_cleanly(database_url, world, authenticated, query):
    token = await world.key(Role.STATE_FOCAL_POINT, state="KEN") if authenticated else None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with running_server(database_url) as (base, _):
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            for _ in range(3):  # fill the pool with a few connections
                assert assert_answered_or_unavailable(
                    await client.post("/graphql", json={"query": query}, headers=headers)
                )
            # A ready read's connection is its own pool's, beside the engine's (service/db/driver.py).
            assert await sever_service_connections(database_url) >= (2 if query == READY_QUERY else 1)
            outcomes = [
                assert_answered_or_unavailable(await client.post("/graphql", json={"query": query}, headers=headers))
                for _ in range(4)
            ]
    # A lost connection fails at most one request (SQLAlchemy then discards the pool's older
    # connections); an API key's lookup is retried on a fresh connection, so it never fails.
    assert outcomes[1:] == [True, True, True], outcomes
    if authenticated:
        assert outcomes[0] is True
