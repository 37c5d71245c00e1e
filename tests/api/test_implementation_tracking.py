"""Implementation tracking through the GraphQL API: who may do what, PRIVATE actions and
reports never leak (lists, node, nested fields, statuses, roll-ups, changes, exports),
roll-up rules, the mid-term export, bad input."""

from __future__ import annotations

import base64
import csv
import io
import json
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from service.access.principals import ANONYMOUS, Principal, Role
from service.exports import export_midterm
from service.models import (
    AuditEvent,
    ImplementationAction,
    IndicatorValue,
    ProgressComment,
    ProgressReport,
    Recommendation,
)
from service.models.enums import ImplementationStatus as S
from service.models.enums import OrganizationCategory, RecommendationResponse
from service.tracking.rollups import rolled_up, year_before
from tests.support import gql

pytestmark = pytest.mark.asyncio

TODAY = date.today()


def gid(type_name: str, key) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{key}".encode()).decode().rstrip("=")


CREATE_ACTION = """
mutation($input: CreateImplementationActionInput!) {
  createImplementationAction(input: $input) {
    action { id title visibility status leadInstitution { name kind } supportingInstitutions { name kind }
             recommendations { totalCount } needs { totalCount } }
    userErrors { field message code }
  }
}"""

REPORT = """
mutation($input: ReportProgressInput!) {
  reportProgress(input: $input) {
    progressReport { id status visibility reportedOn evidenceLinks indicatorValues { indicator { id name } value } }
    userErrors { field message code }
  }
}"""

CREATE_INDICATOR = """
mutation($input: CreateIndicatorInput!) {
  createIndicator(input: $input) { indicator { id name baseline target unit } userErrors { field message code } }
}"""

COMMENT = """
mutation($input: AddProgressCommentInput!) {
  addProgressComment(input: $input) { comment { id body organization { name } } userErrors { field message code } }
}"""


async def ok(app_client, query, variables, token, field):
    body = await gql(app_client, query, variables, token=token)
    assert "errors" not in body, body
    payload = body["data"][field]
    assert payload["userErrors"] == [], payload
    return payload


async def set_response(sessionmaker, rec_id: int, response: RecommendationResponse | None) -> None:
    async with sessionmaker() as session, session.begin():
        await session.execute(sa.update(Recommendation).where(Recommendation.id == rec_id).values(response=response))


@pytest.fixture
async def tokens(world):
    donor = await world.organization("Donor Agency")
    nhri = await world.organization("Kenya National Commission on Human Rights", OrganizationCategory.NHRI)
    cso = await world.organization("Kenya Human Rights Network", OrganizationCategory.CIVIL_SOCIETY)
    return {
        "anonymous": None,
        "focal_ken": await world.key(Role.STATE_FOCAL_POINT, state="KEN"),
        "focal_uga": await world.key(Role.STATE_FOCAL_POINT, state="UGA"),
        "donor": await world.key(Role.DONOR, organization=donor),
        "nhri": await world.key(Role.NHRI, organization=nhri),
        "cso": await world.key(Role.CIVIL_SOCIETY, organization=cso),
        "admin": await world.key(Role.ADMINISTRATOR),
    }


