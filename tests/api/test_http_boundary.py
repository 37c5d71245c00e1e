"""The HTTP/GraphQL boundary: every bad request gets a clear GraphQL error with a code and the
status GraphQL-over-HTTP asks for, never "Internal server error" (graphql_schema/http.py,
graphql_schema/boundary.py)."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest

from service.access.principals import Role
from service.models.enums import Visibility

pytestmark = pytest.mark.asyncio

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"


def global_id(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def post(query: str, variables: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"json": {"query": query, **({"variables": variables} if variables is not None else {}), **extra}}


def raw(body: bytes | str) -> dict[str, Any]:
    return {"content": body, "headers": {"content-type": JSON}}


FIRST = "query($n: Int) { needs(first: $n) { totalCount } }"
NODE = "query($id: ID!) { node(id: $id) { id } }"
SEARCH = "query($s: String) { needs(filter: {search: $s}) { totalCount } }"
STATES = "query($s: [String!]) { needs(filter: {states: $s}) { totalCount } }"
COST = "query($m: Decimal) { needs(filter: {cost: {min: $m}}) { totalCount } }"

# (name, request, status under application/json, status under graphql-response+json, code, words of the message)
BAD_REQUESTS = [
    # 8: a body that is not a GraphQL request
    ("body is a JSON string", raw('"hello"'), 400, 400, "BAD_REQUEST", "JSON object"),
    ("body is null", raw("null"), 400, 400, "BAD_REQUEST", "not null"),
    ("body is a number", raw("42"), 400, 400, "BAD_REQUEST", "not a number"),
    ("body is an array", raw("[]"), 400, 400, "BAD_REQUEST", "not an array"),
    ("body is not UTF-8", raw(b'{"query": "{ __typename }", "x": "\xff\xfe"}'), 400, 400, "BAD_REQUEST", "UTF-8"),
    (
        "body nested 5,000 deep",
        raw('{"query": "{ __typename }", "variables": {"a": ' + "[" * 5000 + "]" * 5000 + "}}"),
        400,
        400,
        "BAD_REQUEST",
        "nested too deeply",
    ),
    ("body is not JSON", raw("{"), 400, 400, "BAD_REQUEST", "JSON"),
    ("no query", post(None), 400, 400, "BAD_REQUEST", "No GraphQL query"),  # type: ignore[arg-type]
    # 9: variables that do not coerce
    ("'ten' for Int", post(FIRST, {"n": "ten"}), 200, 400, "BAD_USER_INPUT", "$n"),
    ("1.5 for Int", post(FIRST, {"n": 1.5}), 200, 400, "BAD_USER_INPUT", "$n"),
    ("missing required variable", post(NODE, {}), 200, 400, "BAD_USER_INPUT", "$id"),
    ("null for ID!", post(NODE, {"id": None}), 200, 400, "BAD_USER_INPUT", "$id"),
    (
        "bad enum value",
        post("query($o: NeedOrder) { needs(orderBy: $o) { totalCount } }", {"o": {"field": "NOPE"}}),
        200,
        400,
        "BAD_USER_INPUT",
        "$o",
    ),
    (
        "unknown input field",
        post("query($f: NeedFilter) { needs(filter: $f) { totalCount } }", {"f": {"nope": 1}}),
        200,
        400,
        "BAD_USER_INPUT",
        "$f",
    ),
    # 10: strings, numbers and lists PostgreSQL or the domain cannot take
    ("NUL in a search variable", post(SEARCH, {"s": "court\x00s"}), 200, 400, "BAD_USER_INPUT", "$s"),
    (
        "NUL in a search literal",
        post('{ needs(filter: {search: "court\\u0000s"}) { totalCount } }'),
        200,
        400,
        "BAD_USER_INPUT",
        "filter.search",
    ),
    (
        "lone surrogate in a search variable",
        raw('{"query": "' + SEARCH + '", "variables": {"s": "court\\ud800s"}}'),
        200,
        400,
        "BAD_USER_INPUT",
        "surrogate",
    ),
    ("NUL in a filter list", post(STATES, {"s": ["KEN", "K\x00N"]}), 200, 400, "BAD_USER_INPUT", "[1]"),
    ("NUL in an ID", post(NODE, {"id": "TmVlZDox\x00"}), 200, 400, "BAD_USER_INPUT", "$id"),
    (
        "NUL in a mutation input",
        post(
            'mutation($t: String!) { createNeed(input: {state: "KEN", title: $t}) { userErrors { field } } }',
            {"t": "Courts\x00"},
        ),
        200,
        400,
        "BAD_USER_INPUT",
        "$t",
    ),
    (
        "lone surrogate in an input field name",
        raw(
            '{"query": "query($f: NeedFilter) { needs(filter: $f) { totalCount } }", "variables": {"f": {"\\udc00": 1}}}'
        ),
        200,
        400,
        "BAD_USER_INPUT",
        "$f",
    ),
    (
        "cursor with NUL",
        post("query($a: String) { needs(after: $a) { totalCount } }", {"a": "abc\x00"}),
        200,
        400,
        "BAD_USER_INPUT",
        "$a",
    ),
    ("cost filter 1e999999", post(COST, {"m": "1e999999"}), 200, 400, "BAD_USER_INPUT", "1e30"),
    ("cost filter 1e30", post(COST, {"m": 1e30}), 200, 400, "BAD_USER_INPUT", "1e30"),
    ("cost filter NaN", post(COST, {"m": "NaN"}), 200, 400, "BAD_USER_INPUT", "finite"),
    ("cost filter -Infinity", post(COST, {"m": "-Infinity"}), 200, 400, "BAD_USER_INPUT", "finite"),
    (
        "cost literal 1e999999",
        post('{ needs(filter: {cost: {min: "1e999999"}}) { totalCount } }'),
        200,
        400,
        "BAD_USER_INPUT",
        "filter.cost.min",
    ),
    (
        "amount 1e30",
        post(
            'mutation($a: Decimal!) { createNeed(input: {state: "KEN", title: "Courts", estimatedCost: {amount: $a, currency: "USD"}}) { userErrors { field } } }',
            {"a": "1e30"},
        ),
        200,
        400,
        "BAD_USER_INPUT",
        "$a",
    ),
    (
        "Float literal 1e999999",
        post("{ opportunities(filter: {minScore: 1e999999}) { totalCount } }"),
        200,
        400,
        "BAD_USER_INPUT",
        "filter.minScore",
    ),
    ("list of 32,768 items", post(STATES, {"s": ["KEN"] * 32_768}), 200, 400, "BAD_USER_INPUT", "32768 items"),
    # 13: syntax errors carry a code
    ("syntax error", post("{"), 200, 400, "GRAPHQL_PARSE_FAILED", "Syntax Error"),
    ("validation error", post("{ nope }"), 200, 400, "GRAPHQL_VALIDATION_FAILED", "nope"),
    # 14: which operation to run must be said
    (
        "several operations, no operationName",
        post("query A { __typename } query B { viewer { role } }"),
        200,
        400,
        "GRAPHQL_VALIDATION_FAILED",
        "operationName",
    ),
    ("unknown operationName", post("query A { __typename }", operationName="B"), 400, 400, "BAD_REQUEST", "B"),
    # 15: subscriptions are for the WebSocket
    (
        "subscription over POST",
        post("subscription { events { sequence } }"),
        400,
        400,
        "BAD_REQUEST",
        "graphql-transport-ws",
    ),
]


@pytest.mark.parametrize("accept", [JSON, GRAPHQL_RESPONSE])
@pytest.mark.parametrize(
    "request_, json_status, graphql_status, code, words",
    [case[1:] for case in BAD_REQUESTS],
    ids=[c[0] for c in BAD_REQUESTS],
)
async def test_a_bad_request_gets_a_coded_graphql_error(
    app_client, accept, request_, json_status, graphql_status, code, words
):
    headers = {"accept": accept, **request_.get("headers", {})}
    response = await app_client.post("/graphql", **{**request_, "headers": headers})
    body = response.json()
    assert response.status_code == (json_status if accept == JSON else graphql_status), body
    assert response.headers["content-type"].split(";")[0] == accept
    (error,) = body["errors"]
    assert error["extensions"]["code"] == code, error
    assert words in error["message"]
    if words.startswith("$"):  # names the variable
        assert error["extensions"]["variable"] == words[1:]
    if accept == GRAPHQL_RESPONSE:
        assert "data" not in body  # a request error: nothing was executed


async def test_a_subscription_over_get_is_refused(app_client):
    response = await app_client.get(
        "/graphql", params={"query": "subscription { events { sequence } }"}, headers={"accept": JSON}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert "graphql-transport-ws" in response.json()["errors"][0]["message"]


async def test_a_mutation_over_get_is_refused_as_json(app_client):
    response = await app_client.get(
        "/graphql", params={"query": 'mutation { revokeApiKey(input: {id: "x"}) { userErrors { field } } }'}
    )
    assert response.status_code in (400, 405)
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_operation_name_picks_one_of_several(app_client):
    request = post("query A { __typename } query B { viewer { role } }", operationName="B")
    response = await app_client.post("/graphql", **request)
    assert response.status_code == 200
    assert response.json()["data"] == {"viewer": {"role": "ANONYMOUS"}}


async def test_large_but_sane_cost_filters_run(app_client, world):
    # Over 1e10 the amount used to be sent as the rate column's NUMERIC(20, 10): overflow.
    response = await app_client.post(
        "/graphql", headers={"accept": GRAPHQL_RESPONSE}, **post(COST, {"m": "99999999999999.99"})
    )
    assert response.status_code == 200, response.json()
    assert response.json()["data"] == {"needs": {"totalCount": 0}}
    assert response.headers["content-type"] == f"{GRAPHQL_RESPONSE}; charset=utf-8"
    donor = await world.key(Role.DONOR, organization=await world.organization("Norad"))
    response = await app_client.post(
        "/graphql",
        headers={"Authorization": f"Bearer {donor}"},
        **post(
            "query($m: Decimal) { opportunities(filter: {costMin: $m}) { totalCount } }", {"m": "99999999999999.99"}
        ),
    )
    assert response.json() == {
        "data": {"opportunities": {"totalCount": 0}},
        "extensions": response.json()["extensions"],
    }


@pytest.mark.parametrize("key", ["²", "١", "1" * 19, "-1", "1e3"])
async def test_ids_whose_key_is_not_a_number_are_bad_input(app_client, key):
    for query, variables, type_name in [
        (NODE, {"id": global_id(f"Need:{key}")}, "Need"),
        ("query($id: ID!) { nodes(ids: [$id]) { id } }", {"id": global_id(f"Pledge:{key}")}, "Pledge"),
        ("query($id: ID!) { organization(id: $id) { id } }", {"id": global_id(f"Organization:{key}")}, "Organization"),
    ]:
        response = await app_client.post("/graphql", **post(query, variables))
        (error,) = response.json()["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT", (key, type_name, error)
        assert f"valid {type_name} ID" in error["message"]


def _tampered(cursor: str, value_json: str) -> str:
    """The cursor with the JSON of its last sort-key value replaced."""
    identity, values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    encoded_values = ",".join([json.dumps(v) for v in values[:-1]] + [value_json])
    raw_cursor = f"[{json.dumps(identity)},[{encoded_values}]]".encode()
    return base64.urlsafe_b64encode(raw_cursor).decode().rstrip("=")


@pytest.mark.parametrize("value", [str(10**30), str(-(2**63) - 1), "1e999999", '"1"', '"a\\u0000"', '"\\ud800"'])
async def test_a_tampered_cursor_is_bad_input(app_client, world, value):
    await world.need("KEN", title="Court case management", visibility=Visibility.PUBLIC)
    first = await app_client.post("/graphql", **post("{ needs(first: 1) { pageInfo { endCursor } } }"))
    cursor = first.json()["data"]["needs"]["pageInfo"]["endCursor"]
    response = await app_client.post(
        "/graphql", **post("query($a: String) { needs(after: $a) { totalCount } }", {"a": _tampered(cursor, value)})
    )
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert "not a cursor" in error["message"]


async def test_a_text_cursor_holding_nul_is_bad_input(app_client, world):
    # States are ordered by name (text): a NUL in it would reach PostgreSQL.
    first = await app_client.post("/graphql", **post("{ states(first: 1) { pageInfo { endCursor } } }"))
    cursor = first.json()["data"]["states"]["pageInfo"]["endCursor"]
    identity, values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    raw_cursor = json.dumps([identity, ["Ke\x00nya", values[1]]]).encode()
    tampered = base64.urlsafe_b64encode(raw_cursor).decode().rstrip("=")
    response = await app_client.post(
        "/graphql", **post("query($a: String) { states(after: $a) { totalCount } }", {"a": tampered})
    )
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error


async def test_a_focal_point_mutation_with_bad_variables_writes_nothing(app_client, world, sessionmaker):
    import sqlalchemy as sa

    from service.models import AssistanceNeed

    key = await world.key(Role.STATE_FOCAL_POINT, state="KEN")
    response = await app_client.post(
        "/graphql",
        headers={"Authorization": f"Bearer {key}", "accept": GRAPHQL_RESPONSE},
        **post(
            'mutation($t: String!) { createNeed(input: {state: "KEN", title: $t}) { need { id } } }',
            {"t": "Courts\x00"},
        ),
    )
    assert response.status_code == 400
    async with sessionmaker() as session:
        assert (await session.execute(sa.select(sa.func.count()).select_from(AssistanceNeed))).scalar_one() == 0


@pytest.mark.parametrize(
    "variables, code",
    [
        ({"after": "ten"}, "BAD_USER_INPUT"),
        ({"after": 0, "filter": {"states": ["K\x00N"]}}, "BAD_USER_INPUT"),
    ],
)
async def test_subscriptions_over_websocket_get_the_same_input_checks(app, variables, code):
    import websockets

    from tests.support.servers import serving

    query = "subscription($after: Int, $filter: EventFilter) { events(after: $after, filter: $filter) { sequence } }"
    async with serving(app) as url, websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}}))
        message = json.loads(await asyncio.wait_for(ws.recv(), 10))
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == code, message
