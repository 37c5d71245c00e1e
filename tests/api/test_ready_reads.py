"""Ready reads (graphql_schema/ready.py): a query answered once is answered again at the edge,
with the bytes the whole pipeline would have written, and only when that is exactly right."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from graphql_schema.relay import to_global_id
from service.access.principals import Role
from service.models.enums import Visibility
from tests.support import round_trips
from tests.support.metrics import scrape

pytestmark = pytest.mark.asyncio

NODE = "query NeedNode($id: ID!) { node(id: $id) { id ... on Need { title visibility state { code name } } } }"
PAGE = """query Page($first: Int!) { needs(first: $first) { totalCount pageInfo { hasNextPage endCursor }
  edges { cursor node { id title visibility recommendations(first: 2) { edges { node { id text } } }
    matches(first: 2) { edges { node { id score programme { id title } organization { id name } } } } } } } }"""


def _without_throttle(body: dict[str, Any]) -> dict[str, Any]:
    """The body with the bucket's level left out (it moves with every charge)."""
    extensions = body.get("extensions", {})
    cost = {key: value for key, value in extensions.get("cost", {}).items() if key != "throttleStatus"}
    return {**body, "extensions": {**extensions, "cost": cost}}


async def _post(client: Any, query: str, variables: dict[str, Any], token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)


async def _usual_and_ready(app: Any, client: Any, query: str, first: dict, second: dict, token: str | None):
    """`second` answered the usual way (nothing kept), then again after `first` was kept."""
    reads = app.state.ready_reads
    reads.clear()
    usual = await _post(client, query, second, token)
    reads.clear()
    await _post(client, query, first, token)
    hits = reads.hits
    ready = await _post(client, query, second, token)
    return usual, ready, reads.hits - hits


@pytest.fixture
async def kenya(world):
    recommendation = await world.recommendation("KEN", "Strengthen the judiciary")
    public = await world.need("KEN", title="Public court support", recommendation_ids=[recommendation])
    other = await world.need("KEN", title="Public legal aid")
    private = await world.need("KEN", title="Private prison reform", visibility=Visibility.PRIVATE)
    return {"public": public, "other": other, "private": private}


@pytest.mark.parametrize("role", ["anonymous", "donor", "focal point", "administrator"])
async def test_a_repeated_query_is_answered_at_the_edge_with_the_same_bytes(app, app_client, world, kenya, role):
    token = None
    if role == "donor":
        token = await world.key(Role.DONOR, organization=await world.organization("Donor"))
    elif role == "focal point":
        token = await world.key(Role.STATE_FOCAL_POINT, state="KEN")
    elif role == "administrator":
        token = await world.key(Role.ADMINISTRATOR)
    cases = [
        (NODE, {"id": to_global_id("Need", kenya["public"])}, {"id": to_global_id("Need", kenya["other"])}),
        (NODE, {"id": to_global_id("Need", kenya["public"])}, {"id": to_global_id("Need", kenya["private"])}),
        (NODE, {"id": to_global_id("Need", kenya["public"])}, {"id": to_global_id("Need", 10**12)}),
        (PAGE, {"first": 2}, {"first": 2}),
    ]
    for query, first, second in cases:
        usual, ready, hits = await _usual_and_ready(app, app_client, query, first, second, token)
        assert hits == 1, (query, second)
        assert ready.status_code == usual.status_code == 200
        assert ready.headers["content-type"] == usual.headers["content-type"]
        assert "errors" not in usual.json()
        assert _without_throttle(ready.json()) == _without_throttle(usual.json())
        # Byte for byte, but for the bucket's level.
        assert ready.content.split(b',"throttleStatus"')[0] == usual.content.split(b',"throttleStatus"')[0]


