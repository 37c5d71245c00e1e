"""The production profile turns introspection, GraphiQL and field suggestions off."""

from __future__ import annotations

import pytest

from tests.support import gql

pytestmark = pytest.mark.asyncio


@pytest.fixture
def app_settings():
    from service.settings import Settings

    return Settings(profile="production")


async def test_introspection_graphiql_and_suggestions_are_off(app_client):
    body = await gql(app_client, "{ __schema { types { name } } }")
    assert body["errors"] and "introspection" in body["errors"][0]["message"].lower()
    body = await gql(app_client, "{ needz { totalCount } }")
    assert "Did you mean" not in body["errors"][0]["message"]
    response = await app_client.get("/graphql", headers={"Accept": "text/html"})
    assert "graphiql" not in response.text.lower()
    body = await gql(app_client, "{ needs(first: 1) { totalCount } }")
    assert body["data"]["needs"]["totalCount"] == 0
