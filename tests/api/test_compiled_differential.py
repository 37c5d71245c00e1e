"""The compiled read path is the same API: for random valid queries over the schema and every
kind of caller, `data` (byte for byte) and errors are those of the resolvers (COMPILED_READS
off), on the demo world with PRIVATE and PARTNERS needs present."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from service.settings import Settings
from tests.support.demo import create_key, load_demo_world

pytestmark = pytest.mark.asyncio

LIMITS = dict(anonymous_rate_limit_capacity=1e12, rate_limit_capacity=1e12)
PRINCIPALS = {
    "anonymous": None,
    "donor": "donor/Norad",
    "agency": "agency/OHCHR",
    "focal point of KEN": "state-focal-point/KEN",
    "focal point of UGA": "state-focal-point/UGA",
    "administrator": "admin",
}


@pytest.fixture
def app_settings():
    return Settings(compiled_reads=True, **LIMITS)


@pytest_asyncio.fixture
async def demo(database_url: str) -> dict[str, str | None]:
    await asyncio.to_thread(load_demo_world, database_url)
    tokens: dict[str, str | None] = {}
    for name, principal in PRINCIPALS.items():
        tokens[name] = None if principal is None else await asyncio.to_thread(create_key, database_url, principal)
    return tokens


@pytest_asyncio.fixture
async def resolver_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The same database behind a second app with COMPILED_READS off."""
    from service.app import create_app

    application = create_app(database_url=database_url, settings=Settings(compiled_reads=False, **LIMITS))
    async with application.router.lifespan_context(application):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://test") as client:
            yield client


async def _post(client: httpx.AsyncClient, query: str, variables: dict | None, token: str | None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
    return json.loads(response.content)


async def answers(
    compiled: httpx.AsyncClient, resolvers: httpx.AsyncClient, query: str, variables: dict | None, token: str | None
) -> dict[str, Any]:
    """Both paths' answers, asserted equal: `data` as the same bytes (key order, number types),
    errors by message, path and code."""
    got = await _post(compiled, query, variables, token)
    want = await _post(resolvers, query, variables, token)
    assert json.dumps(got.get("data")) == json.dumps(want.get("data")), (query, variables)

    def errors(body: dict) -> list:
        return [
            (e.get("message"), e.get("path"), (e.get("extensions") or {}).get("code")) for e in body.get("errors") or []
        ]

    assert errors(got) == errors(want), (query, variables)
    return want


async def test_every_need_field_answers_the_same(app_client, resolver_client, demo, sessionmaker):
    """Every scalar kind the compiler formats itself (IDs, cursors, DateTime with and without
    microseconds, Date, Decimal, enums, lists, integral and other floats) for every
    principal, with PRIVATE needs present."""
    import sqlalchemy as sa

    async with sessionmaker() as session, session.begin():
        newest = "(select id from assistance_need order by created_at desc, id desc limit 3)"
        await session.execute(
            sa.text(
                f"update assistance_need set updated_at = '2024-01-02 03:04:05+00', "
                f"submitted_at = '2024-01-02 03:04:05.12+00', estimated_cost = 1500.50, currency = 'EUR', "
                f"start_date = '2025-03-01' where id in {newest}"
            )
        )
        await session.execute(
            sa.text("update match set score = 1 where id in (select min(id) from match group by need_id)")
        )
        await session.execute(
            sa.text("update match set score = 0.1 + 0.2 where id in (select max(id) from match group by need_id)")
        )
    query = """query($id: ID!) { needs(first: 5, orderBy: {field: UPDATED_AT, direction: ASC}) { totalCount pageInfo { hasNextPage endCursor startCursor hasPreviousPage }
      edges { cursor node { id title status visibility allowedTransitions createdAt submittedAt updatedAt startDate
        estimatedCost { amount currency } themes rightsDimensions state { id code name(language: FR) regionalGroup isLdc }
        matches(first: 50) { edges { cursor node { score status allowedTransitions } } } } } }
      n: node(id: $id) { __typename ... on Need { id title } } }"""
    for name, token in demo.items():
        body = await answers(app_client, resolver_client, query, {"id": "TmVlZDox"}, token)
        assert "errors" not in body and body["data"]["needs"]["edges"], (name, body)


# -- random queries over the introspected schema ------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from graphql_schema.relay import to_global_id  # noqa: E402
from graphql_schema.schema import schema as strawberry_schema  # noqa: E402

SCHEMA = strawberry_schema._schema
# Object types the generator descends into: the compiled ones, and a few that are not (their
# root field then runs on the resolvers, next to compiled ones in the same operation).
DESCEND = {
    "NeedConnection",
    "NeedEdge",
    "Need",
    "State",
    "PageInfo",
    "Money",
    "NeedFunding",
    "NationalStakeholder",
    "RecommendationConnection",
    "RecommendationEdge",
    "Recommendation",
    "MatchConnection",
    "MatchEdge",
    "Match",
    "Programme",
    "Capability",
    "Organization",
    "StateConnection",
    "StateEdge",
    "Review",
}
DEMO_STATES = ["KEN", "UGA", "SEN", "TUN", "KHM", "FJI", "COL", "PRY"]
RECOMMENDING_STATES = ["SWE", "NLD", "FRA", "NOR", "PHL", "IRL"]
THEMES = ["JUSTICE", "NHRI", "WOMEN", "CHILDREN", "EDUCATION", "DETENTION", "WOMENS_RIGHTS"]
SEARCHES = ["court", "justice system", "human rights", "registry OR land"]


class EnumValue(str):
    """An enum value: written bare in a literal, as a string in variables."""


def literal(value: Any) -> str:
    if isinstance(value, EnumValue):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)) or value is None:
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    return "{" + ", ".join(f"{k}: {literal(v)}" for k, v in value.items()) + "}"