@pytest.fixture
async def tracked(app_client, world, sessionmaker, tokens):
    """KEN (cycle 3, session 40): rec1 and rec2 SUPPORTED, rec3 NOTED. A PUBLIC action on rec1
    with a PUBLIC COMPLETED report and a later PRIVATE PARTIAL one; a PRIVATE action on rec1
    and rec2 with a PUBLIC ONGOING report; a PUBLIC need attached to both actions."""
    focal = tokens["focal_ken"]
    rec1 = await world.recommendation("KEN", "Strengthen the judiciary.")
    rec2 = await world.recommendation("KEN", "Reduce pre-trial detention.")
    rec3 = await world.recommendation("KEN", "Abolish the death penalty.")
    await set_response(sessionmaker, rec3, RecommendationResponse.NOTED)
    need = await world.need("KEN", title="Court case management")
    public = (
        await ok(
            app_client,
            CREATE_ACTION,
            {
                "input": {
                    "state": "KEN",
                    "title": "E-filing in all county courts",
                    "description": "Digital case management.",
                    "leadInstitution": {"name": "Judiciary of Kenya", "kind": "JUDICIARY"},
                    "supportingInstitutions": [{"name": "Ministry of ICT", "kind": "GOVERNMENT_MINISTRY"}],
                    "startDate": "2023-01-01",
                    "endDate": "2026-12-31",
                    "visibility": "PUBLIC",
                    "recommendationIds": [gid("Recommendation", rec1)],
                    "needIds": [gid("Need", need)],
                }
            },
            focal,
            "createImplementationAction",
        )
    )["action"]
    private = (
        await ok(
            app_client,
            CREATE_ACTION,
            {
                "input": {
                    "state": "KEN",
                    "title": "Secret bail reform",
                    "leadInstitution": {"name": "Office of the Attorney General", "kind": "GOVERNMENT_MINISTRY"},
                    "recommendationIds": [gid("Recommendation", rec1), gid("Recommendation", rec2)],
                    "needIds": [gid("Need", need)],
                }
            },
            focal,
            "createImplementationAction",
        )
    )["action"]
    assert private["visibility"] == "PRIVATE" and private["status"] == "NOT_STARTED"
    indicator = (
        await ok(
            app_client,
            CREATE_INDICATOR,
            {
                "input": {
                    "actionId": public["id"],
                    "name": "Courts with e-filing",
                    "unit": "courts",
                    "baseline": "2",
                    "target": "47",
                    "dueDate": "2026-12-31",
                }
            },
            focal,
            "createIndicator",
        )
    )["indicator"]
    public_report = (
        await ok(
            app_client,
            REPORT,
            {
                "input": {
                    "actionId": public["id"],
                    "reportedOn": str(TODAY - timedelta(days=60)),
                    "status": "COMPLETED",
                    "narrative": "Public progress: all courts file online.",
                    "visibility": "PUBLIC",
                    "evidenceLinks": ["https://judiciary.go.ke/e-filing"],
                    "indicatorValues": [{"indicatorId": indicator["id"], "value": "47"}],
                }
            },
            focal,
            "reportProgress",
        )
    )["progressReport"]
    private_report = (
        await ok(
            app_client,
            REPORT,
            {
                "input": {
                    "actionId": public["id"],
                    "reportedOn": str(TODAY - timedelta(days=10)),
                    "status": "PARTIAL",
                    "narrative": "Hidden setback in two courts.",
                }
            },
            focal,
            "reportProgress",
        )
    )["progressReport"]
    on_private = (
        await ok(
            app_client,
            REPORT,
            {
                "input": {
                    "actionId": private["id"],
                    "reportedOn": str(TODAY - timedelta(days=5)),
                    "status": "ONGOING",
                    "narrative": "Hidden bail narrative.",
                    "visibility": "PUBLIC",
                }
            },
            focal,
            "reportProgress",
        )
    )["progressReport"]
    return {
        "recs": (rec1, rec2, rec3),
        "need": need,
        "public": public["id"],
        "private": private["id"],
        "indicator": indicator["id"],
        "public_report": public_report["id"],
        "private_report": private_report["id"],
        "report_on_private": on_private["id"],
    }


OUTSIDERS = ["anonymous", "donor", "focal_uga", "nhri"]
INSIDERS = ["focal_ken", "admin"]


