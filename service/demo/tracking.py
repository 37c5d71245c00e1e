"""Demo implementation tracking (`tracking_data.json`, written by us): Kenya's 3rd and
Senegal's 4th UPR cycle, with actions of every visibility, indicators, progress over the
cycle and NHRI / civil-society comments. Idempotent like the rest of the demo: an action is
found by its State and title and left alone when it exists. Report dates are fixed or
`daysAgo`, so "progress in the last 12 months" shows on any day the demo is loaded."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from service.models import (
    ActionNeed,
    ActionRecommendation,
    AssistanceNeed,
    ImplementationAction,
    Indicator,
    IndicatorValue,
    ProgressComment,
    ProgressReport,
    SupportingInstitution,
)
from service.models.enums import ImplementationStatus, StakeholderKind, Visibility

TRACKING_FILE = Path(__file__).parent / "tracking_data.json"


def _reported_on(report: dict, today: date) -> date:
    if "daysAgo" in report:
        return today - timedelta(days=int(report["daysAgo"]))
    return date.fromisoformat(report["reportedOn"])


async def load_tracking_demo(
    session: AsyncSession,
    *,
    recommendations: dict[str, int],
    organizations: dict[str, int],
    path: Path = TRACKING_FILE,
    today: date | None = None,
) -> int:
    """Create the demo actions that are missing; returns how many were created."""
    today = today or date.today()
    data = json.loads(path.read_text(encoding="utf-8"))
    created = 0
    for a in data["actions"]:
        exists = (
            await session.execute(
                sa.select(ImplementationAction.id).where(
                    ImplementationAction.state_iso3 == a["state"], ImplementationAction.title == a["title"]
                )
            )
        ).scalar_one_or_none()
        if exists is not None:
            continue
        lead = a["lead"]
        action = ImplementationAction(
            state_iso3=a["state"],
            title=a["title"],
            description=a.get("description", ""),
            lead_institution=lead["name"],
            lead_institution_kind=StakeholderKind(lead["kind"]),
            lead_organization_id=organizations.get(lead["organization"]) if lead.get("organization") else None,
            start_date=date.fromisoformat(a["startDate"]) if a.get("startDate") else None,
            end_date=date.fromisoformat(a["endDate"]) if a.get("endDate") else None,
            visibility=Visibility(a["visibility"]),
        )
        session.add(action)
        await session.flush()
        for s in a.get("supporting", []):
            session.add(
                SupportingInstitution(
                    action_id=action.id,
                    name=s["name"],
                    kind=StakeholderKind(s["kind"]),
                    organization_id=organizations.get(s["organization"]) if s.get("organization") else None,
                )
            )
        for key in a.get("recommendations", []):
            session.add(ActionRecommendation(action_id=action.id, recommendation_id=recommendations[key]))
        for title in a.get("needs", []):
            need_id = (
                (
                    await session.execute(
                        sa.select(AssistanceNeed.id).where(
                            AssistanceNeed.state_iso3 == a["state"], AssistanceNeed.title == title
                        )
                    )
                )
                .scalars()
                .first()
            )
            if need_id is not None:
                session.add(ActionNeed(action_id=action.id, need_id=need_id))
        indicators: dict[str, int] = {}
        for i in a.get("indicators", []):
            indicator = Indicator(
                action_id=action.id,
                name=i["name"],
                unit=i.get("unit"),
                baseline=Decimal(i["baseline"]) if i.get("baseline") is not None else None,
                target=Decimal(i["target"]) if i.get("target") is not None else None,
                due_date=date.fromisoformat(i["dueDate"]) if i.get("dueDate") else None,
            )
            session.add(indicator)
            await session.flush()
            indicators[i["key"]] = indicator.id
        for r in a.get("reports", []):
            report = ProgressReport(
                action_id=action.id,
                reported_on=_reported_on(r, today),
                status=ImplementationStatus(r["status"]),
                narrative=r.get("narrative", ""),
                evidence_links=r.get("evidence", []),
                visibility=Visibility(r["visibility"]),
            )
            session.add(report)
            await session.flush()
            for key, value in r.get("values", {}).items():
                session.add(IndicatorValue(report_id=report.id, indicator_id=indicators[key], value=Decimal(value)))
            for c in r.get("comments", []):
                session.add(
                    ProgressComment(
                        report_id=report.id,
                        organization_id=organizations[c["organization"]],
                        author="demo",
                        body=c["body"],
                    )
                )
        created += 1
    await session.flush()
    return created