class Document:
    def __init__(self, draw: Any):
        self.draw = draw
        self.variables: dict[str, tuple[str, Any]] = {}
        self.fragments: list[str] = []
        self.connections: list[tuple[str, str, dict]] = []  # (placeholder, list, its arguments) for cursors
        self.counter = 0
        self.root = ""  # the root selections, set once drawn

    def name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def argument(self, value: Any, graphql_type: str) -> str:
        """The value as a literal or, sometimes, as a variable."""
        if self.draw(st.integers(0, 3)) == 0:
            name = self.name("v")
            self.variables[name] = (graphql_type, value)
            return "$" + name
        return literal(value)

    def text(self) -> str:
        head = ""
        if self.variables:
            head = "(" + ", ".join(f"${n}: {t}" for n, (t, _) in self.variables.items()) + ")"
        return "\n".join([f"query Random{head}"] + ["{" + self.root + "}"] + self.fragments)

    def values(self) -> dict[str, Any]:
        return {n: v for n, (_, v) in self.variables.items()}

    def __repr__(self) -> str:  # what Hypothesis shows of a failing example
        return f"Document({self.text()!r}, variables={self.values()!r})"


def need_filter(draw: Any) -> dict[str, Any]:
    f: dict[str, Any] = {}
    if draw(st.booleans()):
        f["statuses"] = [
            EnumValue(s)
            for s in draw(
                st.lists(st.sampled_from(["DRAFT", "SUBMITTED", "MATCHED", "WITHDRAWN"]), max_size=2, unique=True)
            )
        ]
    if draw(st.booleans()):
        f["visibilities"] = [
            EnumValue(s)
            for s in draw(
                st.lists(st.sampled_from(["PUBLIC", "PARTNERS", "PRIVATE"]), min_size=1, max_size=2, unique=True)
            )
        ]
    if draw(st.integers(0, 3)) == 0:
        f["states"] = draw(st.lists(st.sampled_from(DEMO_STATES + ["ken", "XXX"]), min_size=1, max_size=3, unique=True))
    if draw(st.integers(0, 3)) == 0:
        f["themes"] = draw(st.lists(st.sampled_from(THEMES), min_size=1, max_size=2, unique=True))
    if draw(st.integers(0, 4)) == 0:
        f["search"] = draw(st.sampled_from(SEARCHES))
    if draw(st.integers(0, 6)) == 0:
        f["regionalGroups"] = [draw(st.sampled_from(["AFRICAN", "ASIA_PACIFIC", "nowhere"]))]
    return f


def codes(draw: Any, pool: list[str], min_size: int = 1) -> list[str]:
    return draw(st.lists(st.sampled_from(pool + ["ken", "XXX"]), min_size=min_size, max_size=3, unique=True))


