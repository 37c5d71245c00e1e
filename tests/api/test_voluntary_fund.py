"""The UPR Voluntary Fund: scores that explain themselves and add up, an allocation within
the budget, re-weighting that re-ranks and says what moved, who may do what, who sees what
before and after approval, and bad input refused with nothing written."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from service.access.principals import Role
from service.fund import allocation
from service.fund.criteria import CRITERIA
from service.models import AuditEvent, Event, FundApplication, FundScore
from service.models.enums import Visibility
from service.models.fund import FundDecision
from tests.support import gql

pytestmark = pytest.mark.asyncio

TODAY = datetime.now(UTC).date()
ROUND_FIELDS = "round { id status criteria { version weights { criterion weight } } } userErrors { field message code }"
CREATE = f"""mutation($input: CreateFundRoundInput!) {{ createFundRound(input: $input) {{ {ROUND_FIELDS} }} }}"""
OPEN = f"mutation($id: ID!) {{ openFundRound(input: {{id: $id}}) {{ {ROUND_FIELDS} }} }}"
CLOSE = f"mutation($id: ID!) {{ closeFundRound(input: {{id: $id}}) {{ {ROUND_FIELDS} }} }}"
APPROVE = f"""mutation($round: ID!, $version: Int!) {{
  approveFundAllocation(input: {{roundId: $round, criteriaVersion: $version, note: "Board meeting"}}) {{ {ROUND_FIELDS} }} }}"""
SUBMIT = """mutation($input: SubmitFundApplicationInput!) { submitFundApplication(input: $input) {
  application { id state { code } score { score criteriaVersion breakdown { criterion rawValue unit normalisedValue weight contribution explanation } } }
  userErrors { field message code } } }"""
SET_CRITERIA = """mutation($round: ID!, $weights: [FundCriterionWeightInput!]!) {
  setFundCriteria(input: {roundId: $round, weights: $weights, note: "Board prefers co-financed projects"}) {
    criteria { version } movements { state previousRank rank moved previousScore score application { id } }
    userErrors { field message code } } }"""
APPLICATIONS = """query($f: FundApplicationFilter) { fundApplications(filter: $f, first: 50) { totalCount
  edges { node { id state { code } title decision allocated { amount } score { score } } } } }"""


def only_weight(key: str) -> list[dict]:
    return [{"criterion": c.key, "weight": 1.0 if c.key == key else 0.0} for c in CRITERIA]


def codes(body: dict) -> list[str | None]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]


@pytest.fixture
async def fund(world):
    keys = {
        "fund_admin": await world.key(Role.FUND_ADMINISTRATOR),
        "admin": await world.key(Role.ADMINISTRATOR),
        "ken": await world.key(Role.STATE_FOCAL_POINT, state="KEN"),
        "uga": await world.key(Role.STATE_FOCAL_POINT, state="UGA"),
        "donor": await world.key(Role.DONOR, organization=await world.organization("Norad")),
        "anonymous": None,
    }
    return keys


async def new_round(app_client, keys, *, budget: str = "100000", name: str = "2027 round", **extra) -> str:
    body = await gql(
        app_client,
        CREATE,
        {
            "input": {
                "name": name,
                "budget": {"amount": budget, "currency": "USD"},
                "opensOn": (TODAY - timedelta(days=1)).isoformat(),
                "closesOn": (TODAY + timedelta(days=30)).isoformat(),
                **extra,
            }
        },
        token=keys["fund_admin"],
    )
    assert body["data"]["createFundRound"]["userErrors"] == [], body
    round_id = body["data"]["createFundRound"]["round"]["id"]
    body = await gql(app_client, OPEN, {"id": round_id}, token=keys["fund_admin"])
    assert body["data"]["openFundRound"]["round"]["status"] == "OPEN", body
    return round_id


async def apply(
    app_client, keys, round_id, state: str, *, requested: str, co_financing: str = "0", need_ids=(), token=None
) -> dict:
    body = await gql(
        app_client,
        SUBMIT,
        {
            "input": {
                "roundId": round_id,
                "state": state,
                "title": f"Follow-up plan of {state}",
                "requested": {"amount": requested, "currency": "USD"},
                "coFinancing": co_financing,
                "needIds": list(need_ids),
            }
        },
        token=token or keys[state.lower()],
    )
    return body


async def test_breakdown_explains_each_criterion_and_adds_up_to_the_score(app_client, fund, world, sessionmaker):
    round_id = await new_round(app_client, fund)
    rec = await world.recommendation("UGA", "Strengthen the independence of the judiciary")
    await world.recommendation("UGA", "Ratify OP-CAT")
    need = await world.need(
        "UGA", visibility=Visibility.PARTNERS, recommendation_ids=[rec], estimated_cost=Decimal("80000"), currency="USD"
    )
    body = await apply(
        app_client, fund, round_id, "UGA", requested="40000", co_financing="10000", need_ids=[to_gid("Need", need)]
    )
    application = body["data"]["submitFundApplication"]["application"]
    score = application["score"]
    items = {i["criterion"]: i for i in score["breakdown"]}
    assert list(items) == [c.key for c in CRITERIA]  # every criterion, in the published order
    assert abs(sum(i["contribution"] for i in items.values()) - score["score"]) < 1e-9
    total_weight = sum(i["weight"] for i in items.values())
    for item in items.values():
        assert item["explanation"]
        assert abs(item["contribution"] - round(item["weight"] * item["normalisedValue"] / total_weight, 4)) < 1e-9
    assert items["ldc_sids"]["rawValue"] == 1.0 and "Least Developed" in items["ldc_sids"]["explanation"]
    assert items["unsupported_recommendations"]["rawValue"] == 1.0  # 2 of 2 accepted, none funded
    assert "2 of 2" in items["unsupported_recommendations"]["explanation"]
    assert items["funding_gap"]["unit"] == "USD" and items["funding_gap"]["rawValue"] == 80000.0
    assert items["funding_gap"]["normalisedValue"] == 1.0
    assert items["prior_support"]["normalisedValue"] == 1.0
    assert items["co_financing"]["rawValue"] == 0.2 and items["co_financing"]["normalisedValue"] == 0.4
    assert score["criteriaVersion"] == 1


def to_gid(type_name: str, key) -> str:
    from graphql_schema.relay import to_global_id

    return to_global_id(type_name, key)


async def test_allocation_is_greedy_within_the_budget_with_the_partial_funding_rule():
    candidates = [
        allocation.Candidate(1, 0.9, Decimal("60000")),
        allocation.Candidate(2, 0.8, Decimal("50000")),
        allocation.Candidate(3, 0.7, Decimal("30000")),
        allocation.Candidate(4, 0.6, Decimal("45000")),
    ]
    lines = allocation.allocate(candidates, budget=Decimal("100000"), min_partial_share=Decimal("0.5"), currency="USD")
    assert [(l.application_id, l.decision, l.amount) for l in lines] == [
        (1, FundDecision.FUNDED, Decimal("60000")),
        (2, FundDecision.PARTIALLY_FUNDED, Decimal("40000")),  # 80% of its request: at least half
        (3, FundDecision.NOT_FUNDED, Decimal(0)),
        (4, FundDecision.NOT_FUNDED, Decimal(0)),
    ]
    strict = allocation.allocate(candidates, budget=Decimal("100000"), min_partial_share=Decimal("0.9"), currency="USD")
    # 40,000 is under 90% of 50,000: skipped, and the smaller request below is funded in full.
    assert [(l.application_id, l.decision, l.amount) for l in strict] == [
        (1, FundDecision.FUNDED, Decimal("60000")),
        (2, FundDecision.NOT_FUNDED, Decimal(0)),
        (3, FundDecision.FUNDED, Decimal("30000")),
        (4, FundDecision.NOT_FUNDED, Decimal(0)),
    ]
    for result in (lines, strict):
        assert sum(l.amount for l in result) <= Decimal("100000")
    # Ties: the earlier application first.
    tied = allocation.allocate(
        [allocation.Candidate(7, 0.5, Decimal("10")), allocation.Candidate(5, 0.5, Decimal("10"))],
        budget=Decimal("10"),
        min_partial_share=Decimal("0.5"),
        currency="USD",
    )
    assert [(l.application_id, l.decision) for l in tied] == [(5, FundDecision.FUNDED), (7, FundDecision.NOT_FUNDED)]


async def test_reweighting_reranks_and_reports_what_moved(app_client, fund, sessionmaker):
    round_id = await new_round(app_client, fund)
    uga = (await apply(app_client, fund, round_id, "UGA", requested="50000"))["data"]["submitFundApplication"][
        "application"
    ]
    ken = (await apply(app_client, fund, round_id, "KEN", requested="50000", co_financing="50000"))["data"][
        "submitFundApplication"
    ]["application"]
    assert uga["score"]["score"] > ken["score"]["score"]  # LDC status weighs most by default

    body = await gql(
        app_client, SET_CRITERIA, {"round": round_id, "weights": only_weight("co_financing")}, token=fund["fund_admin"]
    )
    result = body["data"]["setFundCriteria"]
    assert result["userErrors"] == [] and result["criteria"]["version"] == 2
    moved = {m["state"]: m for m in result["movements"]}
    assert [m["state"] for m in result["movements"]] == ["KEN", "UGA"]
    assert (moved["KEN"]["previousRank"], moved["KEN"]["rank"], moved["KEN"]["moved"]) == (2, 1, 1)
    assert (moved["UGA"]["previousRank"], moved["UGA"]["rank"], moved["UGA"]["moved"]) == (1, 2, -1)
    assert moved["KEN"]["score"] == 1.0 and moved["UGA"]["score"] == 0.0
    assert moved["UGA"]["previousScore"] == uga["score"]["score"]

    query = """query($id: ID!) { node(id: $id) { ... on FundRound { criteria { version } criteriaHistory { version note }
      criteriaChanges(fromVersion: 1) { state rank previousRank }
      applications(first: 10) { edges { node { state { code } score { score criteriaVersion } v1: score(criteriaVersion: 1) { score } } } } } } }"""
    node = (await gql(app_client, query, {"id": round_id}, token=fund["fund_admin"]))["data"]["node"]
    assert node["criteria"]["version"] == 2 and [v["version"] for v in node["criteriaHistory"]] == [1, 2]
    assert [(c["state"], c["previousRank"], c["rank"]) for c in node["criteriaChanges"]] == [
        ("KEN", 2, 1),
        ("UGA", 1, 2),
    ]
    ranked = [e["node"] for e in node["applications"]["edges"]]
    assert [a["state"]["code"] for a in ranked] == ["KEN", "UGA"]  # listed in the new rank order
    assert ranked[1]["v1"]["score"] == uga["score"]["score"]  # earlier versions' scores are kept

    same = await gql(
        app_client, SET_CRITERIA, {"round": round_id, "weights": only_weight("co_financing")}, token=fund["fund_admin"]
    )
    assert [e["code"] for e in same["data"]["setFundCriteria"]["userErrors"]] == ["UNCHANGED"]
    async with sessionmaker() as session:
        audited = (
            (
                await session.execute(
                    sa.select(AuditEvent).where(AuditEvent.entity_type == "FundRound", AuditEvent.action == "criteria")
                )
            )
            .scalars()
            .all()
        )
        assert len(audited) == 1 and audited[0].after["version"] == 2
        kinds = (await session.execute(sa.select(Event.kind).where(Event.entity_type == "FundRound"))).scalars().all()
        assert kinds == ["FUND_ROUND_OPENED", "FUND_CRITERIA_CHANGED"]


async def test_who_may_apply_change_criteria_and_approve(app_client, fund):
    round_id = await new_round(app_client, fund)
    # A State cannot apply for another State; anonymous callers are asked to sign in.
    assert codes(await apply(app_client, fund, round_id, "KEN", requested="1000", token=fund["uga"])) == ["FORBIDDEN"]
    assert codes(
        await gql(
            app_client,
            SUBMIT,
            {
                "input": {
                    "roundId": round_id,
                    "state": "KEN",
                    "title": "x",
                    "requested": {"amount": "1", "currency": "USD"},
                }
            },
        )
    ) == ["UNAUTHENTICATED"]
    for who in ("fund_admin", "admin", "donor"):
        assert codes(await apply(app_client, fund, round_id, "KEN", requested="1000", token=fund[who])) == [
            "FORBIDDEN"
        ], who
    assert (await apply(app_client, fund, round_id, "KEN", requested="1000"))["data"]["submitFundApplication"][
        "userErrors"
    ] == []
    # Only Fund managers run rounds and change criteria.
    for who in ("ken", "donor"):
        assert codes(
            await gql(
                app_client,
                CREATE,
                {
                    "input": {
                        "name": "x",
                        "budget": {"amount": "1", "currency": "USD"},
                        "opensOn": "2027-01-01",
                        "closesOn": "2027-02-01",
                    }
                },
                token=fund[who],
            )
        ) == ["FORBIDDEN"]
        assert codes(
            await gql(
                app_client, SET_CRITERIA, {"round": round_id, "weights": only_weight("ldc_sids")}, token=fund[who]
            )
        ) == ["FORBIDDEN"]
        assert codes(await gql(app_client, CLOSE, {"id": round_id}, token=fund[who])) == ["FORBIDDEN"]
    assert (await gql(app_client, CLOSE, {"id": round_id}, token=fund["admin"]))["data"]["closeFundRound"]["round"][
        "status"
    ] == "CLOSED"
    # Only a Fund administrator approves: not an administrator, not the State.
    for who in ("admin", "ken", "donor"):
        assert codes(await gql(app_client, APPROVE, {"round": round_id, "version": 1}, token=fund[who])) == [
            "FORBIDDEN"
        ], who
    assert codes(await gql(app_client, APPROVE, {"round": round_id, "version": 1})) == ["UNAUTHENTICATED"]
    approved = await gql(app_client, APPROVE, {"round": round_id, "version": 1}, token=fund["fund_admin"])
    assert approved["data"]["approveFundAllocation"]["round"]["status"] == "ALLOCATED", approved
    # An administrator creates Fund administrator keys.
    key = await gql(
        app_client,
        'mutation { createApiKey(input: {role: FUND_ADMINISTRATOR, label: "Board secretary"}) { key apiKey { role } } }',
        token=fund["admin"],
    )
    assert key["data"]["createApiKey"]["apiKey"]["role"] == "FUND_ADMINISTRATOR", key


async def test_applications_are_the_states_until_approval_then_the_report_is_public(
    app_client, fund, world, sessionmaker
):
    secret_title = "Confidential witness protection assessment"
    private_need = await world.need(
        "UGA", title=secret_title, visibility=Visibility.PRIVATE, estimated_cost=Decimal("70000"), currency="USD"
    )
    round_id = await new_round(app_client, fund, budget="60000")
    uga = await apply(app_client, fund, round_id, "UGA", requested="50000", need_ids=[to_gid("Need", private_need)])
    uga = uga["data"]["submitFundApplication"]["application"]
    await apply(app_client, fund, round_id, "KEN", requested="40000")  # a second application to rank against
    gap = next(i for i in uga["score"]["breakdown"] if i["criterion"] == "funding_gap")
    assert gap["rawValue"] == 0.0 and "not counted" in gap["explanation"]  # a PRIVATE need's cost is never used

    def states(body):
        return sorted(e["node"]["state"]["code"] for e in body["data"]["fundApplications"]["edges"])

    before = {who: await gql(app_client, APPLICATIONS, {}, token=fund[who]) for who in fund}
    assert states(before["fund_admin"]) == states(before["admin"]) == ["KEN", "UGA"]
    assert states(before["ken"]) == ["KEN"] and before["ken"]["data"]["fundApplications"]["totalCount"] == 1
    assert states(before["uga"]) == ["UGA"]
    assert states(before["donor"]) == states(before["anonymous"]) == []
    node = "query($id: ID!) { node(id: $id) { id } }"
    assert (await gql(app_client, node, {"id": uga["id"]}, token=fund["ken"]))["data"]["node"] is None
    assert (await gql(app_client, node, {"id": uga["id"]}))["data"]["node"] is None
    proposal = "query($id: ID!) { node(id: $id) { ... on FundRound { allocationProposal { rank decision amount { amount } } } } }"
    assert codes(await gql(app_client, proposal, {"id": round_id}, token=fund["ken"])) == ["FORBIDDEN"]
    assert codes(await gql(app_client, proposal, {"id": round_id})) == ["UNAUTHENTICATED"]

    await gql(app_client, CLOSE, {"id": round_id}, token=fund["fund_admin"])
    lines = (await gql(app_client, proposal, {"id": round_id}, token=fund["fund_admin"]))["data"]["node"][
        "allocationProposal"
    ]
    assert sum(Decimal(l["amount"]["amount"]) for l in lines) <= Decimal("60000")
    assert [(l["rank"], l["decision"]) for l in lines] == [
        (1, "FUNDED"),
        (2, "NOT_FUNDED"),
    ]  # 10,000 left < half of 40,000
    approved = await gql(app_client, APPROVE, {"round": round_id, "version": 1}, token=fund["fund_admin"])
    assert approved["data"]["approveFundAllocation"]["userErrors"] == []

    report_query = """query($id: ID!) { node(id: $id) { ... on FundRound { status decisionReport { allocated { amount }
      approvalNote criteria { version } decisions { stateName application { state { code } decision rank allocated { amount }
      decisionReason needs { id title } } score { score breakdown { criterion contribution explanation } } } } } } }"""
    for who in ("anonymous", "donor", "ken"):
        body = await gql(app_client, report_query, {"id": round_id}, token=fund[who])
        report = body["data"]["node"]["decisionReport"]
        assert report["allocated"]["amount"] == "50000.00" and report["approvalNote"] == "Board meeting"
        decisions = report["decisions"]
        assert [(d["application"]["state"]["code"], d["application"]["decision"]) for d in decisions] == [
            ("UGA", "FUNDED"),
            ("KEN", "NOT_FUNDED"),
        ]
        for d in decisions:
            assert abs(sum(i["contribution"] for i in d["score"]["breakdown"]) - d["score"]["score"]) < 1e-9
            assert d["application"]["needs"] == []  # the PRIVATE need stays hidden
        assert secret_title not in json.dumps(body)
        assert states(await gql(app_client, APPLICATIONS, {}, token=fund[who])) == ["KEN", "UGA"]
    # The State still sees its own need through the application.
    own = await gql(
        app_client,
        "query($id: ID!) { node(id: $id) { ... on FundApplication { needs { title } } } }",
        {"id": uga["id"]},
        token=fund["uga"],
    )
    assert own["data"]["node"]["needs"] == [{"title": secret_title}]
    async with sessionmaker() as session:
        approval = (
            await session.execute(
                sa.select(AuditEvent).where(AuditEvent.entity_type == "FundRound", AuditEvent.action == "approve")
            )
        ).scalar_one()
        assert approval.actor_role == "FUND_ADMINISTRATOR" and len(approval.after["decisions"]) == 2
        event = (await session.execute(sa.select(Event).where(Event.kind == "FUND_ALLOCATION_APPROVED"))).scalar_one()
        assert event.states == [] and event.need_id is None


async def test_bad_input_is_refused_with_nothing_written(app_client, fund, world, sessionmaker):
    bad_round = await gql(
        app_client,
        CREATE,
        {
            "input": {
                "name": " ",
                "budget": {"amount": "-5", "currency": "XXQ"},
                "opensOn": "2027-02-01",
                "closesOn": "2027-01-01",
                "weights": [{"criterion": "popularity", "weight": 1}],
                "minPartialShare": "1.5",
            }
        },
        token=fund["fund_admin"],
    )
    errors = {(tuple(e["field"]), e["code"]) for e in bad_round["data"]["createFundRound"]["userErrors"]}
    assert {
        (("input", "name"), "REQUIRED"),
        (("input", "budget", "amount"), "NEGATIVE"),
        (("input", "budget", "currency"), "UNKNOWN_CODE"),
        (("input", "closesOn"), "INVALID"),
        (("input", "weights"), "UNKNOWN_CODE"),
        (("input", "minPartialShare"), "INVALID"),
    } <= errors
    round_id = await new_round(app_client, fund)
    other_need = await world.need("KEN")
    attempts = {
        "NEGATIVE": {"requested": {"amount": "-1", "currency": "USD"}},
        "CURRENCY_MISMATCH": {"requested": {"amount": "100", "currency": "EUR"}},
        "UNKNOWN_NEED": {"needIds": [to_gid("Need", other_need)]},
        "REQUIRED": {"title": "  "},
    }
    for code, change in attempts.items():
        variables = {
            "input": {
                "roundId": round_id,
                "state": "UGA",
                "title": "Plan",
                "requested": {"amount": "100", "currency": "USD"},
                **change,
            }
        }
        body = await gql(app_client, SUBMIT, variables, token=fund["uga"])
        assert code in [e["code"] for e in body["data"]["submitFundApplication"]["userErrors"]], (code, body)
    wrong_id = await gql(
        app_client,
        SUBMIT,
        {
            "input": {
                "roundId": to_gid("Need", 1),
                "state": "UGA",
                "title": "Plan",
                "requested": {"amount": "100", "currency": "USD"},
            }
        },
        token=fund["uga"],
    )
    assert codes(wrong_id) == ["BAD_USER_INPUT"]
    async with sessionmaker() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(FundApplication)) == 0
        assert await session.scalar(sa.select(sa.func.count()).select_from(FundScore)) == 0
    assert (await apply(app_client, fund, round_id, "UGA", requested="100"))["data"]["submitFundApplication"][
        "userErrors"
    ] == []
    again = await apply(app_client, fund, round_id, "UGA", requested="100")
    assert [e["code"] for e in again["data"]["submitFundApplication"]["userErrors"]] == ["DUPLICATE"]
    # Weights: every criterion, none negative; approval only of a closed round, under the criteria in force.
    missing = await gql(
        app_client,
        SET_CRITERIA,
        {"round": round_id, "weights": [{"criterion": "ldc_sids", "weight": -1}]},
        token=fund["fund_admin"],
    )
    assert {e["code"] for e in missing["data"]["setFundCriteria"]["userErrors"]} == {"REQUIRED", "INVALID"}
    twice = await gql(
        app_client,
        SET_CRITERIA,
        {"round": round_id, "weights": only_weight("ldc_sids") + [{"criterion": "ldc_sids", "weight": 2}]},
        token=fund["fund_admin"],
    )
    assert codes(twice) == ["BAD_USER_INPUT"] and "ldc_sids" in twice["errors"][0]["message"]
    nan_share = await gql(
        app_client,
        CREATE,
        {
            "input": {
                "name": "NaN",
                "budget": {"amount": "10", "currency": "USD"},
                "minPartialShare": "NaN",
                "opensOn": TODAY.isoformat(),
                "closesOn": TODAY.isoformat(),
            }
        },
        token=fund["fund_admin"],
    )
    assert codes(nan_share) == ["BAD_USER_INPUT"], nan_share  # refused at the boundary: not a number
    not_closed = await gql(app_client, APPROVE, {"round": round_id, "version": 1}, token=fund["fund_admin"])
    assert [e["code"] for e in not_closed["data"]["approveFundAllocation"]["userErrors"]] == ["ROUND_NOT_CLOSED"]
    await gql(app_client, CLOSE, {"id": round_id}, token=fund["fund_admin"])
    late = await apply(app_client, fund, round_id, "KEN", requested="100")
    assert [e["code"] for e in late["data"]["submitFundApplication"]["userErrors"]] == ["ROUND_NOT_OPEN"]
    await gql(
        app_client, SET_CRITERIA, {"round": round_id, "weights": only_weight("ldc_sids")}, token=fund["fund_admin"]
    )
    stale = await gql(app_client, APPROVE, {"round": round_id, "version": 1}, token=fund["fund_admin"])
    assert [e["code"] for e in stale["data"]["approveFundAllocation"]["userErrors"]] == ["STALE_CRITERIA"]
    async with sessionmaker() as session:
        assert (await session.execute(sa.select(FundApplication.decision))).scalars().all() == [None]
    # A DRAFT round is invisible to States: applying to it is "not found".
    draft = await gql(
        app_client,
        CREATE,
        {
            "input": {
                "name": "Draft",
                "budget": {"amount": "10", "currency": "USD"},
                "opensOn": TODAY.isoformat(),
                "closesOn": TODAY.isoformat(),
            }
        },
        token=fund["fund_admin"],
    )
    draft_id = draft["data"]["createFundRound"]["round"]["id"]
    assert codes(await apply(app_client, fund, draft_id, "UGA", requested="5")) == ["NOT_FOUND"]
    assert (await gql(app_client, "query($id: ID!) { node(id: $id) { id } }", {"id": draft_id}, token=fund["uga"]))[
        "data"
    ]["node"] is None


async def test_prior_support_counts_earlier_allocated_rounds(app_client, fund):
    earlier = await new_round(
        app_client, fund, name="2026 round", budget="50000", opensOn=(TODAY - timedelta(days=10)).isoformat()
    )
    await apply(app_client, fund, earlier, "UGA", requested="20000")
    await gql(app_client, CLOSE, {"id": earlier}, token=fund["fund_admin"])
    await gql(app_client, APPROVE, {"round": earlier, "version": 1}, token=fund["fund_admin"])
    later = await new_round(app_client, fund, name="2027 round", budget="80000")
    uga = (await apply(app_client, fund, later, "UGA", requested="20000"))["data"]["submitFundApplication"][
        "application"
    ]
    ken = (await apply(app_client, fund, later, "KEN", requested="20000"))["data"]["submitFundApplication"][
        "application"
    ]
    prior = {
        a["state"]["code"]: next(i for i in a["score"]["breakdown"] if i["criterion"] == "prior_support")
        for a in (uga, ken)
    }
    assert prior["UGA"]["rawValue"] == 20000.0 and prior["UGA"]["normalisedValue"] == 0.75  # 1 − 20,000 / 80,000
    assert "earlier rounds" in prior["UGA"]["explanation"]
    assert prior["KEN"]["rawValue"] == 0.0 and prior["KEN"]["normalisedValue"] == 1.0


async def test_cli_report_is_public_only_after_approval(app_client, fund, database_url, monkeypatch, capsys):
    import asyncio

    from service import cli
    from service.settings import get_settings

    round_id = await new_round(app_client, fund, budget="30000")
    await apply(app_client, fund, round_id, "UGA", requested="20000", co_financing="5000")
    await apply(app_client, fund, round_id, "KEN", requested="20000")
    await gql(app_client, CLOSE, {"id": round_id}, token=fund["fund_admin"])
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        code = await asyncio.to_thread(cli.main, ["fund", "report", "2027 round"])
        assert code == 2 and "Fund administrators" in capsys.readouterr().err  # not public before approval
        await gql(app_client, APPROVE, {"round": round_id, "version": 1}, token=fund["fund_admin"])
        assert await asyncio.to_thread(cli.main, ["fund", "report", "2027 round"]) == 0
        markdown = capsys.readouterr().out
        assert "| 1 | Uganda (UGA) | USD 20,000.00 |" in markdown and "FUNDED" in markdown
        assert "partially funded with the remaining USD 10,000.00 (50% of the request" in markdown
        assert await asyncio.to_thread(cli.main, ["fund", "report", "2027 round", "--format", "json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert [d["decision"] for d in report["decisions"]] == ["FUNDED", "PARTIALLY_FUNDED"]
        for d in report["decisions"]:
            assert abs(sum(i["contribution"] for i in d["breakdown"]) - d["score"]) < 1e-9
        assert await asyncio.to_thread(cli.main, ["fund", "report", "2027 round", "--format", "csv"]) == 0
        lines = capsys.readouterr().out.strip().splitlines()
        assert lines[0].startswith("rank,state,state_name") and len(lines) == 3
        assert await asyncio.to_thread(cli.main, ["fund", "report", "no such round"]) == 2
        assert "No Fund round" in capsys.readouterr().err
    finally:
        get_settings.cache_clear()
