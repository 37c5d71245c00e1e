"""The per-principal rate limit over query cost (a leaky bucket shared through PostgreSQL)."""

from __future__ import annotations

import pytest

from tests.support import gql

pytestmark = pytest.mark.asyncio


@pytest.fixture
def app_settings():
    from service.settings import Settings

    return Settings(anonymous_rate_limit_capacity=100, anonymous_rate_limit_restore_rate=1)


async def test_rate_limit_refuses_with_a_retry_hint(app_client):
    query = "{ needs(first: 30) { totalCount } }"  # costs 31
    results = [await gql(app_client, query) for _ in range(4)]
    assert all("errors" not in r for r in results[:3])
    limited = results[3]["errors"][0]
    assert limited["extensions"]["code"] == "RATE_LIMITED"
    assert limited["extensions"]["retryAfterSeconds"] > 0


async def test_a_query_costlier_than_the_whole_bucket_is_too_complex(app_client):
    spent = await gql(app_client, "{ needs(first: 30) { totalCount } }")  # costs 31
    assert spent["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] < 70
    # 1 + 100 × (1 edge + 1 State) = 201: more than the anonymous bucket (100) can ever hold.
    body = await gql(app_client, "{ needs(first: 100) { edges { node { state { code } } } } }")
    error = body["errors"][0]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["cost"] == 201 and error["extensions"]["maximumAvailable"] == 100
    assert "100" in error["message"] and "retryAfterSeconds" not in error["extensions"]
    # Nothing was charged for it, and the report shows the bucket as it is.
    status = body["extensions"]["cost"]["throttleStatus"]
    assert status["maximumAvailable"] == 100 and 69 <= status["currentlyAvailable"] < 71