def recommendation_filter(draw: Any, of_a_state: bool) -> dict[str, Any]:
    """Under a State, `states` is drawn often (another State's code empties its list)."""
    f: dict[str, Any] = {}
    if draw(st.integers(0, 1 if of_a_state else 3)) == 0:
        f["states"] = codes(draw, DEMO_STATES, min_size=0)
    if draw(st.integers(0, 3)) == 0:
        f["recommendingStates"] = codes(draw, RECOMMENDING_STATES)
    if draw(st.integers(0, 3)) == 0:
        f["responses"] = [EnumValue(draw(st.sampled_from(["SUPPORTED", "NOTED"])))]
    if draw(st.integers(0, 3)) == 0:
        f["themes"] = draw(st.lists(st.sampled_from(THEMES), min_size=1, max_size=2, unique=True))
    if draw(st.integers(0, 4)) == 0:
        f["search"] = draw(st.sampled_from(SEARCHES))
    if draw(st.integers(0, 6)) == 0:
        f["sources"] = [EnumValue(draw(st.sampled_from(["UPR", "TREATY_BODY"])))]
    return f


def state_filter(draw: Any) -> dict[str, Any]:
    f: dict[str, Any] = {}
    if draw(st.booleans()):
        f["codes"] = codes(draw, DEMO_STATES + RECOMMENDING_STATES, min_size=0)
    if draw(st.integers(0, 3)) == 0:
        f["regions"] = draw(st.lists(st.sampled_from(["002", "202", "019", "142", "001"]), min_size=1, max_size=2))
    if draw(st.integers(0, 3)) == 0:
        f["regionalGroups"] = [EnumValue(draw(st.sampled_from(["AFRICAN", "ASIA_PACIFIC", "WESTERN_EUROPEAN_OTHERS"])))]
    for flag in ("ldc", "lldc", "sids"):
        if draw(st.integers(0, 4)) == 0:
            f[flag] = draw(st.booleans())
    if draw(st.integers(0, 3)) == 0:
        f["search"] = draw(st.sampled_from(["ken", "Rép", "islands", " swe "]))
    return f


def order(draw: Any, fields: list[str]) -> dict[str, Any]:
    return {
        "field": EnumValue(draw(st.sampled_from(fields))),
        "direction": EnumValue(draw(st.sampled_from(["ASC", "DESC"]))),
    }


def page(doc: Document, kind: str, parts: list[str], plain: dict) -> str:
    """A page size, forward or backward, and sometimes a cursor: from an earlier page of the
    same list with the same filter and order (one of this list's cursors in that order is
    valid under any parent), or a foreign one."""
    draw = doc.draw
    size = draw(st.sampled_from([None, 0, 1, 2, 3, 5, 101]))
    backward = draw(st.integers(0, 5)) == 0
    if size is not None:
        parts.append(("last: " if backward else "first: ") + doc.argument(size, "Int"))
    if draw(st.integers(0, 2)) == 0:
        placeholder = doc.name("CURSOR")
        parts.append(("before: " if backward else "after: ") + f'"{placeholder}"')
        doc.connections.append((placeholder, kind, plain))
    return ("(" + ", ".join(parts) + ")") if parts else ""


def needs_arguments(doc: Document) -> str:
    draw = doc.draw
    parts: list[str] = []
    plain: dict[str, Any] = {}
    f = need_filter(draw) if draw(st.booleans()) else None
    if f is not None:
        parts.append("filter: " + doc.argument(f, "NeedFilter"))
        plain["filter"] = f
    if draw(st.booleans()):
        fields = ["CREATED_AT", "UPDATED_AT", "TITLE", "ESTIMATED_COST"] + (
            ["RELEVANCE"] if f and "search" in f else []
        )
        plain["orderBy"] = order(draw, fields)
        parts.append("orderBy: " + doc.argument(plain["orderBy"], "NeedOrder"))
    return page(doc, "needs", parts, plain)


def recommendations_arguments(doc: Document, parent: str) -> str:
    """`Query.recommendations` (filter, orderBy), `Need.recommendations` and
    `State.recommendations` (filter)."""
    draw = doc.draw
    parts: list[str] = []
    plain: dict[str, Any] = {}
    if draw(st.booleans()):
        plain["filter"] = recommendation_filter(draw, of_a_state=parent == "State")
        parts.append("filter: " + doc.argument(plain["filter"], "RecommendationFilter"))
    if parent == "Query" and draw(st.booleans()):
        searching = "search" in plain.get("filter", {})
        plain["orderBy"] = order(draw, ["CREATED_AT", "SESSION"] + (["RELEVANCE"] if searching else []))
        parts.append("orderBy: " + doc.argument(plain["orderBy"], "RecommendationOrder"))
    return page(doc, "recommendations", parts, plain)


