"""No N+1: the canonical nested page costs a small constant number of SQL statements."""

from __future__ import annotations

import pytest

from tests.support import counted_statements, gql

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
        recs = [await world.recommendation(state, f"Recommendation {i}-{j}", recommenders=("NOR", "SWE")) for j in range(4)]
        await world.need(state, title=f"Need {i}", recommendation_ids=recs)

    small, body_small = await _statements(app_client, 5)
    large, body = await _statements(app_client, 50)
    assert "errors" not in body, body
    edges = body["data"]["needs"]["edges"]
    assert len(edges) == 50
    assert all(len(e["node"]["recommendations"]["edges"]) == 3 for e in edges)
    assert all(
        len(r["node"]["recommendingStates"]["edges"]) == 2
        for e in edges for r in e["node"]["recommendations"]["edges"]
    )
    assert large == small, (small, large)
    assert large <= 6, large
    print(f"canonical page: {large} statements")