@pytest.mark.parametrize("who", OUTSIDERS + INSIDERS)
async def test_every_read_path_shows_only_permitted_actions_and_reports(app_client, tracked, tokens, who):
    token = tokens[who]
    inside = who in INSIDERS
    t = tracked
    actions = {t["public"], t["private"]} if inside else {t["public"]}
    reports = {t["public_report"], t["private_report"], t["report_on_private"]} if inside else {t["public_report"]}
    query = """
    query($rec: ID!, $need: ID!, $action: ID!, $ids: [ID!]!) {
      implementationActions(first: 5) { totalCount edges { node { id status latestProgressReport { id narrative }
        progressReports(first: 5) { totalCount edges { node { id narrative comments(first: 2) { totalCount } } } } } } }
      rec: node(id: $rec) { ... on Recommendation { implementation { status actionCount }
        actions(first: 5) { totalCount edges { node { id } } } } }
      need: node(id: $need) { ... on Need { actions(first: 5) { totalCount edges { node { id } } } } }
      action: node(id: $action) { ... on ImplementationAction { status progressReports(first: 1) { totalCount } needs(first: 1) { totalCount } } }
      nodes(ids: $ids) { id }
      filtered: implementationActions(first: 1, filter: {visibilities: [PRIVATE], states: ["KEN"]}) { totalCount }
      byStatus: implementationActions(first: 1, filter: {statuses: [ONGOING]}) { totalCount }
      summary: implementationSummary(state: "KEN", cycle: 3) { recommendations accepted noted acceptedCovered
        acceptedWithRecentProgress acceptedCompleted actions }
    }"""
    all_ids = [t["public"], t["private"], t["public_report"], t["private_report"], t["report_on_private"]]
    body = await gql(
        app_client,
        query,
        {
            "rec": gid("Recommendation", t["recs"][0]),
            "need": gid("Need", t["need"]),
            "action": t["public"],
            "ids": all_ids,
        },
        token=token,
    )
    assert "errors" not in body, body
    data = body["data"]
    listed = data["implementationActions"]
    assert {e["node"]["id"] for e in listed["edges"]} == actions
    assert listed["totalCount"] == len(actions)
    assert {e["node"]["id"] for e in data["rec"]["actions"]["edges"]} == actions
    assert data["rec"]["actions"]["totalCount"] == len(actions)
    assert {e["node"]["id"] for e in data["need"]["actions"]["edges"]} == actions
    seen_reports = {r["node"]["id"] for e in listed["edges"] for r in e["node"]["progressReports"]["edges"]}
    assert seen_reports == reports
    assert {n["id"] for n in data["nodes"] if n} == actions | reports
    text = json.dumps(data)
    if not inside:
        assert "Hidden" not in text and "Secret" not in text
        # The hidden later PARTIAL report does not show through the action's status.
        public = next(e["node"] for e in listed["edges"] if e["node"]["id"] == t["public"])
        assert public["status"] == "COMPLETED" and public["latestProgressReport"]["id"] == t["public_report"]
        assert data["action"]["progressReports"]["totalCount"] == 1
        assert data["rec"]["implementation"] == {"status": "COMPLETED", "actionCount": 1}
        assert data["filtered"]["totalCount"] == 0
        assert data["byStatus"]["totalCount"] == 0
        assert data["summary"] == {
            "recommendations": 3,
            "accepted": 2,
            "noted": 1,
            "acceptedCovered": 1,
            "acceptedWithRecentProgress": 1,
            "acceptedCompleted": 1,
            "actions": 1,
        }
    else:
        public = next(e["node"] for e in listed["edges"] if e["node"]["id"] == t["public"])
        assert public["status"] == "PARTIAL" and public["latestProgressReport"]["id"] == t["private_report"]
        assert data["rec"]["implementation"] == {"status": "PARTIAL", "actionCount": 2}
        assert data["filtered"]["totalCount"] == 1
        assert data["byStatus"]["totalCount"] == 1
        assert data["summary"] == {
            "recommendations": 3,
            "accepted": 2,
            "noted": 1,
            "acceptedCovered": 2,
            "acceptedWithRecentProgress": 2,
            "acceptedCompleted": 0,
            "actions": 2,
        }
    # The need stays under the needs' own rule: PUBLIC, so everyone who sees the action sees it.
    assert data["action"]["needs"]["totalCount"] == 1