def states_arguments(doc: Document, parent: str) -> str:
    """`Query.states` (filter, orderBy) and `Recommendation.recommendingStates` (orderBy)."""
    draw = doc.draw
    parts: list[str] = []
    plain: dict[str, Any] = {}
    if parent == "Query" and draw(st.booleans()):
        plain["filter"] = state_filter(draw)
        parts.append("filter: " + doc.argument(plain["filter"], "StateFilter"))
    if draw(st.booleans()):
        plain["orderBy"] = order(draw, ["NAME", "CODE"])
        parts.append("orderBy: " + doc.argument(plain["orderBy"], "StateOrder"))
    return page(doc, "states", parts, plain)


def selection_set(doc: Document, type_name: str, depth: int) -> str:
    draw = doc.draw
    object_type = SCHEMA.get_type(type_name)
    usable = []
    for name, field in object_type.fields.items():
        from graphql import get_named_type, is_leaf_type

        named = get_named_type(field.type)
        if any(
            str(a.type).endswith("!") and a.default_value is None and n != "language" for n, a in field.args.items()
        ):
            continue
        if is_leaf_type(named) or (named.name in DESCEND and depth > 0):
            usable.append(name)
    chosen = draw(
        st.lists(st.sampled_from(usable + ["__typename"]), min_size=1, max_size=min(6, len(usable) + 1), unique=True)
    )
    parts = [field_text(doc, object_type, name, depth) for name in chosen]
    if len(parts) > 1 and draw(st.integers(0, 3)) == 0:  # some of them through a fragment
        k = draw(st.integers(1, len(parts) - 1))
        inner = " ".join(parts[k:])
        if draw(st.booleans()):
            parts = parts[:k] + [f"... on {type_name} {{ {inner} }}"]
        else:
            fragment = doc.name("F")
            doc.fragments.append(f"fragment {fragment} on {type_name} {{ {inner} }}")
            parts = parts[:k] + [f"...{fragment}"]
    if draw(st.integers(0, 5)) == 0:  # the same field again, merged: `state { code } state { name }`
        parts.append(parts[0])
    return "{ " + " ".join(parts) + " }"


def field_text(doc: Document, parent: Any, name: str, depth: int) -> str:
    draw = doc.draw
    if name == "__typename":
        return name
    from graphql import get_named_type

    field = parent.fields[name]
    named = get_named_type(field.type)
    arguments = ""
    if name == "name" and "language" in field.args:
        arguments = (
            "(language: " + doc.argument(EnumValue(draw(st.sampled_from(["EN", "FR", "AR", "ZH"]))), "Language!") + ")"
        )
    elif named.name == "NeedConnection":
        arguments = needs_arguments(doc)
    elif named.name == "RecommendationConnection":
        arguments = recommendations_arguments(doc, parent.name)
    elif named.name == "StateConnection":
        arguments = states_arguments(doc, parent.name)
    elif "first" in field.args and draw(st.booleans()):
        extra = ""
        if "minScore" in field.args and draw(st.integers(0, 3)) == 0:
            extra = ", minScore: " + doc.argument(draw(st.sampled_from([0, 0.5, 0.75, 1.5])), "Float")
        if "statuses" in field.args and draw(st.integers(0, 3)) == 0:
            extra += ", statuses: [" + draw(st.sampled_from(["SUGGESTED", "PROPOSED"])) + "]"
        arguments = f"(first: {draw(st.integers(0, 3))}{extra})"
    alias = doc.name("a") + ": " if arguments or draw(st.integers(0, 4)) == 0 else ""
    directive = ""
    if draw(st.integers(0, 7)) == 0:
        flag = doc.name("flag")
        doc.variables[flag] = ("Boolean!", draw(st.booleans()))
        directive = f" @{draw(st.sampled_from(['include', 'skip']))}(if: ${flag})"
    sub = "" if not hasattr(named, "fields") else " " + selection_set(doc, named.name, depth - 1)
    return f"{alias}{name}{arguments}{directive}{sub}"