async def test_a_private_need_stays_hidden_whoever_asked_first(app, app_client, world, kenya):
    focal = await world.key(Role.STATE_FOCAL_POINT, state="KEN")
    donor = await world.key(Role.DONOR, organization=await world.organization("Donor"))
    private = {"id": to_global_id("Need", kenya["private"])}
    seen = (await _post(app_client, NODE, private, focal)).json()
    assert seen["data"]["node"]["title"] == "Private prison reform"
    seen_again = (await _post(app_client, NODE, private, focal)).json()
    assert seen_again["data"]["node"]["title"] == "Private prison reform"
    # The focal point's read is not the donor's, nor anonymous's: each gets its own answer.
    for token in (donor, None):
        for _ in range(2):
            body = (await _post(app_client, NODE, private, token)).json()
            assert body["data"] == {"node": None}, body
            assert "Private prison reform" not in str(body)


async def test_an_id_of_another_type_or_a_bad_id_goes_the_usual_way(app, app_client, world, kenya):
    reads = app.state.ready_reads
    await _post(app_client, NODE, {"id": to_global_id("Need", kenya["public"])})
    hits = reads.hits
    state = (await _post(app_client, NODE, {"id": to_global_id("State", "KEN")})).json()
    assert state["data"] == {"node": {"id": to_global_id("State", "KEN")}}
    # Base64 decoding skips what is not in its alphabet: these decode to the very same ID,
    # and the input boundary still refuses them.
    public = to_global_id("Need", kenya["public"])
    nul = (await _post(app_client, NODE, {"id": public + "\x00"})).json()
    assert nul["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    long = (await _post(app_client, NODE, {"id": public + "." * 100})).json()
    assert long["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    garbage = (await _post(app_client, NODE, {"id": "not an id"})).json()
    assert garbage["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    number = (await _post(app_client, NODE, {"id": 5})).json()
    assert "errors" in number or number["data"] == {"node": None}
    assert reads.hits == hits


async def test_a_revoked_key_is_refused_even_for_a_read_it_made_before(app, app_client, world, kenya):
    from service.access.keys import revoke_api_key
    from service.access.principals import SYSTEM

    token = await world.key(Role.DONOR, organization=await world.organization("Donor"))
    variables = {"id": to_global_id("Need", kenya["public"])}
    assert (await _post(app_client, NODE, variables, token)).json()["data"]["node"] is not None
    assert (await _post(app_client, NODE, variables, token)).json()["data"]["node"] is not None
    async with world.sessionmaker() as session, session.begin():
        from service.access.keys import list_api_keys

        key_id = next(k.id for k in await list_api_keys(session=session) if k.role == Role.DONOR)
        await revoke_api_key(session=session, actor=SYSTEM, key_id=key_id)
    refused = await _post(app_client, NODE, variables, token)
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def _same_answer(usual: Any, ready: Any) -> None:
    """The same status, media type and bytes (but for the bucket's level)."""
    assert ready.status_code == usual.status_code == 200, (usual.text, ready.text)
    assert ready.headers["content-type"] == usual.headers["content-type"]
    assert "errors" not in usual.json()
    assert ready.content.split(b',"throttleStatus"')[0] == usual.content.split(b',"throttleStatus"')[0]


async def test_a_get_is_answered_at_the_edge_too(app, app_client, world, kenya):
    import json

    reads = app.state.ready_reads

    async def get(variables: dict[str, Any]) -> Any:
        params = {"query": NODE, "variables": json.dumps(variables)}
        return await app_client.get("/graphql", params=params, headers={"Accept": "application/json"})

    public, other = ({"id": to_global_id("Need", kenya[name])} for name in ("public", "other"))
    reads.clear()
    usual = await get(other)
    reads.clear()
    await _post(app_client, NODE, public)  # kept from a POST; the GET asks the same
    hits = reads.hits
    _same_answer(usual, await get(other))
    assert reads.hits == hits + 1
    # A parameter given twice, or one that is not a request's, goes the usual way.
    query_string = httpx.QueryParams({"query": NODE, "variables": json.dumps(other)})
    for extra in ("&variables=%7B%7D", "&foo=1"):
        response = await app_client.get(f"/graphql?{query_string}{extra}")
        assert response.status_code in (200, 400)
    assert reads.hits == hits + 1


async def test_an_automatic_persisted_querys_hash_is_answered_at_the_edge_once_the_pipeline_stored_it(
    app, app_client, world, kenya
):
    import hashlib

    reads = app.state.ready_reads
    sha256 = hashlib.sha256(NODE.encode()).hexdigest()
    by_hash = {"persistedQuery": {"version": 1, "sha256Hash": sha256}}
    public, other = ({"id": to_global_id("Need", kenya[name])} for name in ("public", "other"))

    async def post(body: dict[str, Any]) -> Any:
        return await app_client.post("/graphql", json=body)

    reads.clear()
    await _post(app_client, NODE, public)  # kept, but not by its hash: the hash is unknown
    hits = reads.hits
    unknown = await post({"extensions": by_hash, "variables": other})
    assert unknown.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert reads.hits == hits
    # Apollo's client sends the text with the hash: checked, run and stored by the pipeline.
    await post({"query": NODE, "extensions": by_hash, "variables": public})
    usual = await post({"query": NODE, "variables": other})  # answered at the edge: hits + 1
    hits = reads.hits
    _same_answer(usual, await post({"extensions": by_hash, "variables": other}))
    _same_answer(usual, await post({"query": NODE, "extensions": by_hash, "variables": other}))
    response = await app_client.get(
        "/graphql",
        params={"extensions": json_text(by_hash), "variables": json_text(other)},
        headers={"Accept": "application/json"},
    )
    _same_answer(usual, response)
    assert reads.hits == hits + 3
    # Another text under that hash is the pipeline's to refuse.
    wrong = await post({"query": NODE + " ", "extensions": by_hash, "variables": other})
    assert wrong.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert reads.hits == hits + 3


def json_text(value: Any) -> str:
    import json

    return json.dumps(value)


async def _statements(app: Any, client: Any, query: str, variables: dict[str, Any], times: int) -> list[list[str]]:
    """The statements of each of `times` answers at the edge to a query kept before, starting
    with no rate-limit lease held."""
    await _post(client, query, variables)
    app.state.rate_leases.clear()
    answers = []
    with round_trips(client) as seen:
        for _ in range(times):
            seen.clear()
            hits = app.state.ready_reads.hits
            response = await _post(client, query, variables)
            assert response.status_code == 200 and "errors" not in response.json(), response.text
            assert app.state.ready_reads.hits == hits + 1
            assert seen.checkouts == 1
            answers.append([s.lstrip().lower() for s in seen.statements])
    return answers


async def test_a_lookup_is_one_statement_and_writes_the_bucket_once_per_lease(app, app_client, world, kenya):
    first, second, third = await _statements(app, app_client, NODE, {"id": to_global_id("Need", kenya["public"])}, 3)
    # The lease's charge and the read in one statement; then reads only, paid by the lease.
    assert len(first) == 1 and first[0].startswith("with charge as"), first
    assert len(second) == 1 and second[0].startswith("select"), second
    assert third == second


async def test_a_page_is_charged_before_it_is_read_then_read_alone(app, app_client, world, kenya):
    # A page takes milliseconds: the shared bucket's row is not held locked while it is built.
    first, second = await _statements(app, app_client, PAGE, {"first": 2}, 2)
    assert len(first) == 2, first
    assert first[0].startswith("insert into rate_limit_bucket") and first[1].startswith("select"), first
    assert len(second) == 1 and second[0].startswith("select"), second


async def test_the_edge_counts_its_answers_in_the_metrics(app, app_client, world, kenya):
    variables = {"id": to_global_id("Need", kenya["public"])}
    labels = {"operation": "NeedNode", "type": "query", "outcome": "ok"}
    before = (await scrape(app_client)).get("tcgraph_graphql_requests_total", **labels)
    for _ in range(3):
        await _post(app_client, NODE, variables)
    after = await scrape(app_client)
    assert after.get("tcgraph_graphql_requests_total", **labels) == before + 3
    assert app.state.ready_reads.hits >= 2


class TestRateLimit:
    @pytest.fixture
    def app_settings(self):
        from service.settings import Settings

        return Settings(anonymous_rate_limit_capacity=7, anonymous_rate_limit_restore_rate=0.001)

    async def test_the_charge_is_the_same_and_a_refusal_is_the_usual_one(self, app, app_client, world, kenya):
        variables = {"id": to_global_id("Need", kenya["public"])}  # costs 2
        levels = []
        for _ in range(3):
            body = (await _post(app_client, NODE, variables)).json()
            levels.append(body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"])
        assert app.state.ready_reads.hits == 2
        assert [round(level) for level in levels] == [5, 3, 1]
        refused = await _post(app_client, NODE, variables)
        assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        assert app.state.ready_reads.hits == 2


class TestLease:
    """A worker charges the bucket for a batch of lookups at once (service/access/rate_lease.py)."""

    @pytest.fixture
    def app_settings(self):
        from service.settings import Settings

        return Settings(anonymous_rate_limit_capacity=10_000, anonymous_rate_limit_restore_rate=0.001)

    async def test_the_bucket_holds_the_lease_and_gets_back_what_was_not_used(
        self, app, app_client, world, kenya, monkeypatch
    ):
        import time

        import sqlalchemy as sa

        from service.access import rate_lease

        async def bucket_level() -> float:
            async with app.state.engine.connect() as connection:
                query = sa.text("select level from rate_limit_bucket where key like 'anonymous:%'")
                return (await connection.execute(query)).scalar_one()

        async def available() -> float:
            body = (await _post(app_client, NODE, variables)).json()
            return body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"]

        variables = {"id": to_global_id("Need", kenya["public"])}  # costs 2
        assert await available() == 9998  # the usual way: charged on its own, and kept
        app.state.rate_leases.clear()
        assert [await available() for _ in range(3)] == [9996, 9994, 9992]
        assert app.state.ready_reads.hits == 3
        # 100 points leased at the first of the three: the bucket counts them all as spent.
        assert await bucket_level() == pytest.approx(2 + 100, abs=0.1)
        # Once the lease has ended, the next charge gives its 94 unused points back.
        started = time.monotonic
        monkeypatch.setattr(rate_lease, "monotonic", lambda: started() + 2 * rate_lease.LEASE_SECONDS)
        assert await available() == 9990
        assert await bucket_level() == pytest.approx(102 - 94 + 100, abs=0.1)

    async def test_a_request_paid_from_the_lease_and_not_answered_here_is_not_paid_twice(
        self, app, app_client, world, kenya, monkeypatch
    ):
        import contextlib

        import asyncpg
        import sqlalchemy as sa

        variables = {"id": to_global_id("Need", kenya["public"])}  # costs 2

        async def available() -> float:
            body = (await _post(app_client, NODE, variables)).json()
            return body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"]

        assert await available() == 9998  # the usual way, and kept
        app.state.rate_leases.clear()
        assert await available() == 9996  # a lease of 100 charged
        pool = app.state.driver_pool
        working = pool.connection

        class Severed:
            async def fetchval(self, *args):
                raise asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation")

        @contextlib.asynccontextmanager
        async def severed():
            yield Severed()

        monkeypatch.setattr(pool, "connection", severed)
        hits = app.state.ready_reads.hits
        answered = await _post(app_client, NODE, variables)  # the usual way charges it on its own
        assert answered.status_code == 200 and answered.json()["data"]["node"]["title"] == "Public court support"
        assert app.state.ready_reads.hits == hits
        monkeypatch.setattr(pool, "connection", working)
        # Three requests, 6 points: what the bucket counts as spent, less the lease's unused part.
        async with app.state.engine.connect() as connection:
            query = sa.text("select key, level from rate_limit_bucket where key like 'anonymous:%'")
            key, level = (await connection.execute(query)).one()
        assert level == pytest.approx(2 + 100 + 2, abs=0.1)
        assert level - app.state.rate_leases.give_back(key) == pytest.approx(6, abs=0.1)


class TestSwitchedOff:
    @pytest.fixture
    def app_settings(self):
        from service.settings import Settings

        return Settings(ready_reads=False)

    async def test_every_request_goes_through_the_pipeline(self, app, app_client, world, kenya):
        variables = {"id": to_global_id("Need", kenya["public"])}
        bodies = [(await _post(app_client, NODE, variables)).json() for _ in range(3)]
        assert all(body["data"]["node"]["title"] == "Public court support" for body in bodies)
        assert app.state.ready_reads.hits == 0