async def test_a_hidden_action_or_report_looks_exactly_like_a_missing_one(app_client, tracked):
    missing = await gql(
        app_client, "query($id: ID!) { node(id: $id) { id } }", {"id": gid("ImplementationAction", 999999)}
    )
    for hidden in (tracked["private"], tracked["private_report"], tracked["report_on_private"]):
        single = await gql(app_client, "query($id: ID!) { node(id: $id) { id } }", {"id": hidden})
        assert single["data"] == missing["data"] == {"node": None}
        assert "errors" not in single


@pytest.mark.parametrize("who", ["anonymous", "donor"])
async def test_changes_never_list_a_private_action_or_report(app_client, tracked, tokens, who):
    query = "{ changes(since: 0, first: 100) { edges { node { entityType id kind } } } }"
    outsider = await gql(app_client, query, token=tokens[who])
    insider = await gql(app_client, query, token=tokens["focal_ken"])
    assert "errors" not in outsider and "errors" not in insider
    seen = {
        e["node"]["id"]
        for e in outsider["data"]["changes"]["edges"]
        if e["node"]["entityType"] in ("ImplementationAction", "ProgressReport")
    }
    all_seen = {
        e["node"]["id"]
        for e in insider["data"]["changes"]["edges"]
        if e["node"]["entityType"] in ("ImplementationAction", "ProgressReport")
    }
    assert tracked["public"] in seen and tracked["public_report"] in seen
    assert tracked["private"] not in seen
    assert tracked["private_report"] not in seen and tracked["report_on_private"] not in seen
    assert {tracked["private"], tracked["private_report"], tracked["report_on_private"]} <= all_seen


async def test_publishing_a_report_makes_it_visible_but_not_through_a_private_action(app_client, tracked, tokens):
    publish = """mutation($id: ID!) { updateProgressReport(input: {id: $id, visibility: PUBLIC}) {
      progressReport { id visibility } userErrors { code } } }"""
    await ok(app_client, publish, {"id": tracked["private_report"]}, tokens["focal_ken"], "updateProgressReport")
    body = await gql(
        app_client,
        "query($id: ID!) { node(id: $id) { ... on ProgressReport { narrative action { id } } } }",
        {"id": tracked["private_report"]},
    )
    assert body["data"]["node"]["narrative"] == "Hidden setback in two courts."
    # A PUBLIC report of a PRIVATE action stays hidden.
    body = await gql(app_client, "query($id: ID!) { node(id: $id) { id } }", {"id": tracked["report_on_private"]})
    assert body["data"]["node"] is None


# -- permissions ----------------------------------------------------------------------------