NODE_IDS = [to_global_id("Need", i) for i in (1, 2, 4, 10, 14, 20, 24, 30, 31, 999)] + [
    to_global_id("State", "KEN"),
    to_global_id("State", "XXX"),
    to_global_id("Recommendation", 1),
    to_global_id("Organization", 2),
    to_global_id("Programme", 3),
    to_global_id("Match", 1),
    to_global_id("Nothing", 1),
    to_global_id("Need", "x"),
    "not an id",
]


def node_selection(doc: Document, depth: int) -> str:
    draw = doc.draw
    parts = ["__typename"] + (["id"] if draw(st.booleans()) else [])
    for type_name in draw(
        st.lists(
            st.sampled_from(["Need", "State", "Recommendation", "Organization", "Programme"]),
            min_size=1,
            max_size=3,
            unique=True,
        )
    ):
        parts.append(f"... on {type_name} {selection_set(doc, type_name, depth)}")
    return "{ " + " ".join(parts) + " }"


@st.composite
def random_operation(draw: Any) -> Document:
    doc = Document(draw)
    roots: list[str] = []
    for kind in draw(
        st.lists(
            st.sampled_from(
                ["needs", "needs", "states", "states", "recommendations", "node", "nodes", "state", "typename"]
            ),
            min_size=1,
            max_size=3,
        )
    ):
        alias = doc.name("r") + ": "
        if kind == "needs":
            roots.append(f"{alias}needs{needs_arguments(doc)} {selection_set(doc, 'NeedConnection', 4)}")
        elif kind == "states":
            roots.append(f"{alias}states{states_arguments(doc, 'Query')} {selection_set(doc, 'StateConnection', 5)}")
        elif kind == "recommendations":
            arguments = recommendations_arguments(doc, "Query")
            roots.append(f"{alias}recommendations{arguments} {selection_set(doc, 'RecommendationConnection', 5)}")
        elif kind == "node":
            roots.append(
                f"{alias}node(id: {doc.argument(draw(st.sampled_from(NODE_IDS)), 'ID!')}) {node_selection(doc, 3)}"
            )
        elif kind == "nodes":
            ids = draw(st.lists(st.sampled_from(NODE_IDS), max_size=4))
            roots.append(f"{alias}nodes(ids: {doc.argument(ids, '[ID!]!')}) {node_selection(doc, 2)}")
        elif kind == "state":
            code = draw(st.sampled_from(["KEN", "ken ", "FJI", "XXX"]))
            roots.append(f"{alias}state(code: {doc.argument(code, 'String!')}) {selection_set(doc, 'State', 3)}")
        else:
            roots.append("__typename")
    doc.root = " ".join(roots)
    return doc


CURSOR_TYPES = {"needs": "Need", "states": "State", "recommendations": "Recommendation"}


def cursor_query(kind: str) -> str:
    """The first 8 cursors of a root list with a nested list's filter and order."""
    name = CURSOR_TYPES[kind]
    return (
        f"query($filter: {name}Filter, $orderBy: {name}Order) "
        f"{{ list: {kind}(filter: $filter, orderBy: $orderBy, first: 8) {{ edges {{ cursor }} }} }}"
    )


FOREIGN_CURSORS = [
    "WyJuZWVkczpUSVRMRTpERVNDIixbIngiLDFdXQ",  # needs by TITLE DESC after "x"
    "WyJzdGF0ZXM6TkFNRTpBU0MiLFsiS2VueWEiLCJLRU4iXV0",  # States by NAME after Kenya
    "garbage",
]


def _variables(value: Any) -> Any:
    return json.loads(json.dumps(value))  # Enum markers as plain strings


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
async def test_random_queries_answer_the_same_on_both_paths(app_client, resolver_client, demo, data):
    doc = data.draw(random_operation())
    principal = data.draw(st.sampled_from(sorted(demo)))
    token = demo[principal]
    text = doc.text()
    for placeholder, kind, arguments in doc.connections:  # a cursor of an earlier page in that order, or a foreign one
        body = await _post(
            resolver_client,
            cursor_query(kind),
            _variables({"filter": arguments.get("filter"), "orderBy": arguments.get("orderBy")}),
            token,
        )
        cursors = [e["cursor"] for e in ((body.get("data") or {}).get("list") or {"edges": []})["edges"]]
        pool = cursors + FOREIGN_CURSORS
        text = text.replace(f'"{placeholder}"', json.dumps(data.draw(st.sampled_from(pool))))
    await answers(app_client, resolver_client, text, _variables(doc.values()), token)


# -- statements and fallback ----------------------------------------------------------------------

