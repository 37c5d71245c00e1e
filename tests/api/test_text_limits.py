"""Every text input has a documented maximum (graphql_schema/text_limits.py): past it the
whole operation is refused with BAD_USER_INPUT naming the input, before anything is written."""

from __future__ import annotations

import base64

import pytest
import sqlalchemy as sa

from service.access.principals import Role
from service.models import AuditEvent
from service.models.enums import Visibility
from tests.support import gql

pytestmark = pytest.mark.asyncio


def gid(type_name: str, key) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{key}".encode()).decode().rstrip("=")


def refusal(body: dict) -> tuple[str, list[str], int]:
    assert body.get("data") is None, body
    (error,) = body["errors"]
    return error["extensions"]["code"], error["extensions"]["field"], error["extensions"]["maxLength"]


async def audit_count(sessionmaker) -> int:
    async with sessionmaker() as session:
        return (await session.execute(sa.select(sa.func.count()).select_from(AuditEvent))).scalar_one()


WITHDRAW = (
    "mutation($input: TransitionNeedInput!) { withdrawNeed(input: $input) { need { status } userErrors { code } } }"
)


async def test_a_huge_reason_never_reaches_the_audit_trail(app_client, world, sessionmaker):
    need = await world.need("KEN")
    focal = await world.key(Role.STATE_FOCAL_POINT, state="KEN")
    before = await audit_count(sessionmaker)
    body = await gql(app_client, WITHDRAW, {"input": {"id": gid("Need", need), "reason": "x" * 500_000}}, token=focal)
    assert refusal(body) == ("BAD_USER_INPUT", ["input", "reason"], 10_000)
    assert "`input.reason` is 500,000 characters long; at most 10,000 are allowed." == body["errors"][0]["message"]
    assert await audit_count(sessionmaker) == before
    at_limit = await gql(
        app_client, WITHDRAW, {"input": {"id": gid("Need", need), "reason": "x" * 10_000}}, token=focal
    )
    assert at_limit["data"]["withdrawNeed"] == {"need": {"status": "WITHDRAWN"}, "userErrors": []}


async def test_a_huge_proposal_message_is_refused(app_client, world):
    from service.models.enums import OrganizationCategory

    donor_org = await world.organization("Norad", OrganizationCategory.DONOR_GOVERNMENT)
    await world.programme(donor_org, iati_identifier="NO-1-KEN", recipients=("KEN",))
    need = await world.need("KEN", visibility=Visibility.PUBLIC)
    donor = await world.key(Role.DONOR, organization=donor_org)
    matches = await gql(
        app_client,
        "query($id: ID!) { node(id: $id) { ... on Need { matches { edges { node { id } } } } } }",
        {"id": gid("Need", need)},
        token=donor,
    )
    match_id = matches["data"]["node"]["matches"]["edges"][0]["node"]["id"]
    propose = "mutation($id: ID!, $message: String!) { proposeMatch(input: {id: $id, message: $message}) { match { status } } }"
    body = await gql(app_client, propose, {"id": match_id, "message": "y" * 200_000}, token=donor)
    assert refusal(body) == ("BAD_USER_INPUT", ["input", "message"], 10_000)
    status = await gql(
        app_client, "query($id: ID!) { node(id: $id) { ... on Match { status } } }", {"id": match_id}, token=donor
    )
    assert status["data"]["node"]["status"] == "SUGGESTED"


@pytest.mark.parametrize(
    "query, variables, field, limit",
    [
        # A literal argument, in a filter object.
        ('{ needs(filter: {search: "%s"}) { totalCount } }' % ("s" * 501), {}, ["filter", "search"], 500),
        # A list item from a variable.
        (
            "query($t: [String!]) { needs(filter: {themes: $t}) { totalCount } }",
            {"t": ["JUSTICE", "T" * 51]},
            ["filter", "themes", "1"],
            50,
        ),
        # An argument inside a fragment, on a nested field.
        (
            "query($c: String) { needs { edges { node { ...M } } } } fragment M on Need { matches(after: $c) { totalCount } }",
            {"c": "c" * 4_001},
            ["after"],
            4_000,
        ),
        # A top-level ID.
        ("query($id: ID!) { node(id: $id) { id } }", {"id": "i" * 101}, ["id"], 100),
    ],
    ids=["literal", "list-variable", "fragment", "id"],
)
async def test_every_position_is_checked(app_client, world, query, variables, field, limit):
    await world.need("KEN")
    body = await gql(app_client, query, variables)
    assert refusal(body) == ("BAD_USER_INPUT", field, limit)


async def test_an_invalid_document_is_reported_as_such(app_client):
    body = await gql(app_client, '{ needs(filter: {nope: "%s"}) { totalCount } }' % ("n" * 600))
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
