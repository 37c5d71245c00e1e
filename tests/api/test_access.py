"""Principals, API keys, the audit trail, stakeholder input and the API limits."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from service.access.principals import Role
from service.models import ApiKey, AuditEvent, StakeholderInput
from service.models.enums import OrganizationCategory, Visibility
from tests.support import counted_statements, gql

pytestmark = pytest.mark.asyncio


def gid(type_name: str, key) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{key}".encode()).decode().rstrip("=")


VIEWER = "{ viewer { role label state { code } organizationId rateLimit { limit remaining restoreRate resetAt } } }"


async def test_viewer_tells_each_principal_who_it_is(app_client, world):
    body = await gql(app_client, VIEWER)
    viewer = body["data"]["viewer"]
    assert viewer["role"] == "ANONYMOUS" and viewer["state"] is None
    assert viewer["rateLimit"]["limit"] == 10_000
    focal = await world.key(Role.STATE_FOCAL_POINT, state="KEN")
    viewer = (await gql(app_client, VIEWER, token=focal))["data"]["viewer"]
    assert viewer["role"] == "STATE_FOCAL_POINT" and viewer["state"] == {"code": "KEN"}
    assert 0 < viewer["rateLimit"]["remaining"] < viewer["rateLimit"]["limit"] == 50_000
    org = await world.organization("Norad")
    viewer = (await gql(app_client, VIEWER, token=await world.key(Role.DONOR, organization=org)))["data"]["viewer"]
    assert viewer["role"] == "DONOR" and viewer["organizationId"] == gid("Organization", org)


CREATE_KEY = """mutation($input: CreateApiKeyInput!) {
  createApiKey(input: $input) { key apiKey { id keyId role stateCode } userErrors { field code message } }
}"""


async def test_administrator_creates_and_revokes_keys(app_client, world, sessionmaker):
    admin = await world.key(Role.ADMINISTRATOR)
    body = await gql(
        app_client, CREATE_KEY, {"input": {"role": "STATE_FOCAL_POINT", "state": "SEN", "label": "Dakar"}}, token=admin
    )
    payload = body["data"]["createApiKey"]
    assert payload["userErrors"] == [] and payload["apiKey"]["stateCode"] == "SEN"
    key = payload["key"]
    assert (await gql(app_client, VIEWER, token=key))["data"]["viewer"]["state"] == {"code": "SEN"}
    async with sessionmaker() as session:
        stored = (await session.execute(sa.select(ApiKey.secret_hash))).scalars().all()
    assert key not in stored and all(len(h) == 64 for h in stored)  # only hashes are kept

    revoke = "mutation($id: ID!) { revokeApiKey(input: {id: $id}) { apiKey { revokedAt } } }"
    body = await gql(app_client, revoke, {"id": payload["apiKey"]["id"]}, token=admin)
    assert body["data"]["revokeApiKey"]["apiKey"]["revokedAt"]
    refused = await gql(app_client, VIEWER, token=key)
    assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    bad = await gql(app_client, CREATE_KEY, {"input": {"role": "STATE_FOCAL_POINT", "label": "no state"}}, token=admin)
    assert bad["data"]["createApiKey"]["userErrors"][0]["code"] == "REQUIRED"


@pytest.mark.parametrize("role", [Role.STATE_FOCAL_POINT, Role.DONOR, None])
async def test_only_administrators_manage_keys(app_client, world, role):
    token = None
    if role is Role.STATE_FOCAL_POINT:
        token = await world.key(role, state="KEN")
    elif role is Role.DONOR:
        token = await world.key(role, organization=await world.organization("Sida"))
    body = await gql(app_client, CREATE_KEY, {"input": {"role": "ADMINISTRATOR", "label": "x"}}, token=token)
    assert body["errors"][0]["extensions"]["code"] == ("UNAUTHENTICATED" if role is None else "FORBIDDEN")
    body = await gql(app_client, "{ apiKeys { id } }", token=token)
    assert body["errors"][0]["extensions"]["code"] == ("UNAUTHENTICATED" if role is None else "FORBIDDEN")


async def test_expired_and_malformed_credentials_are_refused(app_client, world, sessionmaker):
    key = await world.key(Role.STATE_FOCAL_POINT, state="KEN")
    async with sessionmaker() as session, session.begin():
        await session.execute(sa.update(ApiKey).values(expires_at=datetime.now(UTC) - timedelta(minutes=1)))
    for header in (f"Bearer {key}", "Basic abc", "Bearer ", "Bearer tcg_x_y"):
        response = await app_client.post(
            "/graphql", json={"query": "{ viewer { role } }"}, headers={"Authorization": header}
        )
        assert response.status_code == 401, header
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_audit_trail_is_for_administrators_and_append_only(app_client, world, sessionmaker):
    focal = await world.key(Role.STATE_FOCAL_POINT, state="KEN")
    create = 'mutation { createNeed(input: {state: "KEN", title: "Prison reform"}) { need { id } } }'
    need_id = (await gql(app_client, create, token=focal))["data"]["createNeed"]["need"]["id"]
    admin = await world.key(Role.ADMINISTRATOR)
    query = "query($id: ID!) { auditEvents(filter: {entityIds: [$id]}) { totalCount edges { node { action actor actorRole entityId after } } } }"
    body = await gql(app_client, query, {"id": need_id}, token=admin)
    events = body["data"]["auditEvents"]
    assert events["totalCount"] == 1
    event_ = events["edges"][0]["node"]
    assert event_["action"] == "create" and event_["actorRole"] == "STATE_FOCAL_POINT" and event_["entityId"] == need_id
    assert event_["after"]["title"] == "Prison reform"
    refused = await gql(app_client, query, {"id": need_id}, token=focal)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    async with sessionmaker() as session:
        for statement in (sa.update(AuditEvent).values(actor="forged"), sa.delete(AuditEvent)):
            with pytest.raises(Exception, match="append-only"):
                async with session.begin():
                    await session.execute(statement)


async def test_nhri_and_civil_society_add_input_to_needs_they_can_see(app_client, world, sessionmaker):
    nhri = await world.key(Role.NHRI, organization=await world.organization("KNCHR", OrganizationCategory.NHRI))
    donor = await world.key(Role.DONOR, organization=await world.organization("Norad"))
    partners = gid("Need", await world.need("KEN", visibility=Visibility.PARTNERS))
    private = gid("Need", await world.need("KEN", visibility=Visibility.PRIVATE))
    add = "mutation($id: ID!, $body: String!) { addStakeholderInput(input: {needId: $id, body: $body}) { stakeholderInput { body } userErrors { code } } }"
    body = await gql(app_client, add, {"id": partners, "body": "We can contribute data."}, token=nhri)
    assert body["data"]["addStakeholderInput"]["stakeholderInput"]["body"] == "We can contribute data."
    assert (await gql(app_client, add, {"id": private, "body": "x"}, token=nhri))["errors"][0]["extensions"][
        "code"
    ] == "NOT_FOUND"
    assert (await gql(app_client, add, {"id": partners, "body": "x"}, token=donor))["errors"][0]["extensions"][
        "code"
    ] == "FORBIDDEN"
    assert (await gql(app_client, add, {"id": partners, "body": " "}, token=nhri))["data"]["addStakeholderInput"][
        "userErrors"
    ][0]["code"] == "REQUIRED"
    read = (
        "query($id: ID!) { node(id: $id) { ... on Need { stakeholderInputs { totalCount edges { node { body } } } } } }"
    )
    assert (await gql(app_client, read, {"id": partners}, token=donor))["data"]["node"]["stakeholderInputs"][
        "totalCount"
    ] == 1
    assert (await gql(app_client, read, {"id": partners}))["data"]["node"] is None
    async with sessionmaker() as session:
        assert (await session.execute(sa.select(sa.func.count()).select_from(StakeholderInput))).scalar_one() == 1


# -- limits ------------------------------------------------------------------------------------


async def test_too_complex_query_is_refused_before_touching_the_database(app_client):
    query = "{ needs(first: 100) { edges { node { recommendations(first: 100) { edges { node { recommendingStates(first: 100) { totalCount } } } } } } } }"
    with counted_statements(app_client) as statements:
        body = await gql(app_client, query)
    assert body["data"] is None
    error = body["errors"][0]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["cost"] > error["extensions"]["maximumCost"]
    assert statements == []


async def test_cost_follows_variables_and_fragments(app_client):
    query = """query($n: Int) { needs(first: $n) { ...page } }
    fragment page on NeedConnection { edges { node { state { code } recommendations(first: 3) { totalCount } } } }"""
    body = await gql(app_client, query, {"n": 10})
    # 10 needs × (1 edge+node + 1 state + 1 connection + 3 × 1 recommendation) + 1 connection
    assert body["extensions"]["cost"]["requestedQueryCost"] == 1 + 10 * (1 + 1 + 1 + 3)
    assert body["extensions"]["cost"]["actualQueryCost"] == 1
    introspection = await gql(app_client, "{ __schema { types { name } } }")
    # Introspection is priced by the schema's size: one object per type here.
    assert introspection["extensions"]["cost"]["requestedQueryCost"] == 1 + len(
        introspection["data"]["__schema"]["types"]
    )
    assert (
        introspection["extensions"]["cost"]["actualQueryCost"]
        == introspection["extensions"]["cost"]["requestedQueryCost"]
    )


async def test_a_document_is_validated_once_and_an_invalid_one_every_time(app_client, monkeypatch):
    from strawberry.schema import schema as strawberry_schema  # CostLimiter validates with its function

    validated: list[str] = []
    original = strawberry_schema.validate_document

    def counting(schema, document, rules):
        validated.append(document.loc.source.body)
        return original(schema, document, rules)

    monkeypatch.setattr(strawberry_schema, "validate_document", counting)
    valid = "query Page($n: Int) { needs(first: $n) { totalCount } }"
    for n in (1, 2, 3):
        body = await gql(app_client, valid, {"n": n})
        assert "errors" not in body and body["extensions"]["cost"]["requestedQueryCost"] == 1 + n
    invalid = "{ needs { totalCount nonsense } }"
    for _ in range(2):
        body = await gql(app_client, invalid)
        assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert validated == [valid, invalid, invalid]


async def test_an_ordinary_page_stays_far_below_the_limits(app_client):
    query = "{ needs(first: 50) { edges { node { id recommendations(first: 5) { edges { node { id } } } } } } }"
    body = await gql(app_client, query)
    assert "errors" not in body
    assert body["extensions"]["cost"]["requestedQueryCost"] < 1000


async def test_depth_alias_and_token_floods_are_refused(app_client):
    deep = "{ needs { edges { node { state { needs { edges { node { state { needs { edges { node { state { needs { edges { node { id } } } } } } } } } } } } } } } }"
    body = await gql(app_client, deep)
    assert body["errors"] and "depth" in body["errors"][0]["message"]
    aliases = "{ " + " ".join(f"a{i}: viewer {{ role }}" for i in range(60)) + " }"
    body = await gql(app_client, aliases)
    assert body["errors"] and "aliases" in body["errors"][0]["message"].lower()
    tokens = "{ viewer { " + " ".join(["role"] * 6000) + " } }"
    body = await gql(app_client, tokens)
    assert body["errors"]


async def test_development_profile_serves_graphiql_and_health(app_client):
    response = await app_client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200 and "graphiql" in response.text.lower()
    assert (await app_client.get("/healthz")).json() == {"status": "ok"}
    ready = await app_client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
