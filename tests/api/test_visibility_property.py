"""Property: for random needs (States, visibilities, statuses) and every principal, every read
path shows exactly the needs that principal may see — counts included — on the compiled read
path (the whole query one statement) and on the resolvers."""

from __future__ import annotations

import base64

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.access.principals import Role
from service.models import AssistanceNeed
from service.models.enums import NeedStatus, OrganizationCategory, Visibility
from tests.support import counted_statements, gql

pytestmark = pytest.mark.asyncio

STATES = ["KEN", "UGA", "COL"]
OUTSIDER = "FJI"

need_strategy = st.lists(
    st.tuples(
        st.sampled_from(STATES),
        st.sampled_from(list(Visibility)),
        st.sampled_from([NeedStatus.DRAFT, NeedStatus.SUBMITTED, NeedStatus.WITHDRAWN]),
        st.booleans(),  # linked to the State's recommendation
    ),
    min_size=0,
    max_size=8,
)


def gid(type_name: str, key) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{key}".encode()).decode().rstrip("=")


def may_see(who: tuple[Role | None, str | None], state: str, visibility: Visibility) -> bool:
    role, own_state = who
    if role is Role.ADMINISTRATOR:
        return True
    if visibility is Visibility.PUBLIC:
        return True
    if role is Role.STATE_FOCAL_POINT:
        return own_state == state
    if visibility is Visibility.PARTNERS:
        return role in (Role.DONOR, Role.AGENCY, Role.NHRI, Role.CIVIL_SOCIETY)
    return False


@pytest.fixture(params=[True, False], ids=["compiled", "resolvers"])
def app_settings(request):
    """Both read paths: the compiled one (graphql_schema/compiled/) and the resolvers."""
    from service.settings import Settings

    return Settings(anonymous_rate_limit_capacity=1e9, rate_limit_capacity=1e9, compiled_reads=request.param)


@pytest.fixture
async def principals(world):
    org = {
        c: await world.organization(c.value, c)
        for c in (
            OrganizationCategory.DONOR_GOVERNMENT,
            OrganizationCategory.UN_AGENCY,
            OrganizationCategory.NHRI,
            OrganizationCategory.CIVIL_SOCIETY,
        )
    }
    result = {(None, None): None, (Role.ADMINISTRATOR, None): await world.key(Role.ADMINISTRATOR)}
    for state in STATES + [OUTSIDER]:
        result[(Role.STATE_FOCAL_POINT, state)] = await world.key(Role.STATE_FOCAL_POINT, state=state)
    result[(Role.DONOR, None)] = await world.key(Role.DONOR, organization=org[OrganizationCategory.DONOR_GOVERNMENT])
    result[(Role.AGENCY, None)] = await world.key(Role.AGENCY, organization=org[OrganizationCategory.UN_AGENCY])
    result[(Role.NHRI, None)] = await world.key(Role.NHRI, organization=org[OrganizationCategory.NHRI])
    result[(Role.CIVIL_SOCIETY, None)] = await world.key(
        Role.CIVIL_SOCIETY, organization=org[OrganizationCategory.CIVIL_SOCIETY]
    )
    recs = {state: await world.recommendation(state, f"Recommendation to {state}") for state in STATES}
    return result, recs


QUERY = """
query($recs: [ID!]!, $ids: [ID!]!) {
  needs(first: 100) { totalCount edges { node { id } } }
  public: needs(first: 100, filter: {visibilities: [PUBLIC]}) { totalCount }
  hidden: needs(first: 100, filter: {visibilities: [PRIVATE, PARTNERS]}) { totalCount edges { node { id } } }
  states(filter: {codes: ["KEN", "UGA", "COL"]}, orderBy: {field: CODE}) {
    edges { node { code needs(first: 100) { totalCount edges { node { id } } }
      recommendations(first: 3) { edges { node { state { code } needs(first: 10) { totalCount edges { node { id } } } } } } } }
  }
  recs: nodes(ids: $recs) { ... on Recommendation { state { code } needs(first: 100) { totalCount edges { node { id } } } } }
  recommendations(first: 5, filter: {states: ["KEN", "UGA", "COL"]}) {
    edges { node { state { code } needs(first: 10) { totalCount edges { node { id } } } } }
  }
  direct: nodes(ids: $ids) { id }
  state(code: "KEN") { code needs(first: 10) { totalCount edges { node { id } } } }
}"""


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(needs=need_strategy)
async def test_every_principal_sees_exactly_the_permitted_needs(
    app_client, app_settings, world, sessionmaker, principals, needs
):
    keys, recs = principals
    async with sessionmaker() as session, session.begin():
        await session.execute(sa.delete(AssistanceNeed))
    created: list[tuple[str, str, Visibility, bool]] = []
    for state, visibility, status, linked in needs:
        need_id = await world.need(
            state,
            title=f"{state} {visibility.value}",
            visibility=visibility,
            status=status,
            recommendation_ids=[recs[state]] if linked else [],
        )
        created.append((gid("Need", need_id), state, visibility, linked))
    variables = {"recs": [gid("Recommendation", r) for r in recs.values()], "ids": [c[0] for c in created]}
    for who, token in keys.items():
        visible = {c[0] for c in created if may_see(who, c[1], c[2])}
        with counted_statements(app_client) as statements:
            body = await gql(app_client, QUERY, variables, token=token)
        assert "errors" not in body, (who, body)
        if app_settings.compiled_reads:  # the whole query is the compiled statement
            reads = [s for s in statements if " api_key" not in s and "rate_limit" not in s]
            assert len(reads) == 1 and "json_build_object" in reads[0], reads
        data = body["data"]
        assert {e["node"]["id"] for e in data["needs"]["edges"]} == visible, who
        assert data["needs"]["totalCount"] == len(visible), who
        assert data["public"]["totalCount"] == len([c for c in created if c[2] is Visibility.PUBLIC])
        assert {e["node"]["id"] for e in data["hidden"]["edges"]} == {
            c[0] for c in created if c[2] is not Visibility.PUBLIC and c[0] in visible
        }
        assert data["hidden"]["totalCount"] == len({e["node"]["id"] for e in data["hidden"]["edges"]})
        for state in [edge["node"] for edge in data["states"]["edges"]] + [data["state"]]:
            code = state["code"]
            expected = {c[0] for c in created if c[1] == code and c[0] in visible}
            assert {e["node"]["id"] for e in state["needs"]["edges"]} == expected, (who, code)
            assert state["needs"]["totalCount"] == len(expected)
        state_recs = [r["node"] for e in data["states"]["edges"] for r in e["node"]["recommendations"]["edges"]]
        listed = [e["node"] for e in data["recommendations"]["edges"]]
        assert len(state_recs) == len(listed) == len(STATES)
        for rec in data["recs"] + state_recs + listed:
            code = rec["state"]["code"]
            expected = {c[0] for c in created if c[1] == code and c[3] and c[0] in visible}
            assert {e["node"]["id"] for e in rec["needs"]["edges"]} == expected, (who, code)
            assert rec["needs"]["totalCount"] == len(expected)
        assert {n["id"] for n in data["direct"] if n} == visible
        assert [n is not None for n in data["direct"]] == [c[0] in visible for c in created]
