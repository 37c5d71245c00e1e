"""Helpers shared by the tests: ``from tests.support import gql``."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

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


__all__ = ["counted_statements", "gql"]
