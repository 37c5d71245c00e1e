"""Load the demo data (`demo_data.json`, written by us). Idempotent: each record is found by
its natural key and created only when missing, so re-running changes nothing and never
overwrites what people edited since."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from service.models import (
    AssistanceNeed,
    Capability,
    Match,
    MatchTransition,
    NeedPledge,
    NeedRecommendation,
    NeedStakeholder,
    Organization,
    Pledge,
    Programme,
    ProgrammeParticipant,
    ProgrammeRecipientState,
    Recommendation,
    RecommendationRecommender,
    Review,
)
from service.models.enums import (
    NeedStatus,
    OrganizationCategory,
    ParticipantRole,
    RecommendationResponse,
    StakeholderKind,
    Visibility,
)
from service.models.matching import MatchStatus
from service.models.recommendations import upr_cycle_of_session

DEMO_FILE = Path(__file__).parent / "demo_data.json"


# Year of each UPR Working Group session (three sessions a year since 2008).
def session_year(session: int) -> int:
    return 2008 + (session - 1) // 3


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _money(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


async def _first(session: AsyncSession, stmt) -> Any:
    return (await session.execute(stmt)).scalars().first()


async def load_demo(session: AsyncSession, path: Path = DEMO_FILE) -> dict[str, int]:
    data = json.loads(path.read_text(encoding="utf-8"))
    created = {
        k: 0
        for k in ("organizations", "recommendations", "pledges", "needs", "programmes", "capabilities", "engagements")
    }

    orgs: dict[str, int] = {}
    for o in data["organizations"]:
        row = await _first(session, sa.select(Organization).where(Organization.name == o["name"]))
        if row is None:
            row = Organization(
                name=o["name"],
                acronym=o.get("acronym"),
                category=OrganizationCategory(o["category"]),
                organisation_type=o.get("organisationType"),
                iati_identifier=o.get("iatiIdentifier"),
                state_iso3=o.get("state"),
            )
            session.add(row)
            await session.flush()
            created["organizations"] += 1
        orgs[o["key"]] = row.id

    reviews: dict[tuple[str, int], int] = {}

    async def review_id(state: str, upr_session: int) -> int:
        key = (state, upr_session)
        if key not in reviews:
            row = await _first(
                session, sa.select(Review).where(Review.state_iso3 == state, Review.session == upr_session)
            )
            if row is None:
                row = Review(
                    state_iso3=state,
                    session=upr_session,
                    cycle=upr_cycle_of_session(upr_session),
                    year=session_year(upr_session),
                )
                session.add(row)
                await session.flush()
            reviews[key] = row.id
        return reviews[key]

    recs: dict[str, int] = {}
    for r in data["recommendations"]:
        rid = await review_id(r["state"], r["session"])
        row = await _first(
            session, sa.select(Recommendation).where(Recommendation.review_id == rid, Recommendation.text == r["text"])
        )
        if row is None:
            row = Recommendation(
                review_id=rid,
                state_iso3=r["state"],
                text=r["text"],
                response=RecommendationResponse(r["response"]) if r.get("response") else None,
                action_category=r.get("actionCategory"),
                themes=r.get("themes", []),
                sdg_targets=r.get("sdgTargets", []),
                affected_persons=r.get("affectedPersons", []),
                source_reference=r.get("sourceReference"),
            )
            session.add(row)
            await session.flush()
            for code in r.get("recommendingStates", []):
                session.add(RecommendationRecommender(recommendation_id=row.id, state_iso3=code))
            created["recommendations"] += 1
        recs[r["key"]] = row.id

    pledges: dict[str, int] = {}
    for p in data["pledges"]:
        row = await _first(session, sa.select(Pledge).where(Pledge.state_iso3 == p["state"], Pledge.text == p["text"]))
        if row is None:
            row = Pledge(
                state_iso3=p["state"], text=p["text"], made_on=_date(p.get("madeOn")), themes=p.get("themes", [])
            )
            session.add(row)
            await session.flush()
            created["pledges"] += 1
        pledges[p["key"]] = row.id

    for n in data["needs"]:
        row = await _first(
            session,
            sa.select(AssistanceNeed).where(
                AssistanceNeed.state_iso3 == n["state"], AssistanceNeed.title == n["title"]
            ),
        )
        if row is not None:
            continue
        status = NeedStatus(n["status"])
        row = AssistanceNeed(
            state_iso3=n["state"],
            title=n["title"],
            description=n.get("description", ""),
            themes=n.get("themes", []),
            sectors=n.get("sectors", []),
            sdg_targets=n.get("sdgTargets", []),
            rights_dimensions=n.get("rightsDimensions", []),
            modalities=n.get("modalities", []),
            working_languages=n.get("workingLanguages", []),
            estimated_cost=_money(n.get("estimatedCost")),
            currency=n.get("currency") if n.get("estimatedCost") is not None else None,
            start_date=_date(n.get("startDate")),
            end_date=_date(n.get("endDate")),
            status=status,
            visibility=Visibility(n["visibility"]),
            submitted_at=sa.func.now() if status is not NeedStatus.DRAFT else None,
        )
        session.add(row)
        await session.flush()
        for key in n.get("recommendations", []):
            session.add(NeedRecommendation(need_id=row.id, recommendation_id=recs[key]))
        for key in n.get("pledges", []):
            session.add(NeedPledge(need_id=row.id, pledge_id=pledges[key]))
        for s in n.get("nationalStakeholders", []):
            session.add(NeedStakeholder(need_id=row.id, name=s["name"], kind=StakeholderKind(s["kind"])))
        created["needs"] += 1

    programme_ids: dict[str, int] = {}
    parents: list[tuple[int, str]] = []
    for p in data["programmes"]:
        row = await _first(session, sa.select(Programme).where(Programme.iati_identifier == p["iatiIdentifier"]))
        if row is None:
            budget = p.get("budget") or {}
            row = Programme(
                iati_identifier=p["iatiIdentifier"],
                title=p["title"],
                description=p.get("description", ""),
                reporting_organization_id=orgs[p["reportingOrganization"]],
                activity_status=p.get("activityStatus"),
                start_date=_date(p.get("startDate")),
                end_date=_date(p.get("endDate")),
                currency=budget.get("currency"),
                budget_amount=_money(budget.get("amount")),
                committed_amount=_money(p.get("committedAmount")),
                disbursed_amount=_money(p.get("disbursedAmount")),
                open_to_requests=p.get("openToRequests", True),
                is_global=p.get("isGlobal", False),
                sectors=p.get("sectors", []),
                themes=p.get("themes", []),
                sdg_targets=p.get("sdgTargets", []),
                modalities=p.get("modalities", []),
                languages=p.get("languages", []),
            )
            session.add(row)
            await session.flush()
            seen: set[tuple[int, str]] = set()
            for part in p.get("participants", []):
                key = (orgs[part["organization"]], part["role"])
                if key not in seen:
                    seen.add(key)
                    session.add(
                        ProgrammeParticipant(programme_id=row.id, organization_id=key[0], role=ParticipantRole(key[1]))
                    )
            for rs in p.get("recipientStates", []):
                session.add(
                    ProgrammeRecipientState(
                        programme_id=row.id, state_iso3=rs["state"], percentage=_money(rs.get("percentage"))
                    )
                )
            if p.get("parent"):
                parents.append((row.id, p["parent"]))
            created["programmes"] += 1
        programme_ids[p["key"]] = row.id
    for child_id, parent_key in parents:
        await session.execute(
            sa.update(Programme).where(Programme.id == child_id).values(parent_id=programme_ids[parent_key])
        )

    for c in data["capabilities"]:
        org_id = orgs[c["organization"]]
        row = await _first(
            session, sa.select(Capability).where(Capability.organization_id == org_id, Capability.title == c["title"])
        )
        if row is None:
            session.add(
                Capability(
                    organization_id=org_id,
                    title=c["title"],
                    description=c.get("description", ""),
                    themes=c.get("themes", []),
                    sectors=c.get("sectors", []),
                    modalities=c.get("modalities", []),
                    regions_served=c.get("regionsServed", []),
                    languages=c.get("languages", []),
                )
            )
            created["capabilities"] += 1
    await session.flush()
    created["engagements"] = await _load_engagements(session, data.get("engagements", []), orgs)

    from service.demo.tracking import load_tracking_demo

    created["implementation actions"] = await load_tracking_demo(session, recommendations=recs, organizations=orgs)

    from service.demo.fund import load_fund_demo

    created["fund_rounds"] = await load_fund_demo(session)
    return created


async def _load_engagements(session: AsyncSession, engagements: list[dict[str, Any]], orgs: dict[str, int]) -> int:
    """Engagements with their dated history (what Item 10 reports count): the need's match
    to the offer is scored as any suggestion, then moved along the history given. A match
    already past SUGGESTED is left as it is."""
    from datetime import UTC, datetime

    from service.matching.engine import rematch_needs

    created = 0
    for e in engagements:
        need = await _first(
            session,
            sa.select(AssistanceNeed).where(
                AssistanceNeed.state_iso3 == e["need"]["state"], AssistanceNeed.title == e["need"]["title"]
            ),
        )
        if "programme" in e:
            offer = Match.programme_id == (
                await _first(session, sa.select(Programme.id).where(Programme.iati_identifier == e["programme"]))
            )
        else:
            capability = e["capability"]
            offer = Match.capability_id == (
                await _first(
                    session,
                    sa.select(Capability.id).where(
                        Capability.organization_id == orgs[capability["organization"]],
                        Capability.title == capability["title"],
                    ),
                )
            )
        find = sa.select(Match).where(Match.need_id == need.id, offer)
        match = await _first(session, find)
        if match is None:
            await rematch_needs(session, [need.id])
            match = await _first(session, find)
        if match is None:
            raise ValueError(f"demo engagement {e['need']['title']!r}: the offer is not among the need's suggestions")
        if match.status is not MatchStatus.SUGGESTED:
            continue
        organization = await session.get(Organization, match.organization_id)
        proposer_role = (
            "AGENCY"
            if organization.category in (OrganizationCategory.UN_AGENCY, OrganizationCategory.UN_FUND)
            else "DONOR"
        )
        previous = MatchStatus.SUGGESTED
        for status, day in e["history"].items():
            to = MatchStatus(status)
            session.add(
                MatchTransition(
                    match_id=match.id,
                    from_status=previous,
                    to_status=to,
                    actor="demo",
                    actor_role="STATE_FOCAL_POINT" if to is MatchStatus.ENDORSED else proposer_role,
                    occurred_at=datetime.fromisoformat(day).replace(tzinfo=UTC),
                )
            )
            previous = to
        amount = _money(e.get("amount"))
        match.status = previous
        match.message = e["message"]
        match.amount_offered = match.agreed_amount = amount
        match.currency = e.get("currency") if amount is not None else None
        match.lessons_learned = e.get("lessons")
        created += 1
    await session.flush()
    return created
