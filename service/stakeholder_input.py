"""Stakeholder input: NHRIs and civil society organizations comment on needs they can see."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from service import audit
from service.access.policy import may_give_input
from service.access.principals import Principal
from service.access.visibility import visible_needs
from service.errors import Collector, Forbidden, NotFound, Unauthenticated
from service.events import record as event_log
from service.models import AssistanceNeed, StakeholderInput
from service.pagination import Ordering, Page, PageArgs, SortKey, paginate_per_parent

MAX_BODY = 10_000


async def add_stakeholder_input(
    *, session: AsyncSession, principal: Principal, need_id: int, body: str
) -> StakeholderInput:
    if principal.is_anonymous:
        raise Unauthenticated("Sign in with an NHRI or civil society key to add input.")
    need = (
        await session.execute(sa.select(AssistanceNeed).where(AssistanceNeed.id == need_id, visible_needs(principal)))
    ).scalar_one_or_none()
    if need is None:
        raise NotFound("No need with this id.", field="needId")
    if not may_give_input(principal):
        raise Forbidden("Only NHRIs and civil society organizations add stakeholder input.")
    errors = Collector()
    text = (body or "").strip()
    if not text:
        errors.add("body", "The input is empty.", "REQUIRED")
    elif len(text) > MAX_BODY:
        errors.add("body", f"Keep the input under {MAX_BODY} characters.", "TOO_LONG")
    errors.raise_if_any()
    row = StakeholderInput(
        need_id=need_id, organization_id=principal.organization_id, author=principal.actor, body=text
    )
    session.add(row)
    await session.flush()
    await session.refresh(row)
    await audit.record(
        session,
        principal=principal,
        entity_type="StakeholderInput",
        entity_id=row.id,
        action="create",
        after={"need_id": need_id, "organization_id": row.organization_id, "body": text},
    )
    event_log.need_input_added(session, need, row.id, row.organization_id)
    return row


def _ordering() -> Ordering:
    return Ordering(
        "stakeholder-input:ASC",
        (
            SortKey("created_at", StakeholderInput.created_at, False, "datetime"),
            SortKey("id", StakeholderInput.id, False, "int"),
        ),
    )


async def inputs_per_need(
    *, session: AsyncSession, principal: Principal, need_ids: Sequence[int], page: PageArgs
) -> dict[int, Page[StakeholderInput]]:
    """Input on needs the principal may see (the join applies the need's visibility)."""
    stmt = (
        sa.select(StakeholderInput)
        .join(AssistanceNeed, AssistanceNeed.id == StakeholderInput.need_id)
        .where(visible_needs(principal))
    )
    return await paginate_per_parent(
        session, stmt, StakeholderInput.need_id, need_ids, _ordering(), page, StakeholderInput
    )


async def count_inputs_per_need(
    *, session: AsyncSession, principal: Principal, need_ids: Sequence[int]
) -> dict[int, int]:
    stmt = (
        sa.select(StakeholderInput.need_id, sa.func.count())
        .join(AssistanceNeed, AssistanceNeed.id == StakeholderInput.need_id)
        .where(StakeholderInput.need_id.in_(list(need_ids)), visible_needs(principal))
        .group_by(StakeholderInput.need_id)
    )
    counts = dict((await session.execute(stmt)).all())
    return {nid: int(counts.get(nid, 0)) for nid in need_ids}
