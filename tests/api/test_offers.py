"""Programmes, capabilities and organizations through the GraphQL API: lists, filters,
pagination, node lookups, ownership of writes, validation, audit, and constant query cost."""

from __future__ import annotations

import base64
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from service import capabilities as capabilities_service
from service import programmes as programmes_service
from service.access.principals import Principal, Role
from service.models import AuditEvent, Capability, Programme
from service.models.enums import Modality, OrganizationCategory, ParticipantRole
from tests.support import counted_statements, gql

pytestmark = pytest.mark.asyncio


def gid(type_name: str, key) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{key}".encode()).decode().rstrip("=")


async def rows(sessionmaker, model) -> int:
    async with sessionmaker() as session:
        return (await session.execute(sa.select(sa.func.count()).select_from(model))).scalar_one()


async def audit_events(sessionmaker, entity_type: str) -> list[AuditEvent]:
    async with sessionmaker() as session:
        stmt = sa.select(AuditEvent).where(AuditEvent.entity_type == entity_type).order_by(AuditEvent.id)
        return list((await session.execute(stmt)).scalars().all())


class Offers:
    """Programmes and capabilities made through the same domain functions the API uses."""

    def __init__(self, sessionmaker):
        self.sessionmaker = sessionmaker
        self.counter = 0

    async def programme(self, organization: int, *, title: str = "Programme", **fields) -> int:
        self.counter += 1
        principal = Principal(role=Role.DONOR, organization_id=organization)
        fields.setdefault("iati_identifier", f"XM-TEST-{organization}-{self.counter}")
        values = programmes_service.ProgrammeFields(title=title, **fields)
        async with self.sessionmaker() as session, session.begin():
            row = await programmes_service.create_programme(session=session, principal=principal, values=values)
            return row.id

    async def capability(self, organization: int, *, title: str = "Capability", **fields) -> int:
        principal = Principal(role=Role.AGENCY, organization_id=organization)
        values = capabilities_service.CapabilityFields(title=title, **fields)
        async with self.sessionmaker() as session, session.begin():
            row = await capabilities_service.create_capability(session=session, principal=principal, values=values)
            return row.id


@pytest.fixture
def offers(sessionmaker) -> Offers:
    return Offers(sessionmaker)


def usd(amount: str) -> programmes_service.Amount:
    return programmes_service.Amount(Decimal(amount), "USD")


Recipient = programmes_service.RecipientStateInput


@pytest.fixture
async def catalogue(world, offers):
    """Two organizations, three programmes and three capabilities with distinct features."""
    sida = await world.organization("Swedish International Development Cooperation Agency")
    unodc = await world.organization("United Nations Office on Drugs and Crime", OrganizationCategory.UN_AGENCY)
    courts = await offers.programme(
        sida,
        title="Court case management in Kenya",
        description="E-filing for county courts.",
        recipient_states=[Recipient("KEN", Decimal("60")), Recipient("UGA", Decimal("40"))],
        sectors=["15130"],
        themes=["JUSTICE"],
        activity_status="2",
        open_to_requests=True,
        start_date=date(2025, 1, 1),
        end_date=date(2027, 12, 31),
        budget=usd("1000000"),
    )
    nhri = await offers.programme(
        unodc,
        title="Global NHRI support",
        description="Paris Principles accreditation.",
        is_global=True,
        sectors=["15160"],
        themes=["NHRI"],
        activity_status="4",
        open_to_requests=False,
        start_date=date(2019, 1, 1),
        end_date=date(2020, 12, 31),
        budget=usd("5000000"),
    )
    prisons = await offers.programme(
        unodc,
        title="Prison reform pilot",
        description="Alternatives to imprisonment and prison reform.",
        recipient_states=[Recipient("SEN", None)],
        sectors=["12220"],
        themes=["DETENTION"],
        participants=[programmes_service.ParticipantInput(sida, ParticipantRole.FUNDING)],
        parent_id=nhri,
    )
    africa = await offers.capability(unodc, title="Court management", regions_served=["002"], sectors=["15130"])
    world_wide = await offers.capability(
        unodc, title="Judicial integrity", regions_served=["001"], themes=["CORRUPTION"]
    )
    europe = await offers.capability(
        sida, title="Prison inspection", regions_served=["150"], modalities=[Modality.TRAINING]
    )
    return {
        "sida": sida,
        "unodc": unodc,
        "courts": courts,
        "nhri": nhri,
        "prisons": prisons,
        "africa": africa,
        "world": world_wide,
        "europe": europe,
    }


