"""Persisted queries: Apollo's automatic persisted queries (POST and GET), stored in PostgreSQL
for every worker process, and the registered-operations mode (PERSISTED_QUERIES_ONLY)."""

from __future__ import annotations

import asyncio
import hashlib
import json

import pytest
import sqlalchemy as sa

from service import cli
from service.settings import Settings, get_settings

pytestmark = pytest.mark.asyncio

QUERY = "query PublicNeeds { needs(first: 5) { edges { node { title state { code } } } } }"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def persisted(text: str) -> dict:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha(text)}}


async def post(client, body: dict) -> dict:
    response = await client.post("/graphql", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def code_of(body: dict) -> str:
    return body["errors"][0]["extensions"]["code"]


async def test_the_apollo_flow_over_post_and_get(app_client, world, sessionmaker):
    await world.need("KEN", title="Court case management")
    # 1. The hash alone: not known yet. Apollo clients recognise the message and send the text.
    body = await post(app_client, {"extensions": persisted(QUERY)})
    assert body["errors"][0]["message"] == "PersistedQueryNotFound" and code_of(body) == "PERSISTED_QUERY_NOT_FOUND"
    # 2. The hash with the text: run and stored.
    body = await post(app_client, {"query": QUERY, "extensions": persisted(QUERY)})
    assert body["data"]["needs"]["edges"][0]["node"]["title"] == "Court case management", body
    # 3. The hash alone now runs, by POST and by GET.
    body = await post(app_client, {"extensions": persisted(QUERY), "operationName": "PublicNeeds"})
    assert body["data"]["needs"]["edges"][0]["node"]["state"]["code"] == "KEN", body
    response = await app_client.get(
        "/graphql", params={"extensions": json.dumps(persisted(QUERY))}, headers={"Accept": "*/*"}
    )
    assert response.status_code == 200 and response.json()["data"]["needs"]["edges"], response.text
    # Every worker process finds it: it is in PostgreSQL.
    async with sessionmaker() as session:
        stored = (await session.execute(sa.text("select document, registered from persisted_query"))).all()
    assert stored == [(QUERY, False)]


async def test_an_unknown_hash_over_get_is_not_found_and_not_cacheable(app_client):
    response = await app_client.get("/graphql", params={"extensions": json.dumps(persisted("{ __typename }"))})
    assert response.status_code == 200 and code_of(response.json()) == "PERSISTED_QUERY_NOT_FOUND", response.text
    assert "no-cache" in response.headers["cache-control"]


async def test_bad_hashes_are_bad_user_input_and_invalid_documents_are_not_stored(app_client, sessionmaker):
    mismatch = await post(app_client, {"query": QUERY, "extensions": persisted(QUERY + " ")})
    assert code_of(mismatch) == "BAD_USER_INPUT" and "not the SHA-256" in mismatch["errors"][0]["message"]
    for extension in ({"version": 2, "sha256Hash": sha(QUERY)}, {"version": 1, "sha256Hash": "abc"}):
        body = await post(app_client, {"query": QUERY, "extensions": {"persistedQuery": extension}})
        assert code_of(body) == "BAD_USER_INPUT", body
    invalid = "{ needs(first: 5) { nope } }"
    body = await post(app_client, {"query": invalid, "extensions": persisted(invalid)})
    assert code_of(body) == "GRAPHQL_VALIDATION_FAILED", body
    body = await post(app_client, {"extensions": persisted(invalid)})
    assert code_of(body) == "PERSISTED_QUERY_NOT_FOUND", body
    async with sessionmaker() as session:
        assert (await session.execute(sa.text("select count(*) from persisted_query"))).scalar() == 0


class TestWithoutAutomaticPersistedQueries:
    @pytest.fixture
    def app_settings(self):
        return Settings(automatic_persisted_queries=False)

    async def test_a_hash_is_not_supported_and_text_still_runs(self, app_client):
        body = await post(app_client, {"extensions": persisted(QUERY)})
        assert (
            body["errors"][0]["message"] == "PersistedQueryNotSupported"
            and code_of(body) == "PERSISTED_QUERY_NOT_SUPPORTED"
        )
        assert "errors" not in await post(app_client, {"query": QUERY})


class TestRegisteredOperationsOnly:
    @pytest.fixture
    def app_settings(self):
        return Settings(persisted_queries_only=True)

    async def test_only_registered_documents_run(self, app_client, database_url, tmp_path, monkeypatch, capsys):
        refused = await post(app_client, {"query": QUERY})
        assert code_of(refused) == "OPERATION_NOT_REGISTERED" and refused.get("data") is None, refused
        body = await post(app_client, {"extensions": persisted(QUERY)})
        assert code_of(body) == "PERSISTED_QUERY_NOT_FOUND", body
        # A client's hash and text do not register anything in this mode.
        body = await post(app_client, {"query": QUERY, "extensions": persisted(QUERY)})
        assert code_of(body) == "OPERATION_NOT_REGISTERED", body

        operations = tmp_path / "operations"
        (operations / "partner").mkdir(parents=True)
        (operations / "partner" / "needs.graphql").write_text(QUERY)
        (operations / "broken.graphql").write_text("{ needs(first: 5) { nope } }")
        monkeypatch.setenv("DATABASE_URL", database_url)
        get_settings.cache_clear()
        try:
            # One invalid file: refused with the file and the reason, nothing registered.
            assert await asyncio.to_thread(cli.main, ["operations", "register", str(operations)]) == 2
            assert "broken.graphql" in capsys.readouterr().err
            assert code_of(await post(app_client, {"query": QUERY})) == "OPERATION_NOT_REGISTERED"
            (operations / "broken.graphql").unlink()
            assert await asyncio.to_thread(cli.main, ["operations", "register", str(operations)]) == 0
        finally:
            get_settings.cache_clear()
        printed = capsys.readouterr().out
        assert sha(QUERY) in printed and "needs.graphql" in printed

        assert "errors" not in await post(app_client, {"query": QUERY})
        assert "errors" not in await post(app_client, {"extensions": persisted(QUERY)})
        other = "{ needs(first: 1) { edges { node { id } } } }"
        assert code_of(await post(app_client, {"query": other})) == "OPERATION_NOT_REGISTERED"
