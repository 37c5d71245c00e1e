"""No N+1: the canonical nested page costs a small constant number of SQL statements."""

from __future__ import annotations

import asyncio
import re

import pytest

from graphql_schema.relay import to_global_id
from tests.support import counted_statements, gql, round_trips

pytestmark = pytest.mark.asyncio

CANONICAL = """
query Canonical($n: Int!) {
  needs(first: $n) {
    edges { node {
      id title
      state { code name }
      recommendations(first: 3) { edges { node { id text recommendingStates(first: 5) { edges { node { code } } } } } }
    } }
  }
}"""


async def _statements(app_client, n: int) -> tuple[int, dict]:
    with counted_statements(app_client) as statements:
        body = await gql(app_client, CANONICAL, {"n": n})
    return len(statements), body


async def test_canonical_page_costs_constant_statements(app_client, world):
    states = ["KEN", "UGA", "SEN", "COL", "NPL"]
    for i in range(50):
        state = states[i % len(states)]
        recs = [
            await world.recommendation(state, f"Recommendation {i}-{j}", recommenders=("NOR", "SWE")) for j in range(4)
        ]
        await world.need(state, title=f"Need {i}", recommendation_ids=recs)

    small, body_small = await _statements(app_client, 5)
    large, body = await _statements(app_client, 50)
    assert "errors" not in body, body
    edges = body["data"]["needs"]["edges"]
    assert len(edges) == 50
    assert all(len(e["node"]["recommendations"]["edges"]) == 3 for e in edges)
    assert all(
        len(r["node"]["recommendingStates"]["edges"]) == 2 for e in edges for r in e["node"]["recommendations"]["edges"]
    )
    assert large == small, (small, large)
    assert large <= 6, large
    print(f"canonical page: {large} statements")


NEED_NODE = "query($id: ID!) { node(id: $id) { ... on Need { id title state { code name } } } }"
PARTNER_PAGE = """{ needs(first: 10) { edges { node { id title state { code name }
  recommendations(first: 3) { edges { node { id text } } }
  matches(first: 3) { edges { node { id score programme { title } capability { title } organization { name } } } } } } } }"""


async def test_a_request_reads_through_one_connection_without_transaction_statements(app_client, world):
    """One pooled connection per request, no ping per checkout, no BEGIN/ROLLBACK around
    reads: the partner page is the rate-limit charge and one compiled read; a node lookup
    asked before is one statement."""
    donor = await world.organization("Norad")
    await world.programme(donor, iati_identifier="NO-1-KEN-JUSTICE", recipients=("KEN",))
    need = await world.need("KEN", recommendation_ids=[await world.recommendation("KEN", "Reduce the case backlog")])
    with round_trips(app_client) as seen:
        await gql(
            app_client, NEED_NODE, {"id": to_global_id("Need", need)}
        )  # the pool's connections exist from here on
        seen.clear()
        body = await gql(app_client, NEED_NODE, {"id": to_global_id("Need", need)})
        assert body["data"]["node"]["state"]["code"] == "KEN", body
        node = (seen.checkouts, list(seen.statements))
        seen.clear()
        body = await gql(app_client, PARTNER_PAGE)
        assert "errors" not in body and body["data"]["needs"]["edges"][0]["node"]["matches"]["edges"], body
        page = (seen.checkouts, list(seen.statements))
    for checkouts, statements in (node, page):
        assert checkouts == 1, (checkouts, statements)
        words = [s.split(None, 1)[0].upper() if s.strip() else ";" for s in statements]
        assert not {"BEGIN", "ROLLBACK", "COMMIT", ";"} & set(words), statements
    # The lookup asked again is answered at the edge (graphql_schema/ready.py): the charge and
    # the need with its State in one statement; the page, asked once, is the charge and one read.
    assert len(node[1]) == 1 and node[1][0].lstrip().startswith("with charge as"), node[1]
    assert len(page[1]) == 2, page[1]  # charge, and the page (graphql_schema/compiled/)
    fetched = [re.split(r"\sFROM\s", s, maxsplit=1)[0] for s in page[1]]  # what each statement returns
    assert not [s for s in fetched if "breakdown" in s], fetched  # not fetched (nor decoded) unless selected