async def test_only_the_states_focal_points_write(app_client, tracked, tokens, sessionmaker):
    base = {"title": "X", "leadInstitution": {"name": "Parliament", "kind": "PARLIAMENT"}}
    anonymous = await gql(app_client, CREATE_ACTION, {"input": {"state": "KEN", **base}})
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    for who in ("focal_uga", "donor", "nhri", "admin"):
        body = await gql(app_client, CREATE_ACTION, {"input": {"state": "KEN", **base}}, token=tokens[who])
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", (who, body)
    update = "mutation($input: UpdateImplementationActionInput!) { updateImplementationAction(input: $input) { action { id } userErrors { code } } }"
    # Sees the PUBLIC action but may not change it; does not see the PRIVATE one at all.
    body = await gql(
        app_client, update, {"input": {"id": tracked["public"], "title": "Mine"}}, token=tokens["focal_uga"]
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await gql(app_client, update, {"input": {"id": tracked["private"], "title": "Mine"}}, token=tokens["donor"])
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    body = await gql(
        app_client,
        REPORT,
        {"input": {"actionId": tracked["private"], "reportedOn": str(TODAY), "status": "COMPLETED"}},
        token=tokens["focal_uga"],
    )
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    body = await gql(
        app_client, CREATE_INDICATOR, {"input": {"actionId": tracked["public"], "name": "x"}}, token=tokens["donor"]
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    async with sessionmaker() as session:
        titles = set((await session.execute(sa.select(ImplementationAction.title))).scalars())
    assert titles == {"E-filing in all county courts", "Secret bail reform"}


async def test_nhris_and_civil_society_comment_on_reports_they_can_see(app_client, tracked, tokens, sessionmaker):
    payload = await ok(
        app_client,
        COMMENT,
        {"input": {"reportId": tracked["public_report"], "body": "Two courts still lack connectivity."}},
        tokens["nhri"],
        "addProgressComment",
    )
    assert payload["comment"]["organization"]["name"] == "Kenya National Commission on Human Rights"
    await ok(
        app_client,
        COMMENT,
        {"input": {"reportId": tracked["public_report"], "body": "Agreed."}},
        tokens["cso"],
        "addProgressComment",
    )
    for who, code in (("donor", "FORBIDDEN"), ("focal_ken", "FORBIDDEN"), ("anonymous", "UNAUTHENTICATED")):
        body = await gql(
            app_client, COMMENT, {"input": {"reportId": tracked["public_report"], "body": "x"}}, token=tokens[who]
        )
        assert body["errors"][0]["extensions"]["code"] == code, who
    body = await gql(
        app_client, COMMENT, {"input": {"reportId": tracked["private_report"], "body": "x"}}, token=tokens["nhri"]
    )
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    body = await gql(
        app_client, COMMENT, {"input": {"reportId": tracked["public_report"], "body": "   "}}, token=tokens["nhri"]
    )
    assert body["data"]["addProgressComment"]["userErrors"][0]["code"] == "REQUIRED"
    read = await gql(
        app_client,
        "query($id: ID!) { node(id: $id) { ... on ProgressReport { comments { totalCount edges { node { body } } } } } }",
        {"id": tracked["public_report"]},
    )
    assert [e["node"]["body"] for e in read["data"]["node"]["comments"]["edges"]] == [
        "Two courts still lack connectivity.",
        "Agreed.",
    ]
    async with sessionmaker() as session:
        assert (await session.execute(sa.select(sa.func.count()).select_from(ProgressComment))).scalar_one() == 2


async def test_every_change_is_audited(app_client, tracked, tokens, sessionmaker):
    await ok(
        app_client,
        COMMENT,
        {"input": {"reportId": tracked["public_report"], "body": "Noted."}},
        tokens["nhri"],
        "addProgressComment",
    )
    await ok(
        app_client,
        'mutation($id: ID!) { updateIndicator(input: {id: $id, target: "40"}) { indicator { target } userErrors { code } } }',
        {"id": tracked["indicator"]},
        tokens["focal_ken"],
        "updateIndicator",
    )
    async with sessionmaker() as session:
        rows = (await session.execute(sa.select(AuditEvent.entity_type, AuditEvent.action, AuditEvent.after))).all()
    kinds = {(t, a) for t, a, _ in rows}
    assert {
        ("ImplementationAction", "create"),
        ("Indicator", "create"),
        ("Indicator", "update"),
        ("ProgressReport", "create"),
        ("ProgressComment", "create"),
    } <= kinds
    created = [
        after
        for t, a, after in rows
        if t == "ImplementationAction" and a == "create" and after["title"].startswith("Secret")
    ]
    assert len(created[0]["recommendation_ids"]) == 2


# -- bad input ------------------------------------------------------------------------------


async def test_bad_input_is_reported_field_by_field_and_nothing_is_written(
    app_client, world, tracked, tokens, sessionmaker
):
    focal = tokens["focal_ken"]
    other_state = await world.recommendation("UGA", "Something for Uganda.")
    body = await gql(
        app_client,
        CREATE_ACTION,
        {
            "input": {
                "state": "KEN",
                "title": " ",
                "leadInstitution": {"name": "", "kind": "NHRI"},
                "startDate": "2027-01-01",
                "endDate": "2026-01-01",
                "recommendationIds": [gid("Recommendation", other_state)],
            }
        },
        token=focal,
    )
    errors = {(tuple(e["field"]), e["code"]) for e in body["data"]["createImplementationAction"]["userErrors"]}
    assert errors == {
        (("input", "title"), "REQUIRED"),
        (("input", "leadInstitution", "name"), "REQUIRED"),
        (("input", "endDate"), "DATE_ORDER"),
        (("input", "recommendationIds"), "OTHER_STATE"),
    }
    body = await gql(
        app_client,
        CREATE_ACTION,
        {"input": {"state": "XXX", "title": "x", "leadInstitution": {"name": "x", "kind": "NHRI"}}},
        token=focal,
    )
    assert body["data"]["createImplementationAction"]["userErrors"][0]["code"] == "UNKNOWN_CODE"
    other_indicator = (
        await ok(
            app_client,
            CREATE_INDICATOR,
            {"input": {"actionId": tracked["private"], "name": "Bail hearings"}},
            focal,
            "createIndicator",
        )
    )["indicator"]
    body = await gql(
        app_client,
        REPORT,
        {
            "input": {
                "actionId": tracked["public"],
                "reportedOn": str(TODAY + timedelta(days=1)),
                "status": "ONGOING",
                "evidenceLinks": ["javascript:alert(1)"],
                "indicatorValues": [{"indicatorId": other_indicator["id"], "value": "1.23456"}],
            }
        },
        token=focal,
    )
    errors = {(".".join(e["field"]), e["code"]) for e in body["data"]["reportProgress"]["userErrors"]}
    assert errors == {
        ("input.reportedOn", "FUTURE_DATE"),
        ("input.evidenceLinks.0", "INVALID_URL"),
        ("input.indicatorValues.0.indicatorId", "NOT_FOUND"),
        ("input.indicatorValues.0.value", "INVALID"),
    }
    body = await gql(
        app_client,
        REPORT,
        {"input": {"actionId": gid("Need", 1), "reportedOn": str(TODAY), "status": "ONGOING"}},
        token=focal,
    )
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    body = await gql(
        app_client,
        CREATE_INDICATOR,
        {"input": {"actionId": tracked["public"], "name": "n", "baseline": "1e20"}},
        token=focal,
    )
    assert body["data"]["createIndicator"]["userErrors"][0]["code"] == "TOO_LARGE"
    body = await gql(app_client, '{ implementationSummary(state: "KEN", cycle: 99) { accepted } }')
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    body = await gql(app_client, '{ implementationSummary(state: "ZZZ", cycle: 3) { accepted } }')
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    async with sessionmaker() as session:
        assert (await session.execute(sa.select(sa.func.count()).select_from(ImplementationAction))).scalar_one() == 2
        assert (await session.execute(sa.select(sa.func.count()).select_from(ProgressReport))).scalar_one() == 3
        assert (await session.execute(sa.select(sa.func.count()).select_from(IndicatorValue))).scalar_one() == 1


async def test_an_update_replaces_the_cluster_and_keeps_the_rest(app_client, tracked, tokens):
    rec1, rec2, rec3 = tracked["recs"]
    update = """mutation($input: UpdateImplementationActionInput!) { updateImplementationAction(input: $input) {
      action { title visibility recommendations { edges { node { id } } } supportingInstitutions { name } }
      userErrors { field code } } }"""
    payload = await ok(
        app_client,
        update,
        {"input": {"id": tracked["public"], "recommendationIds": [gid("Recommendation", rec3)]}},
        tokens["focal_ken"],
        "updateImplementationAction",
    )
    action = payload["action"]
    assert action["title"] == "E-filing in all county courts" and action["visibility"] == "PUBLIC"
    assert [e["node"]["id"] for e in action["recommendations"]["edges"]] == [gid("Recommendation", rec3)]
    assert action["supportingInstitutions"] == [{"name": "Ministry of ICT"}]


# -- roll-ups -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statuses, expected",
    [
        ([], None),
        ([S.COMPLETED, S.COMPLETED], S.COMPLETED),
        ([S.COMPLETED, S.NOT_STARTED], S.PARTIAL),
        ([S.PARTIAL, S.ONGOING], S.PARTIAL),
        ([S.ONGOING, S.NOT_STARTED], S.ONGOING),
        ([S.NOT_STARTED], S.NOT_STARTED),
    ],
)
def test_roll_up_rule(statuses, expected):
    assert rolled_up(statuses) is expected


def test_year_before_handles_leap_days():
    assert year_before(date(2028, 2, 29)) == date(2027, 2, 28)
    assert year_before(date(2027, 6, 1)) == date(2026, 6, 1)


async def test_recent_progress_window_ends_as_of(app_client, tracked, tokens):
    query = 'query($d: Date) { implementationSummary(state: "KEN", cycle: 3, asOf: $d) { acceptedWithRecentProgress asOf } }'
    # Two years on, nothing reported is within 12 months; before the first report, nothing either.
    late = await gql(app_client, query, {"d": str(TODAY + timedelta(days=730))}, token=tokens["focal_ken"])
    assert late["data"]["implementationSummary"]["acceptedWithRecentProgress"] == 0
    early = await gql(app_client, query, {"d": str(TODAY - timedelta(days=61))}, token=tokens["focal_ken"])
    assert early["data"]["implementationSummary"]["acceptedWithRecentProgress"] == 0
    after_first = await gql(app_client, query, {"d": str(TODAY - timedelta(days=30))}, token=tokens["focal_ken"])
    assert after_first["data"]["implementationSummary"]["acceptedWithRecentProgress"] == 1


# -- mid-term export ------------------------------------------------------------------------


async def test_midterm_export_has_the_nrtd_shape_under_the_callers_visibility(tracked, sessionmaker):
    rec1, rec2, rec3 = tracked["recs"]
    async with sessionmaker() as session:
        out = io.StringIO()
        count = await export_midterm(
            session=session, principal=ANONYMOUS, state_iso3="ken", cycle=3, fmt="csv", out=out
        )
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert count == len(rows) == 3  # one row per recommendation: rec1 has one visible action
    assert list(rows[0]) == [
        "recommendation_id",
        "recommendation",
        "recommending_states",
        "session",
        "response",
        "cluster",
        "recommendation_status",
        "action_id",
        "action",
        "lead_institution",
        "lead_institution_kind",
        "supporting_institutions",
        "start_date",
        "end_date",
        "status",
        "latest_progress_date",
        "latest_progress",
    ]
    by_rec = {r["recommendation_id"]: r for r in rows}
    first = by_rec[gid("Recommendation", rec1)]
    assert first["action"] == "E-filing in all county courts" and first["lead_institution"] == "Judiciary of Kenya"
    assert first["status"] == "COMPLETED" and first["latest_progress"] == "Public progress: all courts file online."
    assert (
        first["response"] == "SUPPORTED"
        and first["cluster"] == "JUSTICE"
        and first["supporting_institutions"] == "Ministry of ICT"
    )
    assert (
        by_rec[gid("Recommendation", rec2)]["action"] == ""
        and by_rec[gid("Recommendation", rec2)]["recommendation_status"] == ""
    )
    assert by_rec[gid("Recommendation", rec3)]["response"] == "NOTED"
    assert "Hidden" not in out.getvalue() and "Secret" not in out.getvalue()

    focal = Principal(role=Role.STATE_FOCAL_POINT, state_iso3="KEN")
    async with sessionmaker() as session:
        out = io.StringIO()
        count = await export_midterm(session=session, principal=focal, state_iso3="KEN", cycle=3, fmt="json", out=out)
    rows = json.loads(out.getvalue())
    assert count == len(rows) == 4  # rec1 × 2 actions, rec2 × 1, rec3 without
    rec1_rows = [r for r in rows if r["recommendation_id"] == gid("Recommendation", rec1)]
    assert {r["action"] for r in rec1_rows} == {"E-filing in all county courts", "Secret bail reform"}
    assert {r["recommendation_status"] for r in rec1_rows} == {"PARTIAL"}
    efiling = next(r for r in rec1_rows if r["action"].startswith("E-filing"))
    assert efiling["latest_progress"] == "Hidden setback in two courts." and efiling["status"] == "PARTIAL"


async def test_midterm_export_refuses_bad_state_cycle_and_format(sessionmaker):
    from service.errors import InvalidInput

    for kwargs in (
        {"state_iso3": "NOPE", "cycle": 3, "fmt": "csv"},
        {"state_iso3": "KEN", "cycle": 0, "fmt": "csv"},
        {"state_iso3": "KEN", "cycle": 3, "fmt": "xml"},
    ):
        async with sessionmaker() as session:
            with pytest.raises(InvalidInput):
                await export_midterm(session=session, principal=ANONYMOUS, out=io.StringIO(), **kwargs)


@pytest.mark.parametrize(
    "who, sees_private",
    [
        (ANONYMOUS, False),
        (Principal(role=Role.DONOR, organization_id=1), False),
        (Principal(role=Role.STATE_FOCAL_POINT, state_iso3="UGA"), False),
        (Principal(role=Role.STATE_FOCAL_POINT, state_iso3="KEN"), True),
    ],
)
async def test_subscribers_receive_tracking_events_only_under_the_visibility_they_record(
    tracked, sessionmaker, who, sees_private
):
    """The decision live delivery and replay both take (`SubscriberState.decide`)."""
    from service.events.broker import EventRow
    from service.events.feed import EventFilter, SubscriberState, VisibilityCache
    from service.models import Event

    async with sessionmaker() as session:
        events = (
            (
                await session.execute(
                    sa.select(Event)
                    .where(Event.entity_type.in_(["ImplementationAction", "ProgressReport"]))
                    .order_by(Event.sequence)
                )
            )
            .scalars()
            .all()
        )
    cache = VisibilityCache(sessionmaker)
    subscriber = SubscriberState(who, EventFilter())
    delivered = set()
    for event in events:
        row = EventRow(
            event.sequence,
            event.kind,
            event.entity_type,
            event.entity_id,
            event.need_id,
            tuple(event.states),
            tuple(event.themes),
            tuple(event.organization_ids),
            event.payload,
            event.occurred_at,
        )
        decision = await subscriber.decide(row, cache)
        if decision is not None:
            assert not decision.removed
            delivered.add(gid(event.entity_type, event.entity_id))
    public = {tracked["public"], tracked["public_report"]}
    hidden = {tracked["private"], tracked["private_report"], tracked["report_on_private"]}
    assert public <= delivered
    assert (hidden <= delivered) if sees_private else not (hidden & delivered)


@pytest.mark.parametrize("field", ["CREATED_AT", "UPDATED_AT", "TITLE", "END_DATE"])
@pytest.mark.parametrize("direction", ["ASC", "DESC"])
async def test_every_order_pages_through_all_actions_once(app_client, tracked, tokens, field, direction):
    """The PRIVATE action has no end date: END_DATE puts it last ascending, first descending."""
    query = """query($order: ImplementationActionOrder, $after: String) {
      implementationActions(first: 1, after: $after, orderBy: $order) {
        edges { node { id endDate title } } pageInfo { hasNextPage endCursor } } }"""
    seen, after = [], None
    for _ in range(5):
        body = await gql(
            app_client,
            query,
            {"order": {"field": field, "direction": direction}, "after": after},
            token=tokens["focal_ken"],
        )
        assert "errors" not in body, body
        page = body["data"]["implementationActions"]
        seen += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert sorted(n["id"] for n in seen) == sorted([tracked["public"], tracked["private"]])
    if field == "END_DATE":
        assert (seen[-1]["endDate"] is None) == (direction == "ASC")
    if field == "TITLE":
        titles = [n["title"] for n in seen]
        assert titles == sorted(titles, reverse=direction == "DESC")
