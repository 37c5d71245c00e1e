"""The mid-term report of a State for a UPR cycle, in the shape of OHCHR's National
Recommendations Tracking Database: one row per recommendation and action clustering it
(a recommendation without a visible action still gets its row), with the recommendation's
response, its thematic cluster, the action, its lead institution, statuses and the latest
progress. Read under the caller's visibility like every read path: an anonymous export
holds only PUBLIC actions and reports.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.principals import Principal
from service.models import ImplementationAction, RecommendationRecommender, Review
from service.tracking import actions as actions_service
from service.tracking import progress as progress_service
from service.tracking.rollups import (
    action_statuses_per_recommendation,
    check_state_cycle,
    cycle_recommendations,
    rolled_up,
)

COLUMNS = [
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


def _global_id(type_name: str, key: Any) -> str:
    from service.exports import global_id

    return global_id(type_name, key)


async def midterm_rows(
    *, session: AsyncSession, principal: Principal, state_iso3: str, cycle: int
) -> list[dict[str, Any]]:
    code = await check_state_cycle(session, state_iso3, cycle)
    recommendations = await cycle_recommendations(session, code, cycle)
    rec_ids = [r.id for r in recommendations]
    sessions = dict(
        (
            await session.execute(
                sa.select(Review.id, Review.session).where(Review.state_iso3 == code, Review.cycle == cycle)
            )
        ).all()
    )
    recommenders: dict[int, list[str]] = {rid: [] for rid in rec_ids}
    for rid, iso3 in (
        await session.execute(
            sa.select(RecommendationRecommender.recommendation_id, RecommendationRecommender.state_iso3)
            .where(RecommendationRecommender.recommendation_id.in_(rec_ids))
            .order_by(RecommendationRecommender.recommendation_id, RecommendationRecommender.state_iso3)
        )
    ).all():
        recommenders[rid].append(iso3)
    per_rec = await action_statuses_per_recommendation(session=session, principal=principal, recommendation_ids=rec_ids)
    action_ids = sorted({aid for pairs in per_rec.values() for aid, _ in pairs})
    actions = await actions_service.get_actions(session=session, principal=principal, ids=action_ids)
    supporting = await actions_service.supporting_institutions_of(session=session, action_ids=action_ids)
    latest = await progress_service.latest_reports(session=session, principal=principal, action_ids=action_ids)

    rows: list[dict[str, Any]] = []
    for rec in recommendations:
        pairs = per_rec[rec.id]
        base = {
            "recommendation_id": _global_id("Recommendation", rec.id),
            "recommendation": rec.text,
            "recommending_states": recommenders[rec.id] + list(rec.other_recommenders),
            "session": sessions.get(rec.review_id),
            "response": rec.response.value if rec.response else None,
            "cluster": list(rec.themes),
            "recommendation_status": (s.value if (s := rolled_up(st for _, st in pairs)) else None),
        }
        if not pairs:
            rows.append(base | {c: None for c in COLUMNS if c not in base})
            continue
        for action_id, status in pairs:
            action: ImplementationAction = actions[action_id]
            report = latest.get(action_id)
            rows.append(
                base
                | {
                    "action_id": _global_id("ImplementationAction", action.id),
                    "action": action.title,
                    "lead_institution": action.lead_institution,
                    "lead_institution_kind": action.lead_institution_kind.value,
                    "supporting_institutions": [s.name for s in supporting[action_id]],
                    "start_date": action.start_date.isoformat() if action.start_date else None,
                    "end_date": action.end_date.isoformat() if action.end_date else None,
                    "status": status.value,
                    "latest_progress_date": report.reported_on.isoformat() if report else None,
                    "latest_progress": report.narrative if report else None,
                }
            )
    return rows