async def test_what_a_request_loaded_is_freed_when_it_ends_not_by_the_cyclic_collector(app_client, world):
    """Rows, pages and loader futures of a finished request are not left in reference cycles:
    under load, collecting them was a fifth of the service's CPU."""
    import gc

    from sqlalchemy.orm.state import InstanceState

    donor = await world.organization("Norad")
    await world.programme(donor, iati_identifier="NO-1-KEN-JUSTICE", recipients=("KEN",))
    await world.need("KEN", recommendation_ids=[await world.recommendation("KEN", "Reduce the case backlog")])
    assert "errors" not in await gql(app_client, PARTNER_PAGE)
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        body = await gql(app_client, PARTNER_PAGE)
        gc.collect()
        in_cycles = [o for o in gc.garbage if isinstance(o, InstanceState)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if enabled:
            gc.enable()
    assert body["data"]["needs"]["edges"][0]["node"]["matches"]["edges"], body
    assert not in_cycles, f"{len(in_cycles)} loaded rows left in reference cycles"


class TestOnePooledConnection:
    @pytest.fixture
    def app_settings(self):
        from service.settings import Settings

        return Settings(db_pool_size=1, db_max_overflow=0)

    async def test_a_mutation_request_holds_one_connection_at_a_time(self, app_client, world):
        """The request's read lease (taken by the rate limit's charge) is given back before the
        mutation's transaction takes a connection: with a pool of one, it still completes."""
        from service.access.principals import Role

        token = await world.key(Role.STATE_FOCAL_POINT, state="KEN")
        mutation = """mutation($input: CreateNeedInput!) { createNeed(input: $input) {
          need { title state { code } } userErrors { field message } } }"""
        body = await asyncio.wait_for(
            gql(
                app_client,
                mutation,
                {
                    "input": {
                        "state": "KEN",
                        "title": "Court reform",
                        "description": "Help with courts.",
                        "themes": ["JUSTICE"],
                        "sectors": ["15130"],
                        "visibility": "PUBLIC",
                    }
                },
                token=token,
            ),
            timeout=20,
        )
        assert body["data"]["createNeed"]["need"] == {"title": "Court reform", "state": {"code": "KEN"}}, body


async def test_the_connection_is_back_in_the_pool_before_the_response_is_written(app, world):
    import json

    need = await world.need("KEN")
    pool = app.state.engine.sync_engine.pool
    body = json.dumps({"query": NEED_NODE, "variables": {"id": to_global_id("Need", need)}}).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"test"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
    }
    incoming = [{"type": "http.request", "body": body, "more_body": False}]
    checked_out_when_writing: list[int] = []
    sent: list[bytes] = []

    async def receive():
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.start":
            checked_out_when_writing.append(pool.checkedout())
        elif message["type"] == "http.response.body":
            sent.append(message.get("body", b""))

    await app(scope, receive, send)
    assert json.loads(b"".join(sent))["data"]["node"]["state"]["code"] == "KEN"
    assert checked_out_when_writing == [0]


async def test_the_default_needs_order_is_read_from_an_index(session):
    """The first page of `needs` (newest first, ties by ID) reads an index backwards instead of
    sorting every visible need (113 ms at 100,000 needs)."""
    import sqlalchemy as sa

    await session.execute(sa.text("set local enable_seqscan = off"))
    await session.execute(sa.text("set local enable_sort = off"))  # as the planner does once the table is large
    plan = "\n".join(
        (
            await session.execute(
                sa.text(
                    "explain select id from assistance_need where visibility = 'PUBLIC' order by created_at desc, id desc limit 51"
                )
            )
        ).scalars()
    )
    assert "ix_assistance_need_created_at_id" in plan, plan
