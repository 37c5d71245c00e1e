"""Roll-ups: a recommendation's implementation status from its actions, and a State's
figures for a UPR cycle. Everything is computed over what the caller may see: a private
action or report never moves a figure an outsider reads.

The rule (documented in the README):
- an action's status is that of its latest visible progress report, NOT_STARTED without one;
- a recommendation's status, over the visible actions that cluster it: none → null (not
  covered); all COMPLETED → COMPLETED; any COMPLETED or PARTIAL → PARTIAL; any ONGOING →
  ONGOING; else NOT_STARTED.
- "accepted" means response SUPPORTED; "with recent progress": a visible progress report
  dated in the 12 months up to `as_of` (inclusive) on a visible action clustering it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.principals import Principal
from service.access.visibility import visible_actions, visible_progress_reports
from service.errors import InvalidInput
from service.models import ActionRecommendation, ImplementationAction, ProgressReport, Recommendation, Review
from service.models.enums import ImplementationStatus, RecommendationResponse
from service.tracking.actions import current_status
from service.vocabulary import state_exists

S = ImplementationStatus


def rolled_up(statuses: Iterable[ImplementationStatus]) -> ImplementationStatus | None:
    """A recommendation's status from its actions' statuses (see the module docstring)."""
    found = list(statuses)
    if not found:
        return None
    if all(s is S.COMPLETED for s in found):
        return S.COMPLETED
    if any(s in (S.COMPLETED, S.PARTIAL) for s in found):
        return S.PARTIAL
    if any(s is S.ONGOING for s in found):
        return S.ONGOING
    return S.NOT_STARTED


@dataclass(frozen=True)
class RecommendationImplementation:
    status: ImplementationStatus | None
    action_count: int


async def action_statuses_per_recommendation(
    *, session: AsyncSession, principal: Principal, recommendation_ids: Sequence[int]
) -> dict[int, list[tuple[int, ImplementationStatus]]]:
    """(action id, status) of each visible action clustering each recommendation."""
    stmt = (
        sa.select(ActionRecommendation.recommendation_id, ImplementationAction.id, current_status(principal))
        .join(ImplementationAction, ImplementationAction.id == ActionRecommendation.action_id)
        .where(ActionRecommendation.recommendation_id.in_(list(recommendation_ids)), visible_actions(principal))
        .order_by(ActionRecommendation.recommendation_id, ImplementationAction.id)
    )
    grouped: dict[int, list[tuple[int, ImplementationStatus]]] = {rid: [] for rid in recommendation_ids}
    for rid, aid, status in (await session.execute(stmt)).all():
        grouped[rid].append((aid, S(status)))
    return grouped


async def implementation_of(
    *, session: AsyncSession, principal: Principal, recommendation_ids: Sequence[int]
) -> dict[int, RecommendationImplementation]:
    grouped = await action_statuses_per_recommendation(
        session=session, principal=principal, recommendation_ids=recommendation_ids
    )
    return {
        rid: RecommendationImplementation(rolled_up(s for _, s in pairs), len(pairs)) for rid, pairs in grouped.items()
    }


def year_before(day: date) -> date:
    """The same calendar day a year earlier (28 February for 29 February)."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


@dataclass(frozen=True)
class ImplementationSummary:
    state_iso3: str
    cycle: int
    as_of: date
    recommendations: int
    accepted: int
    noted: int
    accepted_covered: int
    accepted_with_recent_progress: int
    accepted_completed: int
    accepted_by_status: dict[ImplementationStatus, int]  # covered accepted ones by rolled-up status
    actions: int


async def check_state_cycle(session: AsyncSession, state_iso3: str, cycle: int) -> str:
    code = (state_iso3 or "").strip().upper()
    if not await state_exists(session, code):
        raise InvalidInput(f"Unknown State code {code!r}: use an ISO 3166 alpha-3 code such as KEN.", field="state")
    if not 1 <= cycle <= 10:
        raise InvalidInput(f"A UPR cycle is a number from 1 (2008–11) to 4 (2022–27); got {cycle}.", field="cycle")
    return code


async def cycle_recommendations(session: AsyncSession, state_iso3: str, cycle: int) -> list[Recommendation]:
    """The recommendations a State received in a cycle (public data)."""
    stmt = (
        sa.select(Recommendation)
        .join(Review, Review.id == Recommendation.review_id)
        .where(Review.state_iso3 == state_iso3, Review.cycle == cycle)
        .order_by(Recommendation.id)
    )
    return list((await session.execute(stmt)).scalars().all())


async def summary(
    *, session: AsyncSession, principal: Principal, state_iso3: str, cycle: int, as_of: date | None = None
) -> ImplementationSummary:
    code = await check_state_cycle(session, state_iso3, cycle)
    as_of = as_of or date.today()
    recommendations = await cycle_recommendations(session, code, cycle)
    accepted = [r.id for r in recommendations if r.response is RecommendationResponse.SUPPORTED]
    noted = sum(1 for r in recommendations if r.response is RecommendationResponse.NOTED)
    per_recommendation = await implementation_of(session=session, principal=principal, recommendation_ids=accepted)
    recent_stmt = (
        sa.select(sa.distinct(ActionRecommendation.recommendation_id))
        .join(ImplementationAction, ImplementationAction.id == ActionRecommendation.action_id)
        .join(ProgressReport, ProgressReport.action_id == ImplementationAction.id)
        .where(
            ActionRecommendation.recommendation_id.in_(accepted),
            ProgressReport.reported_on > year_before(as_of),
            ProgressReport.reported_on <= as_of,
            visible_progress_reports(principal),
        )
    )
    recent = set((await session.execute(recent_stmt)).scalars().all()) if accepted else set()
    by_status = {s: 0 for s in S}
    for item in per_recommendation.values():
        if item.status is not None:
            by_status[item.status] += 1
    action_count = (
        await session.execute(
            sa.select(sa.func.count(sa.distinct(ImplementationAction.id)))
            .join(ActionRecommendation, ActionRecommendation.action_id == ImplementationAction.id)
            .join(Recommendation, Recommendation.id == ActionRecommendation.recommendation_id)
            .join(Review, Review.id == Recommendation.review_id)
            .where(Review.state_iso3 == code, Review.cycle == cycle, visible_actions(principal))
        )
    ).scalar_one()
    return ImplementationSummary(
        state_iso3=code,
        cycle=cycle,
        as_of=as_of,
        recommendations=len(recommendations),
        accepted=len(accepted),
        noted=noted,
        accepted_covered=sum(1 for i in per_recommendation.values() if i.status is not None),
        accepted_with_recent_progress=len(recent),
        accepted_completed=by_status[S.COMPLETED],
        accepted_by_status=by_status,
        actions=int(action_count),
    )
