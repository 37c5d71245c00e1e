"""The compiled read path is the same API: for random valid queries over the schema and every
kind of caller, `data` (byte for byte) and errors are those of the resolvers (COMPILED_READS
off), on the demo world with PRIVATE and PARTNERS needs present."""

from __future__ import annotations

import asyncio
import json
from typing import Any, AsyncIterator

import httpx
import pytest
import pytest_asyncio

from service.settings import Settings
from tests.support.demo import create_key, load_demo_world

pytestmark = pytest.mark.asyncio

LIMITS = dict(anonymous_rate_limit_capacity=1e12, rate_limit_capacity=1e12)
PRINCIPALS = {
    "anonymous": None,
    "donor": "donor/Norad",
    "agency": "agency/OHCHR",
    "focal point of KEN": "state-focal-point/KEN",
    "focal point of UGA": "state-focal-point/UGA",
    "administrator": "admin",
}


@pytest.fixture
def app_settings():
    return Settings(compiled_reads=True, **LIMITS)


@pytest_asyncio.fixture
async def demo(database_url: str) -> dict[str, str | None]:
    await asyncio.to_thread(load_demo_world, database_url)
    tokens: dict[str, str | None] = {}
    for name, principal in PRINCIPALS.items():
        tokens[name] = None if principal is None else await asyncio.to_thread(create_key, database_url, principal)
    return tokens


@pytest_asyncio.fixture
async def resolver_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The same database behind a second app with COMPILED_READS off."""
    from service.app import create_app

    application = create_app(database_url=database_url, settings=Settings(compiled_reads=False, **LIMITS))
    async with application.router.lifespan_context(application):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://test") as client:
            yield client


async def _post(client: httpx.AsyncClient, query: str, variables: dict | None, token: str | None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
    return json.loads(response.content)


async def answers(compiled: httpx.AsyncClient, resolvers: httpx.AsyncClient, query: str, variables: dict | None, token: str | None) -> dict[str, Any]:
    """Both paths' answers, asserted equal: `data` as the same bytes (key order, number types),
    errors by message, path and code."""
    got = await _post(compiled, query, variables, token)
    want = await _post(resolvers, query, variables, token)
    assert json.dumps(got.get("data")) == json.dumps(want.get("data")), (query, variables)

    def errors(body: dict) -> list:
        return [(e.get("message"), e.get("path"), (e.get("extensions") or {}).get("code")) for e in body.get("errors") or []]

    assert errors(got) == errors(want), (query, variables)
    return want


async def test_smoke(app_client, resolver_client, demo):
    query = """query($id: ID!) { needs(first: 5) { totalCount pageInfo { hasNextPage endCursor startCursor hasPreviousPage }
      edges { cursor node { id title status visibility allowedTransitions createdAt submittedAt updatedAt startDate
        estimatedCost { amount currency } themes rightsDimensions state { id code name(language: FR) regionalGroup isLdc } } } }
      n: node(id: $id) { __typename ... on Need { id title } } }"""
    for name, token in demo.items():
        body = await answers(app_client, resolver_client, query, {"id": "TmVlZDox"}, token)
        print(name, json.dumps(body)[:300])