# -- lists and filters -----------------------------------------------------------------------


PROGRAMMES = "query($f: ProgrammeFilter) { programmes(filter: $f, first: 50) { totalCount edges { node { title } } } }"


@pytest.mark.parametrize(
    "programme_filter, expected",
    [
        ({}, {"courts", "nhri", "prisons"}),
        ({"recipientStates": ["KEN"]}, {"courts", "nhri"}),  # global programmes match every State
        ({"recipientStates": ["SEN"]}, {"prisons", "nhri"}),
        ({"sectors": ["151"]}, {"courts", "nhri"}),
        ({"sectors": ["15160"]}, {"nhri"}),
        ({"themes": ["DETENTION", "JUSTICE"]}, {"courts", "prisons"}),
        ({"openToRequests": False}, {"nhri"}),
        ({"activeOn": "2026-03-01"}, {"courts", "prisons"}),  # missing dates are open
        ({"activityStatuses": ["4"]}, {"nhri"}),
        ({"search": "imprisonment"}, {"prisons"}),
        ({"recipientStates": ["KEN"], "openToRequests": True}, {"courts"}),
    ],
)
async def test_programme_filters(app_client, catalogue, programme_filter, expected):
    titles = {
        "courts": "Court case management in Kenya",
        "nhri": "Global NHRI support",
        "prisons": "Prison reform pilot",
    }
    body = await gql(app_client, PROGRAMMES, {"f": programme_filter})
    assert "errors" not in body, body
    connection = body["data"]["programmes"]
    assert {e["node"]["title"] for e in connection["edges"]} == {titles[k] for k in expected}
    assert connection["totalCount"] == len(expected)


async def test_organization_filter_matches_reporting_and_participating(app_client, catalogue):
    body = await gql(app_client, PROGRAMMES, {"f": {"organizations": [gid("Organization", catalogue["sida"])]}})
    titles = {e["node"]["title"] for e in body["data"]["programmes"]["edges"]}
    assert titles == {"Court case management in Kenya", "Prison reform pilot"}
    query = """query($id: ID!) { organization(id: $id) {
        name programmes(first: 10, orderBy: {field: TITLE, direction: ASC}) { totalCount edges { node { title } } }
        capabilities { totalCount edges { node { title } } } } }"""
    body = await gql(app_client, query, {"id": gid("Organization", catalogue["sida"])})
    organization = body["data"]["organization"]
    assert organization["programmes"]["totalCount"] == 2
    assert [e["node"]["title"] for e in organization["programmes"]["edges"]] == [
        "Court case management in Kenya",
        "Prison reform pilot",
    ]
    assert [e["node"]["title"] for e in organization["capabilities"]["edges"]] == ["Prison inspection"]


@pytest.mark.parametrize(
    "capability_filter, expected",
    [
        ({"regionsServed": ["202"]}, {"Court management", "Judicial integrity"}),  # Africa and world serve it
        ({"regionsServed": ["150"]}, {"Prison inspection", "Judicial integrity"}),
        ({"regionsServed": ["001"]}, {"Court management", "Judicial integrity", "Prison inspection"}),
        ({"sectors": ["151"]}, {"Court management"}),
        ({"themes": ["CORRUPTION"]}, {"Judicial integrity"}),
        ({"modalities": ["TRAINING"]}, {"Prison inspection"}),
    ],
)
async def test_capability_filters(app_client, catalogue, capability_filter, expected):
    query = "query($f: CapabilityFilter) { capabilities(filter: $f) { totalCount edges { node { title } } } }"
    body = await gql(app_client, query, {"f": capability_filter})
    assert "errors" not in body, body
    assert {e["node"]["title"] for e in body["data"]["capabilities"]["edges"]} == expected
    assert body["data"]["capabilities"]["totalCount"] == len(expected)


async def test_capability_organization_filter(app_client, catalogue):
    query = (
        "query($f: CapabilityFilter) { capabilities(filter: $f) { edges { node { title organization { name } } } } }"
    )
    body = await gql(app_client, query, {"f": {"organizations": [gid("Organization", catalogue["sida"])]}})
    edges = body["data"]["capabilities"]["edges"]
    assert [e["node"]["title"] for e in edges] == ["Prison inspection"]
    assert edges[0]["node"]["organization"]["name"].startswith("Swedish")