NEEDS_PAGE = """query Page($n: Int!) { needs(first: $n) { totalCount pageInfo { hasNextPage endCursor }
  edges { cursor node { id title status visibility createdAt state { code name } } } } }"""


async def one_compiled_read(
    compiled: httpx.AsyncClient, resolvers: httpx.AsyncClient, query: str, variables: dict | None, token: str | None
) -> dict[str, Any]:
    """The answer, without errors, the resolvers' data, read as one compiled SELECT plus the
    rate limit's charge."""
    from tests.support import counted_statements

    with counted_statements(compiled) as statements:
        body = await answers(compiled, resolvers, query, variables, token)
    assert "errors" not in body, body
    statements = [s for s in statements if " api_key" not in s]  # the caller's key, before the operation
    reads = [s for s in statements if "rate_limit" not in s]
    assert len(reads) == 1 and len(statements) == 2, statements
    assert "json_build_object" in reads[0]
    return body


async def test_compiled_page_is_one_read_statement(app_client, resolver_client, demo):
    """The needs page, bench/peer.py's partner page (needs × State × recommendations × matches
    with programme, capability and organization) and a node lookup are one SELECT each, plus
    the rate limit's charge, for any page size (the resolvers take one per connection, count
    and batch)."""
    from bench.peer import TCGRAPH_PAGE

    need = to_global_id("Need", 1)
    for query, variables in (
        (NEEDS_PAGE, {"n": 5}),
        (NEEDS_PAGE, {"n": 30}),
        (TCGRAPH_PAGE, None),
        ("query($id: ID!) { node(id: $id) { ... on Need { id title status state { code name } } } }", {"id": need}),
    ):
        for principal in ("anonymous", "donor"):
            await one_compiled_read(app_client, resolver_client, query, variables, demo[principal])


# The States side of a dashboard: States with their needs (PRIVATE ones present), their
# recommendations (filtered by `states` too) with the States that made them, and their cursors.
STATES_PAGE = """query States($n: Int!) { states(first: $n, filter: {codes: ["KEN", "UGA", "SEN", "FJI"]}) {
  totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id code name
    needs(first: 5) { totalCount edges { cursor node { id title visibility state { code } } } }
    recommendations(first: 3, filter: {states: ["KEN", "UGA"]}) { totalCount pageInfo { endCursor }
      edges { node { id text source review { session state { code } }
        recommendingStates(first: 5) { totalCount edges { cursor node { code name } } } } } } } } } }"""


async def test_canonical_page_is_one_read_statement(app_client, resolver_client, demo):
    """bench/canonical_page.py's page (needs × State × recommendations × recommending States)
    and the States page above are one SELECT each, plus the rate limit's charge, for every
    kind of caller, with the resolvers' data."""
    from bench.canonical_page import CANONICAL_QUERY

    for query, variables in ((CANONICAL_QUERY, None), (STATES_PAGE, {"n": 4})):
        for principal in ("anonymous", "donor", "focal point of KEN", "administrator"):
            body = await one_compiled_read(app_client, resolver_client, query, variables, demo[principal])
    data = body["data"]["states"]
    assert data["totalCount"] == 4 and data["edges"][0]["node"]["needs"]["edges"], body
    recommendations = [r for e in data["edges"] for r in e["node"]["recommendations"]["edges"]]
    assert recommendations and all(r["node"]["recommendingStates"]["totalCount"] for r in recommendations), body


