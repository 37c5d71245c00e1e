"""The mutation authorization matrix: every role × every mutation × own / other."""

from __future__ import annotations

import base64

import pytest

from service.access.principals import Role
from service.models.enums import OrganizationCategory, Visibility
from tests.support import gql

pytestmark = pytest.mark.asyncio


def gid(type_name: str, key) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{key}".encode()).decode().rstrip("=")


PRINCIPALS = [
    "anonymous",
    "admin",
    "focal_own",
    "focal_other",
    "donor_own",
    "donor_other",
    "agency_own",
    "nhri",
    "civil_society",
    "fund_admin",
]


async def _fund_rounds(sessionmaker) -> tuple[int, int]:
    """An OPEN Fund round (to apply to, re-weight) and a CLOSED one (to approve)."""
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    from service.access.principals import Principal
    from service.fund import rounds
    from service.models.fund import FundRoundStatus

    today = datetime.now(UTC).date()
    manager = Principal(role=Role.FUND_ADMINISTRATOR)
    ids = []
    async with sessionmaker() as session, session.begin():
        for name, statuses in (
            ("Open", [FundRoundStatus.OPEN]),
            ("Closed", [FundRoundStatus.OPEN, FundRoundStatus.CLOSED]),
        ):
            row = await rounds.create_round(
                session=session,
                principal=manager,
                values=rounds.RoundFields(
                    name=name,
                    budget=Decimal("1000"),
                    currency="USD",
                    opens_on=today - timedelta(days=1),
                    closes_on=today + timedelta(days=30),
                ),
            )
            for status in statuses:
                await rounds.change_round_status(session=session, principal=manager, round_id=row.id, to=status)
            ids.append(row.id)
    return ids[0], ids[1]


@pytest.fixture
async def setting(world, sessionmaker):
    donor_org = await world.organization("Norad")
    other_donor_org = await world.organization("Sida")
    agency_org = await world.organization("OHCHR", OrganizationCategory.UN_AGENCY)
    nhri_org = await world.organization("KNCHR", OrganizationCategory.NHRI)
    cso_org = await world.organization("UPR Info", OrganizationCategory.CIVIL_SOCIETY)
    programme = await world.programme(donor_org, iati_identifier="NO-AUTH-1", recipients=("KEN",))
    capability = await world.capability(agency_org, regions=("001",), themes=("JUSTICE",))
    need = await world.need("KEN", visibility=Visibility.PUBLIC)
    rec = await world.recommendation("KEN", "Reform the courts.")
    from sqlalchemy import select

    from service.models.matching import Match

    async with sessionmaker() as session:
        match = (
            await session.execute(select(Match.id).where(Match.need_id == need, Match.programme_id == programme))
        ).scalar_one()
    tokens = {
        "anonymous": None,
        "admin": await world.key(Role.ADMINISTRATOR),
        "focal_own": await world.key(Role.STATE_FOCAL_POINT, state="KEN"),
        "focal_other": await world.key(Role.STATE_FOCAL_POINT, state="UGA"),
        "donor_own": await world.key(Role.DONOR, organization=donor_org),
        "donor_other": await world.key(Role.DONOR, organization=other_donor_org),
        "agency_own": await world.key(Role.AGENCY, organization=agency_org),
        "nhri": await world.key(Role.NHRI, organization=nhri_org),
        "civil_society": await world.key(Role.CIVIL_SOCIETY, organization=cso_org),
        "fund_admin": await world.key(Role.FUND_ADMINISTRATOR),
    }
    open_round, closed_round = await _fund_rounds(sessionmaker)
    action, report = await _public_action_with_report(sessionmaker, rec)
    ids = {
        "action": gid("ImplementationAction", action),
        "report": gid("ProgressReport", report),
        "need": gid("Need", need),
        "programme": gid("Programme", programme),
        "capability": gid("Capability", capability),
        "match": gid("Match", match),
        "rec": gid("Recommendation", rec),
        "openRound": gid("FundRound", open_round),
        "closedRound": gid("FundRound", closed_round),
    }
    return tokens, ids


async def _public_action_with_report(sessionmaker, rec: int) -> tuple[int, int]:
    from datetime import date

    from service.access.principals import Principal
    from service.models.enums import ImplementationStatus, StakeholderKind
    from service.tracking import actions, progress

    focal = Principal(role=Role.STATE_FOCAL_POINT, state_iso3="KEN")
    async with sessionmaker() as session, session.begin():
        action = await actions.create_action(
            session=session,
            principal=focal,
            state_iso3="KEN",
            values=actions.ActionFields(
                title="Court reform",
                lead_institution=actions.Institution("Judiciary", StakeholderKind.JUDICIARY),
                visibility=Visibility.PUBLIC,
                recommendation_ids=[rec],
            ),
        )
        report = await progress.create_report(
            session=session,
            principal=focal,
            action_id=action.id,
            values=progress.ReportFields(
                reported_on=date(2024, 1, 1),
                status=ImplementationStatus.ONGOING,
                visibility=Visibility.PUBLIC,
            ),
        )
        return action.id, report.id


