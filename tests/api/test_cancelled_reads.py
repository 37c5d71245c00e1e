"""When an error nulls a whole result, graphql-core stops waiting for the other fields, but a
DataLoader batch already reading on the request's connection goes on in its own task: the
connection goes back to the pool only after it, and the next request gets a working one."""

from __future__ import annotations

import pytest

from tests.support import gql

pytestmark = pytest.mark.asyncio

# r13's nested cursor is not one of `recommendations`: BAD_USER_INPUT nulls the non-null
# chain up to `data` while r1's batched reads are still running.
QUERY = """{ r1: needs(first: 5) { edges { node { id stakeholderInputs(first: 0) { totalCount } matches { totalCount } } } }
  r13: states(first: 3) { edges { node { needs(filter: {search: "court"}) { edges { cursor } }
    recommendations(first: 2, after: "WyJuZWVkczpUSVRMRTpERVNDIixbIngiLDFdXQ") { totalCount } } } } }"""


@pytest.fixture
def app_settings():
    from service.settings import Settings

    return Settings(compiled_reads=False)  # the resolvers' batched reads


async def test_the_next_request_after_an_abandoned_read_gets_a_working_connection(app_client, world):
    await world.need("KEN", title="Court support")
    codes = []
    for _ in range(6):
        body = await gql(app_client, QUERY)
        assert body["data"] is None
        codes.append([error["extensions"]["code"] for error in body["errors"]])
    assert codes == [["BAD_USER_INPUT"]] * 6, codes
    after = await gql(app_client, "{ needs(first: 1) { totalCount } }")
    assert after["data"]["needs"]["totalCount"] == 1, after