async def test_text_cursors_are_the_resolvers_bytes(app_client, resolver_client, demo, sessionmaker):
    """Cursors over text sort keys (needs by TITLE, States by NAME) escape as json.dumps does:
    quotes, backslashes, controls, DEL, non-ASCII and characters above U+FFFF; and the page
    after each of them is the resolvers' page. Every one of these reads is compiled."""
    import sqlalchemy as sa

    from tests.support import counted_statements

    titles = ['Caf\u00e9 "quoted" \\ back', "line\nbreak\ttab\x01\x7f", "\u4e2d\u6587 \U0001f600", "plain ASCII"]
    async with sessionmaker() as session, session.begin():
        ids = (await session.execute(sa.text("select id from assistance_need order by id limit 4"))).scalars().all()
        for need_id, title in zip(ids, titles):
            await session.execute(
                sa.text("update assistance_need set title = :t where id = :i"), {"t": title, "i": need_id}
            )
    pages = {
        "needs": """query($after: String, $direction: OrderDirection!) {
          needs(first: 30, after: $after, orderBy: {field: TITLE, direction: $direction}) {
            pageInfo { endCursor } edges { cursor node { title } } } }""",
        "states": """query($after: String, $direction: OrderDirection!) {
          states(first: 100, after: $after, orderBy: {field: NAME, direction: $direction}) {
            pageInfo { startCursor endCursor } edges { cursor } } }""",
    }
    token = demo["administrator"]
    for direction in ("ASC", "DESC"):
        for name, query in pages.items():
            with counted_statements(app_client) as statements:
                body = await answers(app_client, resolver_client, query, {"direction": direction}, token)
                edges = body["data"][name]["edges"]
                after = [edge["cursor"] for edge in edges[:: max(1, len(edges) // 12)]]
                for cursor in after:
                    await answers(app_client, resolver_client, query, {"direction": direction, "after": cursor}, token)
            reads = [s for s in statements if " api_key" not in s and "rate_limit" not in s]
            assert len(reads) == 1 + len(after) and all("json_build_object" in s for s in reads), reads
            if name == "needs":
                assert set(titles) <= {e["node"]["title"] for e in edges}, edges


async def test_an_uncompilable_selection_falls_back_to_the_resolvers(app_client, resolver_client, demo):
    """A root field with a field the compiler does not know (nationalStakeholders, funding)
    runs on the resolvers, next to compiled ones, with the same data."""
    from tests.support import counted_statements

    query = """{ needs(first: 3) { edges { node { id nationalStakeholders { name kind } funding { gap { amount } } } } }
      compiled: needs(first: 2) { edges { node { id } } }
      states(first: 2) { edges { node { code } } } }"""
    with counted_statements(app_client) as statements:
        body = await answers(app_client, resolver_client, query, None, demo["administrator"])
    assert "errors" not in body and len(body["data"]["needs"]["edges"]) == 3, body
    assert list(body["data"]) == ["needs", "compiled", "states"]
    compiled = [s for s in statements if "json_build_object" in s]
    assert len(compiled) == 1 and len(statements) > 3, statements


async def test_errors_come_from_the_resolvers(app_client, resolver_client, demo):
    """A bad cursor, page size or ID is reported exactly as the resolvers report it."""
    for query in (
        '{ needs(after: "nope") { totalCount } }',
        "{ needs(first: 101) { totalCount } }",
        '{ node(id: "nope") { id } }',
        '{ nodes(ids: ["TmVlZDp4"]) { id } }',
        "{ needs(orderBy: {field: RELEVANCE}) { totalCount } }",
    ):
        body = await answers(app_client, resolver_client, query, None, None)
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body


async def test_an_error_leaves_its_sibling_fields_alone(app_client, resolver_client, demo):
    """A root field's error (a bad cursor) beside a field still reading on the resolvers: the
    request's session was rolled back, expiring the rows the sibling had loaded, and its
    `review` failed with an internal error (found by the random queries above)."""
    query = """{ r1: recommendations(first: 2) { edges { node { review { __typename } text } } }
      r9: recommendations(after: "garbage") { totalCount } }"""
    for principal in ("anonymous", "focal point of UGA"):
        body = await answers(app_client, resolver_client, query, None, demo[principal])
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], body


async def test_one_node_plan_serves_every_id_of_its_type(app_client, resolver_client, demo):
    """`node(id: $id)` is planned once per ID type and caller kind and reads the ID as a
    parameter: hidden, missing, other-type and invalid IDs still answer as the resolvers do."""
    from graphql_schema.compiled.execution import CompiledExecution

    query = "query($id: ID!) { node(id: $id) { __typename id ... on Need { title visibility state { code } } ... on State { code } } }"
    ids = [to_global_id("Need", i) for i in (1, 2, 4, 14, 20, 30, 999)] + [
        to_global_id("State", "KEN"),
        to_global_id("State", "UGA"),
        to_global_id("Recommendation", 3),
        to_global_id("Need", "x"),
        "nope",
    ]
    before = len(CompiledExecution.plans._plans)
    for principal in ("anonymous", "donor", "focal point of UGA"):
        for global_id in ids:
            await answers(app_client, resolver_client, query, {"id": global_id}, demo[principal])
    assert len(CompiledExecution.plans._plans) - before < len(ids) * 3 // 2  # reused across IDs
