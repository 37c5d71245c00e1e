"""Load the demo UPR Voluntary Fund round (`fund_round.json`): created, applied to, re-weighted
once and allocated through the same domain functions the API uses, so the demo shows a
decision report, a criteria history and what moved. Idempotent: skipped when the round exists."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.principals import Principal, Role
from service.fund import rounds
from service.models import AssistanceNeed, FundApplication, FundApplicationNeed, FundRound, FundRoundStatus

FUND_FILE = Path(__file__).parent / "fund_round.json"
DEMO_FUND_ADMINISTRATOR = Principal(role=Role.FUND_ADMINISTRATOR, label="demo")


async def load_fund_demo(session: AsyncSession, path: Path = FUND_FILE) -> int:
    """Rounds created (0 to 2): the allocated 2026 round, then a DRAFT 2027 round."""
    data = json.loads(path.read_text(encoding="utf-8"))
    created = 0
    if not await session.scalar(sa.select(sa.exists().where(FundRound.name == data["round"]["name"]))):
        await _allocated_round(session, data)
        created += 1
    draft = data["draftRound"]
    if not await session.scalar(sa.select(sa.exists().where(FundRound.name == draft["name"]))):
        await rounds.create_round(session=session, principal=DEMO_FUND_ADMINISTRATOR, values=_fields(draft))
        created += 1
    return created


def _fields(r: dict) -> rounds.RoundFields:
    return rounds.RoundFields(
        name=r["name"],
        description=r["description"],
        budget=Decimal(r["budget"]),
        currency=r["currency"],
        opens_on=date.fromisoformat(r["opensOn"]),
        closes_on=date.fromisoformat(r["closesOn"]),
        min_partial_share=Decimal(r["minPartialShare"]),
    )


async def _allocated_round(session: AsyncSession, data: dict) -> None:
    fund_round = await rounds.create_round(
        session=session, principal=DEMO_FUND_ADMINISTRATOR, values=_fields(data["round"])
    )
    # The window is in the past: the applications are written as they were made then.
    fund_round.status = FundRoundStatus.OPEN
    for a in data["applications"]:
        application = FundApplication(
            round_id=fund_round.id,
            state_iso3=a["state"],
            title=a["title"],
            requested_amount=Decimal(a["requested"]),
            co_financing=Decimal(a["coFinancing"]),
            currency=fund_round.currency,
        )
        session.add(application)
        await session.flush()
        need_ids = (
            (
                await session.execute(
                    sa.select(AssistanceNeed.id).where(
                        AssistanceNeed.state_iso3 == a["state"], AssistanceNeed.title.in_(a["needs"])
                    )
                )
            )
            .scalars()
            .all()
        )
        for need_id in need_ids:
            session.add(FundApplicationNeed(application_id=application.id, need_id=need_id))
    fund_round.status = FundRoundStatus.CLOSED
    await session.flush()
    await rounds.rescore(session=session, fund_round=fund_round, version=fund_round.criteria_version)
    for version in data["criteriaVersions"]:
        await rounds.set_weights(
            session=session,
            principal=DEMO_FUND_ADMINISTRATOR,
            round_id=fund_round.id,
            weights=version["weights"],
            note=version["note"],
        )
    await rounds.approve_allocation(
        session=session,
        principal=DEMO_FUND_ADMINISTRATOR,
        round_id=fund_round.id,
        criteria_version=fund_round.criteria_version,
        note=data["approvalNote"],
    )