async def test_organization_list_filters(app_client, catalogue):
    query = (
        "query($f: OrganizationFilter) { organizations(filter: $f) { totalCount edges { node { name category } } } }"
    )
    body = await gql(app_client, query, {"f": {"categories": ["UN_AGENCY"]}})
    assert [e["node"]["name"] for e in body["data"]["organizations"]["edges"]] == [
        "United Nations Office on Drugs and Crime"
    ]
    body = await gql(app_client, query, {"f": {"search": "swedish"}})
    assert body["data"]["organizations"]["totalCount"] == 1
    body = await gql(app_client, query, {"f": {"search": "100%_"}})  # wildcards are literal
    assert body["data"]["organizations"]["totalCount"] == 0


# -- pagination ------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["TITLE", "BUDGET", "START_DATE", "CREATED_AT"])
@pytest.mark.parametrize("direction", ["ASC", "DESC"])
async def test_programme_pagination_is_stable(app_client, world, offers, field, direction):
    org = await world.organization("Donor")
    for i in range(7):
        await offers.programme(
            org,
            title=f"Programme {i % 3}",  # ties on title, budget and start date
            budget=usd(str(1000 * (i % 2))) if i % 3 else None,
            start_date=date(2025, 1, 1 + i % 2) if i % 4 else None,
        )
    order = f"orderBy: {{field: {field}, direction: {direction}}}"
    everything = await gql(app_client, f"{{ programmes(first: 50, {order}) {{ edges {{ node {{ id }} }} }} }}")
    expected = [e["node"]["id"] for e in everything["data"]["programmes"]["edges"]]
    assert len(expected) == 7
    seen, after = [], None
    while True:
        body = await gql(
            app_client,
            f"query($after: String) {{ programmes(first: 2, after: $after, {order}) {{ edges {{ node {{ id }} }} pageInfo {{ hasNextPage endCursor }} }} }}",
            {"after": after},
        )
        assert "errors" not in body, body
        connection = body["data"]["programmes"]
        seen += [e["node"]["id"] for e in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert seen == expected
    body = await gql(
        app_client, f"{{ programmes(last: 3, {order}) {{ edges {{ node {{ id }} }} pageInfo {{ hasPreviousPage }} }} }}"
    )
    assert [e["node"]["id"] for e in body["data"]["programmes"]["edges"]] == expected[-3:]
    assert body["data"]["programmes"]["pageInfo"]["hasPreviousPage"] is True


async def test_budget_order_compares_in_usd(app_client, world, offers):
    org = await world.organization("Donor")
    await offers.programme(org, title="Euros", budget=programmes_service.Amount(Decimal("1000"), "EUR"))
    await offers.programme(org, title="Yen", budget=programmes_service.Amount(Decimal("1000"), "JPY"))
    await offers.programme(org, title="Dollars", budget=usd("500"))
    await offers.programme(org, title="Unknown")
    body = await gql(
        app_client, "{ programmes(orderBy: {field: BUDGET, direction: DESC}) { edges { node { title } } } }"
    )
    assert [e["node"]["title"] for e in body["data"]["programmes"]["edges"]] == ["Euros", "Dollars", "Yen", "Unknown"]


async def test_cursor_of_another_order_is_refused(app_client, catalogue):
    body = await gql(app_client, "{ programmes(first: 1, orderBy: {field: TITLE}) { pageInfo { endCursor } } }")
    cursor = body["data"]["programmes"]["pageInfo"]["endCursor"]
    body = await gql(app_client, "query($a: String) { programmes(after: $a) { totalCount } }", {"a": cursor})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


# -- nodes and relations ---------------------------------------------------------------------


async def test_node_lookups_and_relations(app_client, catalogue):
    query = """query($p: ID!, $c: ID!, $o: ID!, $n: ID!) {
      p: node(id: $p) { id ... on Programme {
        title iatiIdentifier isGlobal openToRequests sectors themes budget { amount currency }
        startDate endDate activityStatus { code name }
        reportingOrganization { id name }
        recipientStates(first: 1) { totalCount edges { cursor percentage node { code } } pageInfo { hasNextPage endCursor } }
      } }
      c: node(id: $c) { id ... on Capability { title regionsServed organization { name } } }
      o: node(id: $o) { id ... on Organization { name category } }
      n: node(id: $n) { id ... on Programme { title parent { title } children { totalCount edges { node { title } } } } }
      prisons: node(id: $n) { ... on Programme { participants { role code organization { name } } } }
      missing: node(id: "UHJvZ3JhbW1lOjk5OTk5OQ") { id }
    }"""
    variables = {
        "p": gid("Programme", catalogue["courts"]),
        "c": gid("Capability", catalogue["africa"]),
        "o": gid("Organization", catalogue["unodc"]),
        "n": gid("Programme", catalogue["nhri"]),
    }
    body = await gql(app_client, query, variables)
    assert "errors" not in body, body
    data = body["data"]
    programme = data["p"]
    assert programme["id"] == variables["p"]
    assert programme["budget"] == {"amount": "1000000.00", "currency": "USD"}
    assert programme["activityStatus"] == {"code": "2", "name": "Implementation"}
    assert programme["reportingOrganization"]["id"] == gid("Organization", catalogue["sida"])
    recipients = programme["recipientStates"]
    assert recipients["totalCount"] == 2 and recipients["pageInfo"]["hasNextPage"] is True
    assert recipients["edges"][0]["node"]["code"] == "KEN" and recipients["edges"][0]["percentage"] == "60.00"
    after = await gql(
        app_client,
        "query($p: ID!, $a: String) { node(id: $p) { ... on Programme { recipientStates(after: $a) { edges { percentage node { code } } } } } }",
        {"p": variables["p"], "a": recipients["pageInfo"]["endCursor"]},
    )
    assert after["data"]["node"]["recipientStates"]["edges"] == [{"percentage": "40.00", "node": {"code": "UGA"}}]
    assert data["c"]["organization"]["name"] == "United Nations Office on Drugs and Crime"
    assert data["o"] == {
        "id": variables["o"],
        "name": "United Nations Office on Drugs and Crime",
        "category": "UN_AGENCY",
    }
    assert data["n"]["parent"] is None
    assert data["n"]["children"] == {"totalCount": 1, "edges": [{"node": {"title": "Prison reform pilot"}}]}
    assert data["missing"] is None
    child = await gql(
        app_client,
        "query($id: ID!) { node(id: $id) { ... on Programme { parent { title } participants { role code organization { name } } } } }",
        {"id": gid("Programme", catalogue["prisons"])},
    )
    node = child["data"]["node"]
    assert node["parent"] == {"title": "Global NHRI support"}
    assert node["participants"] == [
        {
            "role": "FUNDING",
            "code": "1",
            "organization": {"name": "Swedish International Development Cooperation Agency"},
        }
    ]


async def test_organization_lookup_refuses_foreign_ids(app_client, catalogue):
    body = await gql(
        app_client, "query($id: ID!) { organization(id: $id) { name } }", {"id": gid("Programme", catalogue["courts"])}
    )
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


# -- programme writes ------------------------------------------------------------------------

CREATE_PROGRAMME = """
mutation($input: CreateProgrammeInput!) {
  createProgramme(input: $input) {
    programme { id iatiIdentifier title budget { amount currency } committed { amount currency }
      reportingOrganization { id } recipientStates { totalCount edges { percentage node { code } } }
      participants { role organization { id } } languages sectors parent { id } activityStatus { code } }
    userErrors { field message code }
  }
}"""

UPDATE_PROGRAMME = """
mutation($input: UpdateProgrammeInput!) {
  updateProgramme(input: $input) {
    programme { id title budget { amount currency } committed { amount } openToRequests updatedAt createdAt }
    userErrors { field message code }
  }
}"""


def programme_input(**extra):
    return {
        "iatiIdentifier": "SE-0-SE-6-1234",
        "title": "Access to justice",
        "description": "Legal aid.",
        "activityStatus": "2",
        "startDate": "2026-01-01",
        "endDate": "2028-12-31",
        "budget": {"amount": "2500000.00", "currency": "sek"},
        "committed": {"amount": "1000000", "currency": "SEK"},
        "sectors": ["15130"],
        "themes": ["JUSTICE"],
        "sdgTargets": ["16.3"],
        "modalities": ["TRAINING"],
        "languages": ["EN", "sw"],
        "recipientStates": [{"state": "ken", "percentage": "70"}, {"state": "UGA", "percentage": "30"}],
        **extra,
    }


async def test_owner_creates_and_updates_a_programme_with_audit_trail(app_client, world, sessionmaker):
    sida = await world.organization("Sida")
    token = await world.key(Role.DONOR, organization=sida)
    body = await gql(
        app_client,
        CREATE_PROGRAMME,
        {
            "input": programme_input(
                participants=[{"organizationId": gid("Organization", sida), "role": "FUNDING"}],
            )
        },
        token=token,
    )
    payload = body["data"]["createProgramme"]
    assert payload["userErrors"] == []
    programme = payload["programme"]
    assert programme["reportingOrganization"]["id"] == gid("Organization", sida)
    assert programme["budget"] == {"amount": "2500000.00", "currency": "SEK"}
    assert programme["languages"] == ["en", "sw"]
    assert programme["recipientStates"]["totalCount"] == 2
    assert programme["participants"] == [{"role": "FUNDING", "organization": {"id": gid("Organization", sida)}}]
    assert programme["activityStatus"] == {"code": "2"}

    body = await gql(
        app_client,
        UPDATE_PROGRAMME,
        {
            "input": {
                "id": programme["id"],
                "title": "Access to justice II",
                "openToRequests": False,
                "budget": {"amount": "100", "currency": "SEK"},
            }
        },
        token=token,
    )
    updated = body["data"]["updateProgramme"]
    assert updated["userErrors"] == []
    assert updated["programme"]["title"] == "Access to justice II"
    assert updated["programme"]["openToRequests"] is False
    assert updated["programme"]["committed"] == {"amount": "1000000.00"}  # untouched
    assert updated["programme"]["updatedAt"] > updated["programme"]["createdAt"]

    events = await audit_events(sessionmaker, "Programme")
    assert [e.action for e in events] == ["create", "update"]
    assert events[0].after["title"] == "Access to justice"
    assert {r["state"] for r in events[0].after["recipient_states"]} == {"KEN", "UGA"}
    assert events[1].before["title"] == "Access to justice" and events[1].after["title"] == "Access to justice II"
    assert events[1].actor_organization_id == sida


LINKS = """query($id: ID!) { node(id: $id) { ... on Programme {
  parentConfirmed parent { id } participants { role confirmed organization { id } }
  children { edges { node { id parentConfirmed } } } } } }"""


async def test_links_to_other_organizations_are_kept_but_unconfirmed(app_client, world, offers):
    """A donor may name another organization's programme as parent and other organizations
    as participants (IATI publishers do), but such links show as unconfirmed: only its own
    organization and programmes are confirmed."""
    sida, norad = await world.organization("Sida"), await world.organization("Norad")
    norads = await offers.programme(norad, title="Norad's programme")
    sidas = await offers.programme(sida, title="Sida's programme")
    token = await world.key(Role.DONOR, organization=sida)
    body = await gql(
        app_client,
        CREATE_PROGRAMME,
        {
            "input": programme_input(
                parentId=gid("Programme", norads),
                participants=[
                    {"organizationId": gid("Organization", norad), "role": "FUNDING"},
                    {"organizationId": gid("Organization", sida), "role": "IMPLEMENTING"},
                ],
            )
        },
        token=token,
    )
    assert body["data"]["createProgramme"]["userErrors"] == []
    claimed = body["data"]["createProgramme"]["programme"]["id"]
    links = (await gql(app_client, LINKS, {"id": claimed}))["data"]["node"]
    assert links["parent"] == {"id": gid("Programme", norads)} and links["parentConfirmed"] is False
    assert {(p["organization"]["id"], p["confirmed"]) for p in links["participants"]} == {
        (gid("Organization", norad), False),
        (gid("Organization", sida), True),
    }
    children = (await gql(app_client, LINKS, {"id": gid("Programme", norads)}))["data"]["node"]["children"]["edges"]
    assert children == [{"node": {"id": claimed, "parentConfirmed": False}}]  # listed, marked as the claim it is

    body = await gql(
        app_client, UPDATE_PROGRAMME, {"input": {"id": claimed, "parentId": gid("Programme", sidas)}}, token=token
    )
    assert body["data"]["updateProgramme"]["userErrors"] == []
    links = (await gql(app_client, LINKS, {"id": claimed}))["data"]["node"]
    assert links["parentConfirmed"] is True
    assert (await gql(app_client, LINKS, {"id": gid("Programme", sidas)}))["data"]["node"][
        "parentConfirmed"
    ] is None  # no parent


async def test_programme_writes_need_the_owning_donor_or_agency(app_client, world, sessionmaker, offers):
    sida = await world.organization("Sida")
    other = await world.organization("Norad")
    nhri = await world.organization("KNCHR", OrganizationCategory.NHRI)
    existing = await offers.programme(sida, title="Sida's programme")
    before = await rows(sessionmaker, Programme)
    tokens = {
        "other donor": await world.key(Role.DONOR, organization=other),
        "nhri": await world.key(Role.NHRI, organization=nhri),
        "admin": await world.key(Role.ADMINISTRATOR),
        "focal point": await world.key(Role.STATE_FOCAL_POINT, state="KEN"),
    }
    update = {"input": {"id": gid("Programme", existing), "title": "hijack"}}
    for who, token in tokens.items():
        body = await gql(app_client, UPDATE_PROGRAMME, update, token=token)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", who
        if who != "other donor":  # another donor may create programmes of its own
            body = await gql(app_client, CREATE_PROGRAMME, {"input": programme_input()}, token=token)
            assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", who
    for mutation, variables in ((UPDATE_PROGRAMME, update), (CREATE_PROGRAMME, {"input": programme_input()})):
        body = await gql(app_client, mutation, variables)
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    missing = await gql(
        app_client,
        UPDATE_PROGRAMME,
        {"input": {"id": gid("Programme", 999999), "title": "x"}},
        token=tokens["other donor"],
    )
    assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert await rows(sessionmaker, Programme) == before
    async with sessionmaker() as session:
        assert (await session.get(Programme, existing)).title == "Sida's programme"
    assert [e.action for e in await audit_events(sessionmaker, "Programme")] == ["create"]  # the fixture's own


@pytest.mark.parametrize(
    "patch, field, code",
    [
        ({"sectors": ["15162"]}, ["input", "sectors"], "UNKNOWN_CODE"),
        ({"budget": {"amount": "-5", "currency": "USD"}, "committed": None}, ["input", "budget"], "NEGATIVE"),
        ({"budget": {"amount": "5.001", "currency": "SEK"}}, ["input", "budget"], "INVALID"),
        ({"startDate": "2027-05-01", "endDate": "2027-01-01"}, ["input", "endDate"], "DATE_ORDER"),
        ({"iatiIdentifier": "TAKEN-1"}, ["input", "iatiIdentifier"], "DUPLICATE"),
        (
            {"recipientStates": [{"state": "KEN", "percentage": "70"}, {"state": "UGA", "percentage": "40"}]},
            ["input", "recipientStates"],
            "RECIPIENT_PERCENTAGES",
        ),
        (
            {"recipientStates": [{"state": "KEN", "percentage": "101"}]},
            ["input", "recipientStates", "0", "percentage"],
            "OUT_OF_RANGE",
        ),
        ({"recipientStates": [{"state": "XXX"}]}, ["input", "recipientStates", "0", "state"], "UNKNOWN_CODE"),
        ({"languages": ["english"]}, ["input", "languages"], "UNKNOWN_CODE"),
        ({"activityStatus": "9"}, ["input", "activityStatus"], "UNKNOWN_CODE"),
        ({"themes": ["NOT_A_THEME"]}, ["input", "themes"], "UNKNOWN_CODE"),
        ({"title": "  "}, ["input", "title"], "REQUIRED"),
        (
            {"budget": {"amount": "5", "currency": "ZZZ"}, "committed": None},
            ["input", "budget", "currency"],
            "UNKNOWN_CODE",
        ),
        ({"budget": {"amount": "5", "currency": "USD"}}, ["input", "budget", "currency"], "CURRENCY_MISMATCH"),
        ({"parentId": gid("Programme", 999999)}, ["input", "parentId"], "NOT_FOUND"),
    ],
)
async def test_bad_programme_input_is_a_user_error_and_writes_nothing(
    app_client, world, offers, sessionmaker, patch, field, code
):
    sida = await world.organization("Sida")
    await offers.programme(sida, iati_identifier="TAKEN-1")
    token = await world.key(Role.AGENCY, organization=sida)
    before = await rows(sessionmaker, Programme)
    body = await gql(app_client, CREATE_PROGRAMME, {"input": programme_input(**patch)}, token=token)
    payload = body["data"]["createProgramme"]
    assert payload["programme"] is None
    assert {"field": field, "code": code} in [
        {"field": e["field"], "code": e["code"]} for e in payload["userErrors"]
    ], payload
    assert await rows(sessionmaker, Programme) == before
    assert len(await audit_events(sessionmaker, "Programme")) == 1  # the fixture's programme only


async def test_bad_programme_update_changes_nothing(app_client, world, offers, sessionmaker):
    sida = await world.organization("Sida")
    parent = await offers.programme(sida, title="Parent")
    child = await offers.programme(sida, title="Child", parent_id=parent, budget=usd("10"))
    token = await world.key(Role.DONOR, organization=sida)
    cases = [
        ({"id": gid("Programme", parent), "parentId": gid("Programme", child)}, "CYCLE"),
        ({"id": gid("Programme", parent), "parentId": gid("Programme", parent)}, "SELF_PARENT"),
        ({"id": gid("Programme", child), "title": "New", "budget": {"amount": "-1", "currency": "USD"}}, "NEGATIVE"),
        ({"id": gid("Programme", child), "endDate": "2020-01-01", "startDate": "2021-01-01"}, "DATE_ORDER"),
        ({"id": gid("Programme", child), "title": None}, "REQUIRED"),
    ]
    for patch, code in cases:
        body = await gql(app_client, UPDATE_PROGRAMME, {"input": patch}, token=token)
        payload = body["data"]["updateProgramme"]
        assert payload["programme"] is None and code in [e["code"] for e in payload["userErrors"]], (patch, payload)
    async with sessionmaker() as session:
        row = await session.get(Programme, child)
        assert (row.title, row.budget_amount, row.parent_id) == ("Child", Decimal("10.00"), parent)
    assert [e.action for e in await audit_events(sessionmaker, "Programme")] == ["create", "create"]


# -- capability writes -----------------------------------------------------------------------

CREATE_CAPABILITY = """
mutation($input: CreateCapabilityInput!) {
  createCapability(input: $input) {
    capability { id title organization { id } regionsServed languages modalities sectors themes }
    userErrors { field message code }
  }
}"""

UPDATE_CAPABILITY = """
mutation($input: UpdateCapabilityInput!) {
  updateCapability(input: $input) { capability { id title sectors } userErrors { field message code } }
}"""


async def test_owner_creates_and_updates_a_capability_with_audit_trail(app_client, world, sessionmaker):
    unodc = await world.organization("UNODC", OrganizationCategory.UN_AGENCY)
    token = await world.key(Role.AGENCY, organization=unodc)
    body = await gql(
        app_client,
        CREATE_CAPABILITY,
        {
            "input": {
                "title": "Court management",
                "description": "Case-management systems.",
                "themes": ["JUSTICE"],
                "sectors": ["15130"],
                "modalities": ["ADVISORY_SERVICES"],
                "regionsServed": ["002", "419"],
                "languages": ["FR"],
            }
        },
        token=token,
    )
    payload = body["data"]["createCapability"]
    assert payload["userErrors"] == []
    capability = payload["capability"]
    assert capability["organization"]["id"] == gid("Organization", unodc)
    assert capability["languages"] == ["fr"] and capability["regionsServed"] == ["002", "419"]
    body = await gql(
        app_client,
        UPDATE_CAPABILITY,
        {"input": {"id": capability["id"], "title": "Court management II", "sectors": None}},
        token=token,
    )
    assert body["data"]["updateCapability"] == {
        "capability": {"id": capability["id"], "title": "Court management II", "sectors": []},
        "userErrors": [],
    }
    events = await audit_events(sessionmaker, "Capability")
    assert [e.action for e in events] == ["create", "update"]
    assert events[1].before["title"] == "Court management" and events[1].after["title"] == "Court management II"


async def test_capability_writes_need_the_owning_donor_or_agency(app_client, world, offers, sessionmaker):
    unodc = await world.organization("UNODC", OrganizationCategory.UN_AGENCY)
    other = await world.organization("UNDP", OrganizationCategory.UN_AGENCY)
    cso = await world.organization("Kituo cha Sheria", OrganizationCategory.CIVIL_SOCIETY)
    existing = await offers.capability(unodc, title="Court management")
    update = {"input": {"id": gid("Capability", existing), "title": "hijack"}}
    for who, token in {
        "other agency": await world.key(Role.AGENCY, organization=other),
        "civil society": await world.key(Role.CIVIL_SOCIETY, organization=cso),
        "admin": await world.key(Role.ADMINISTRATOR),
    }.items():
        body = await gql(app_client, UPDATE_CAPABILITY, update, token=token)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", who
        if who != "other agency":
            body = await gql(app_client, CREATE_CAPABILITY, {"input": {"title": "x"}}, token=token)
            assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", who
    body = await gql(app_client, CREATE_CAPABILITY, {"input": {"title": "x"}})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    body = await gql(app_client, UPDATE_CAPABILITY, update)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await rows(sessionmaker, Capability) == 1
    async with sessionmaker() as session:
        assert (await session.get(Capability, existing)).title == "Court management"


@pytest.mark.parametrize(
    "patch, field, code",
    [
        ({"sectors": ["15162"]}, ["input", "sectors"], "UNKNOWN_CODE"),
        ({"regionsServed": ["999"]}, ["input", "regionsServed"], "UNKNOWN_CODE"),
        ({"languages": ["french"]}, ["input", "languages"], "UNKNOWN_CODE"),
        ({"title": ""}, ["input", "title"], "REQUIRED"),
    ],
)
async def test_bad_capability_input_is_a_user_error_and_writes_nothing(
    app_client, world, sessionmaker, patch, field, code
):
    unodc = await world.organization("UNODC", OrganizationCategory.UN_AGENCY)
    token = await world.key(Role.DONOR, organization=unodc)
    body = await gql(app_client, CREATE_CAPABILITY, {"input": {"title": "Court management", **patch}}, token=token)
    payload = body["data"]["createCapability"]
    assert payload["capability"] is None
    assert {"field": field, "code": code} in [{"field": e["field"], "code": e["code"]} for e in payload["userErrors"]]
    assert await rows(sessionmaker, Capability) == 0
    assert await audit_events(sessionmaker, "Capability") == []


# -- reference lists -------------------------------------------------------------------------


async def test_reference_lists(app_client):
    body = await gql(
        app_client,
        """{
      themes(first: 100, filter: {clusters: ["ADMINISTRATION_OF_JUSTICE"]}) { totalCount edges { node { code cluster rightsDimensions } } }
      sdgGoals { code targets { code } }
      sdgTargets(goal: "16") { code goalCode }
      dacSectorCategories { code }
      dacSectors(category: "151") { code category { code } }
      codelist(name: ACTIVITY_STATUS) { code name withdrawn }
    }""",
    )
    assert "errors" not in body, body
    data = body["data"]
    assert "JUSTICE" in {e["node"]["code"] for e in data["themes"]["edges"]}
    assert all(e["node"]["cluster"] == "ADMINISTRATION_OF_JUSTICE" for e in data["themes"]["edges"])
    assert [g["code"] for g in data["sdgGoals"]][:3] == ["1", "2", "3"] and len(data["sdgGoals"]) == 17
    targets = [t["code"] for t in data["sdgTargets"]]
    assert targets.index("16.2") < targets.index("16.10") and "16.3" in targets
    assert {"151", "152"} <= {c["code"] for c in data["dacSectorCategories"]}
    assert {"15130", "15160"} <= {s["code"] for s in data["dacSectors"]}
    assert all(s["category"]["code"] == "151" for s in data["dacSectors"])
    assert [c["code"] for c in data["codelist"]] == ["1", "2", "3", "4", "5", "6"]


# -- cost ------------------------------------------------------------------------------------

PAGE = """
query($n: Int!) {
  programmes(first: $n) { edges { node {
    id title budget { amount currency } activityStatus { code name }
    reportingOrganization { name state { code } organizationType { code } }
    participants { role organization { name } }
    recipientStates(first: 5) { totalCount edges { percentage node { code name } } }
    parent { title reportingOrganization { name } }
    children(first: 2) { totalCount edges { node { title } } }
  } } }
  organizations(first: $n) { edges { node { name programmes(first: 2) { totalCount edges { node { title } } } capabilities(first: 2) { totalCount edges { node { title } } } } } }
}"""


async def _statements(app_client, n: int) -> tuple[int, dict]:
    with counted_statements(app_client) as statements:
        body = await gql(app_client, PAGE, {"n": n})
    return len(statements), body


async def test_a_page_of_programmes_costs_constant_statements(app_client, world, offers):
    organizations = [await world.organization(f"Org {i}") for i in range(10)]
    parent = None
    states = ["KEN", "UGA", "SEN", "COL", "NPL", "FJI"]
    for i in range(50):
        org = organizations[i % 10]
        programme = await offers.programme(
            org,
            title=f"Programme {i}",
            budget=usd("1000"),
            activity_status="2",
            recipient_states=[Recipient(states[i % 6], Decimal("50")), Recipient(states[(i + 1) % 6], Decimal("50"))],
            participants=[programmes_service.ParticipantInput(organizations[(i + 1) % 10], ParticipantRole.FUNDING)],
            parent_id=parent,
        )
        parent = programme if i % 5 == 0 else parent
        await offers.capability(org, title=f"Capability {i}")
    small, _ = await _statements(app_client, 5)
    large, body = await _statements(app_client, 50)
    assert "errors" not in body, body
    edges = body["data"]["programmes"]["edges"]
    assert len(edges) == 50
    assert all(e["node"]["recipientStates"]["totalCount"] == 2 for e in edges)
    assert all(len(e["node"]["participants"]) == 1 for e in edges)
    # Cache hits may save a batch on the larger page; more rows never cost more statements.
    assert large <= small <= 20, (small, large)
