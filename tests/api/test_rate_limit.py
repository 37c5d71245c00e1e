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
