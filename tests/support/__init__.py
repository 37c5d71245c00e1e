"""Helpers shared by the tests: ``from tests.support import gql``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    operation_name: str | None = None,
) -> dict[str, Any]:
    """POST a GraphQL operation to /graphql and return the decoded JSON body
    (``{"data": …, "errors": […]}``) whatever the HTTP status."""
    payload: dict[str, Any] = {"query": query}
    if variables is not None:
        payload["variables"] = variables
    if operation_name is not None:
        payload["operationName"] = operation_name
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post("/graphql", json=payload, headers=headers)
    try:
        return response.json()
    except ValueError as exc:  # not JSON: show what came back
        raise AssertionError(
            f"/graphql answered {response.status_code} with non-JSON body: {response.text[:500]!r}"
        ) from exc


@contextlib.contextmanager
def counted_statements(client: httpx.AsyncClient) -> Iterator[list[str]]:
    """Collect the SQL statements the app behind an ASGI client runs inside the block."""
    from sqlalchemy import event

    engine = client._transport.app.state.engine.sync_engine  # type: ignore[attr-defined]
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


@dataclass
class RoundTrips:
    """What the app sent PostgreSQL: every statement as the driver sent it (BEGIN, ROLLBACK,
    COMMIT and pool pings included) and how many times it took a connection from its pool."""

    statements: list[str] = field(default_factory=list)
    checkouts: int = 0

    def clear(self) -> None:
        self.statements.clear()
        self.checkouts = 0


@contextlib.contextmanager
def round_trips(client: httpx.AsyncClient) -> Iterator[RoundTrips]:
    """Collect the round trips of the app behind an ASGI client inside the block. A connection
    is followed from its first checkout in the block on (a ping at that checkout comes before
    and is missed): to see everything, make a request in the block first, then `clear()`."""
    from sqlalchemy import event

    engine = client._transport.app.state.engine.sync_engine  # type: ignore[attr-defined]
    pool = engine.pool
    seen = RoundTrips()
    recording = True
    instrumented: set[Any] = set()

    def log(record: Any) -> None:  # asyncpg's own statements: BEGIN, COMMIT, ROLLBACK, pings
        if recording:
            seen.statements.append(record.query)

    def execute(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001 — SQLAlchemy's
        if recording:
            seen.statements.append(statement)

    def checkout(dbapi_connection: Any, connection_record: Any, connection_proxy: Any) -> None:
        if recording:
            seen.checkouts += 1
        raw = dbapi_connection._connection  # the asyncpg connection under SQLAlchemy's adapter
        if raw not in instrumented:
            raw.add_query_logger(log)
            instrumented.add(raw)

    # Ready reads' own pool (service/db/driver.py), followed the same way.
    driver_pool = getattr(client._transport.app.state, "driver_pool", None)  # type: ignore[attr-defined]
    driver_connection = driver_pool.connection if driver_pool is not None else None

    @contextlib.asynccontextmanager
    async def followed_driver_connection() -> AsyncIterator[Any]:
        assert driver_connection is not None
        async with driver_connection() as raw:
            if recording:
                seen.checkouts += 1
            underlying = getattr(raw, "_con", raw)  # the pool hands out a new proxy each time
            if underlying not in instrumented:
                underlying.add_query_logger(log)
                instrumented.add(underlying)
            yield raw

    event.listen(pool, "checkout", checkout)
    event.listen(engine, "before_cursor_execute", execute)
    if driver_pool is not None:
        driver_pool.connection = followed_driver_connection
    try:
        yield seen
    finally:
        recording = False
        event.remove(pool, "checkout", checkout)
        event.remove(engine, "before_cursor_execute", execute)
        if driver_pool is not None:
            del driver_pool.connection


__all__ = ["RoundTrips", "counted_statements", "gql", "round_trips"]