# mutation → (GraphQL, the principals allowed; everyone else is refused)
MUTATIONS = {
    "createNeed": ('mutation { createNeed(input: {state: "KEN", title: "x"}) { need { id } } }', {"focal_own"}),
    "updateNeed": (
        'mutation($need: ID!) { updateNeed(input: {id: $need, title: "y"}) { need { id } } }',
        {"focal_own"},
    ),
    "withdrawNeed": ("mutation($need: ID!) { withdrawNeed(input: {id: $need}) { need { id } } }", {"focal_own"}),
    "linkNeedRecommendations": (
        "mutation($need: ID!, $rec: ID!) { linkNeedRecommendations(input: {needId: $need, recommendationIds: [$rec]}) { need { id } } }",
        {"focal_own"},
    ),
    "addStakeholderInput": (
        'mutation($need: ID!) { addStakeholderInput(input: {needId: $need, body: "Our view"}) { stakeholderInput { id } } }',
        {"nhri", "civil_society"},
    ),
    "updateProgramme": (
        'mutation($programme: ID!) { updateProgramme(input: {id: $programme, title: "z"}) { programme { id } } }',
        {"donor_own"},
    ),
    "createProgramme": (
        'mutation { createProgramme(input: {iatiIdentifier: "XX-NEW-1", title: "New"}) { programme { id } } }',
        {"donor_own", "donor_other", "agency_own"},
    ),
    "updateCapability": (
        'mutation($capability: ID!) { updateCapability(input: {id: $capability, title: "w"}) { capability { id } } }',
        {"agency_own"},
    ),
    "proposeMatch": (
        'mutation($match: ID!) { proposeMatch(input: {id: $match, message: "We offer"}) { match { id } } }',
        {"donor_own"},
    ),
    "createImplementationAction": (
        'mutation { createImplementationAction(input: {state: "KEN", title: "x", leadInstitution: {name: "Parliament", kind: PARLIAMENT}}) { action { id } } }',
        {"focal_own"},
    ),
    "updateImplementationAction": (
        'mutation($action: ID!) { updateImplementationAction(input: {id: $action, title: "y"}) { action { id } } }',
        {"focal_own"},
    ),
    "createIndicator": (
        'mutation($action: ID!) { createIndicator(input: {actionId: $action, name: "Cases"}) { indicator { id } } }',
        {"focal_own"},
    ),
    "reportProgress": (
        'mutation($action: ID!) { reportProgress(input: {actionId: $action, reportedOn: "2024-06-01", status: PARTIAL}) { progressReport { id } } }',
        {"focal_own"},
    ),
    "updateProgressReport": (
        'mutation($report: ID!) { updateProgressReport(input: {id: $report, narrative: "n"}) { progressReport { id } } }',
        {"focal_own"},
    ),
    "addProgressComment": (
        'mutation($report: ID!) { addProgressComment(input: {reportId: $report, body: "Our view"}) { comment { id } } }',
        {"nhri", "civil_society"},
    ),
    "createApiKey": ('mutation { createApiKey(input: {role: ADMINISTRATOR, label: "ops"}) { key } }', {"admin"}),
    "createFundRound": (
        'mutation { createFundRound(input: {name: "2030", budget: {amount: "1", currency: "USD"}, opensOn: "2030-01-01", closesOn: "2030-02-01"}) { round { id } } }',
        {"admin", "fund_admin"},
    ),
    "closeFundRound": (
        "mutation($openRound: ID!) { closeFundRound(input: {id: $openRound}) { round { id } } }",
        {"admin", "fund_admin"},
    ),
    "setFundCriteria": (
        'mutation($openRound: ID!) { setFundCriteria(input: {roundId: $openRound, note: "n", weights: [{criterion: "ldc_sids", weight: 1}]}) { criteria { version } } }',
        {"admin", "fund_admin"},
    ),
    "submitFundApplication": (
        'mutation($openRound: ID!) { submitFundApplication(input: {roundId: $openRound, state: "KEN", title: "Plan", requested: {amount: "10", currency: "USD"}}) { application { id } } }',
        {"focal_own"},
    ),
    "approveFundAllocation": (
        "mutation($closedRound: ID!) { approveFundAllocation(input: {roundId: $closedRound, criteriaVersion: 1}) { round { id } } }",
        {"fund_admin"},
    ),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
async def test_each_mutation_admits_exactly_its_parties(app_client, setting, mutation):
    tokens, ids = setting
    query, allowed = MUTATIONS[mutation]
    variables = {k: v for k, v in ids.items() if f"${k}" in query}
    for who in PRINCIPALS:
        body = await gql(app_client, query, variables, token=tokens[who])
        codes = [e.get("extensions", {}).get("code") for e in body.get("errors", [])]
        if who in allowed:
            assert not codes, (mutation, who, body)
            assert body["data"][mutation] is not None  # admitted (any userErrors are about the input)
        elif who == "anonymous":
            assert codes == ["UNAUTHENTICATED"], (mutation, who, body)
        else:
            assert codes and codes[0] in ("FORBIDDEN", "NOT_FOUND"), (mutation, who, body)
