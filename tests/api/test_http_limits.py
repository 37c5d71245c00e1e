"""Limits at the HTTP edge: the request body's size (413 while it streams in) and
`Retry-After` on rate-limited answers (429 under application/graphql-response+json)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from service.settings import Settings

pytestmark = pytest.mark.asyncio

LIMIT = 4096
QUERY = b'{"query": "{ __typename }", "padding": "'


@pytest.fixture
def app_settings():
    return Settings(
        max_request_body_bytes=LIMIT, anonymous_rate_limit_capacity=100, anonymous_rate_limit_restore_rate=1
    )


async def test_the_default_body_limit_is_one_mebibyte():
    assert Settings().max_request_body_bytes == 1_048_576


class Chunks:
    """A request body of `count` chunks of 1 KiB, counting how many were read."""

    def __init__(self, count: int):
        self.count = count
        self.read = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for i in range(self.count):
            self.read += 1
            yield (QUERY + b"x" * (1024 - len(QUERY))) if i == 0 else b"x" * 1024


@pytest.mark.parametrize("accept", ["application/json", "application/graphql-response+json"])
async def test_a_body_over_the_limit_is_refused_413_without_being_read(app_client, accept):
    body = Chunks(50 * 1024)  # 50 MiB, streamed without Content-Length
    response = await app_client.post(
        "/graphql", content=body, headers={"content-type": "application/json", "accept": accept}
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith(accept)
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert "MAX_REQUEST_BODY_BYTES" in error["message"]
    assert body.read <= LIMIT // 1024 + 2  # stopped at the limit, not after 50 MiB


async def test_a_declared_length_over_the_limit_is_refused_before_reading(app_client):
    body = Chunks(5)
    response = await app_client.post(
        "/graphql", content=body, headers={"content-type": "application/json", "content-length": str(5 * 1024)}
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert body.read <= 1


async def test_a_body_under_the_limit_runs(app_client):
    content = QUERY + b"x" * (LIMIT - len(QUERY) - 2) + b'"}'
    assert len(content) == LIMIT
    response = await app_client.post("/graphql", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 200
    assert response.json()["data"] == {"__typename": "Query"}


@pytest.mark.parametrize("accept, status", [("application/json", 200), ("application/graphql-response+json", 429)])
async def test_a_rate_limited_answer_says_when_to_retry(app_client, accept, status):
    query = {"query": "{ needs(first: 30) { totalCount } }"}  # costs 31 of the 100 points
    for _ in range(3):
        assert (await app_client.post("/graphql", json=query)).status_code == 200
    response = await app_client.post("/graphql", json=query, headers={"accept": accept})
    assert response.status_code == status
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    retry_after = int(response.headers["retry-after"])
    assert retry_after >= 1 and retry_after >= error["extensions"]["retryAfterSeconds"]
    if status == 429:
        assert "data" not in response.json()
