"""The life of a match, and the consent rule: only the State's endorsement turns a proposal
into an engagement.

SUGGESTED (computed) → PROPOSED (by the offering donor or agency, with a message and the
amount offered) → ENDORSED or DECLINED (by the State's focal point) → AGREED (confirmed by
the proposer; the agreed amount becomes the need's funding) → ACTIVE → COMPLETED (recorded
by either side). Either side may withdraw before completion.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from service import audit
from service.access.policy import may_offer
from service.access.principals import Principal
from service.access.visibility import visible_needs
from service.errors import Collector, FieldError, Forbidden, NotFound, Unauthenticated, ValidationFailed
from service.events import record as event_log
from service.models import AssistanceNeed
from service.models.enums import NeedStatus
from service.models.matching import Match, MatchStatus, MatchTransition


class Party(str, Enum):
    PROPOSER = "PROPOSER"  # the offering organization (donor or agency)
    STATE = "STATE"  # the need's State focal points
    EITHER = "EITHER"


@dataclass(frozen=True)
class Step:
    to: MatchStatus
    by: Party


#: The one transition table of a match: from each status, which step whom may take.
TRANSITIONS: dict[MatchStatus, tuple[Step, ...]] = {
    MatchStatus.SUGGESTED: (Step(MatchStatus.PROPOSED, Party.PROPOSER),),
    MatchStatus.PROPOSED: (
        Step(MatchStatus.ENDORSED, Party.STATE),
        Step(MatchStatus.DECLINED, Party.STATE),
        Step(MatchStatus.WITHDRAWN, Party.EITHER),
    ),
    MatchStatus.ENDORSED: (Step(MatchStatus.AGREED, Party.PROPOSER), Step(MatchStatus.WITHDRAWN, Party.EITHER)),
    MatchStatus.AGREED: (Step(MatchStatus.ACTIVE, Party.EITHER), Step(MatchStatus.WITHDRAWN, Party.EITHER)),
    MatchStatus.ACTIVE: (Step(MatchStatus.COMPLETED, Party.EITHER), Step(MatchStatus.WITHDRAWN, Party.EITHER)),
    MatchStatus.DECLINED: (),
    MatchStatus.COMPLETED: (),
    MatchStatus.WITHDRAWN: (),
}

#: Statuses in which a match is an engagement the State consented to.
ENGAGED = frozenset({MatchStatus.AGREED, MatchStatus.ACTIVE, MatchStatus.COMPLETED})
FUNDED = ENGAGED


def party_of(principal: Principal, match: Match, need_state: str) -> Party | None:
    if principal.is_focal_point_of(need_state):
        return Party.STATE
    if may_offer(principal) and principal.organization_id == match.organization_id:
        return Party.PROPOSER
    return None


async def _load(session: AsyncSession, principal: Principal, match_id: int) -> tuple[Match, AssistanceNeed]:
    """The match and its need, locked; NOT_FOUND when the caller may not see the need."""
    if principal.is_anonymous:
        raise Unauthenticated("Sign in to act on a match.")
    row = (
        await session.execute(
            sa.select(Match, AssistanceNeed)
            .join(AssistanceNeed, AssistanceNeed.id == Match.need_id)
            .where(Match.id == match_id, visible_needs(principal))
            .with_for_update(of=Match)
        )
    ).first()
    if row is None:
        raise NotFound("No match with this id.", field="id")
    return row[0], row[1]


async def transition(
    *,
    session: AsyncSession,
    principal: Principal,
    match_id: int,
    to: MatchStatus,
    reason: str | None = None,
    message: str | None = None,
    amount: Decimal | None = None,
    currency: str | None = None,
) -> Match:
    match, need = await _load(session, principal, match_id)
    party = party_of(principal, match, need.state_iso3)
    if party is None:
        raise Forbidden("Only the offering organization and the need's State act on this match.")
    steps = {s.to: s for s in TRANSITIONS[match.status]}
    step = steps.get(to)
    if step is None:
        allowed = ", ".join(sorted(s.value for s in steps)) or "none (final)"
        raise ValidationFailed(
            errors=[
                FieldError(
                    "status",
                    f"A match cannot go from {match.status.value} to {to.value}; allowed next: {allowed}.",
                    "INVALID_TRANSITION",
                )
            ]
        )
    if step.by is not Party.EITHER and step.by is not party:
        who = "the need's State" if step.by is Party.STATE else "the offering organization"
        raise Forbidden(f"Only {who} may move this match from {match.status.value} to {to.value}.")
    errors = Collector()
    if to is MatchStatus.PROPOSED:
        if not (message or "").strip():
            errors.add("message", "Tell the State what you offer and how.", "REQUIRED")
        if amount is not None:
            if amount < 0:
                errors.add("amountOffered", f"The amount cannot be negative; got {amount}.", "NEGATIVE")
            if not currency:
                errors.add("amountOffered", "An amount needs its ISO 4217 currency.", "REQUIRED")
    if to is MatchStatus.AGREED and amount is not None and amount < 0:
        errors.add("agreedAmount", f"The amount cannot be negative; got {amount}.", "NEGATIVE")
    if to is MatchStatus.PROPOSED and need.status in (NeedStatus.DRAFT, NeedStatus.COMPLETED):
        errors.add("id", f"The need is {need.status.value}; proposals are for submitted needs.", "NEED_NOT_OPEN")
    if currency is not None:
        from service.vocabulary import check_codes

        await check_codes(session, errors, currency=currency.upper())
    errors.raise_if_any()

    before = audit.snapshot(match)
    previous = match.status
    match.status = to
    if to is MatchStatus.PROPOSED:
        match.message = message.strip() if message else None
        match.amount_offered = amount
        match.currency = currency.upper() if currency else None
    if to is MatchStatus.AGREED:
        match.agreed_amount = amount if amount is not None else match.amount_offered
        if currency:
            match.currency = currency.upper()
    match.updated_at = sa.func.now()
    session.add(
        MatchTransition(
            match_id=match.id,
            from_status=previous,
            to_status=to,
            actor=principal.actor,
            actor_role=principal.role.value,
            reason=reason,
        )
    )
    await _follow_need(session, principal, need, to)
    await session.flush()
    await session.refresh(match)
    await audit.record(
        session,
        principal=principal,
        entity_type="Match",
        entity_id=match.id,
        action=f"status:{to.value}",
        before=before,
        after=audit.snapshot(match),
        reason=reason,
    )
    event_log.match_changed(session, match, need)
    return match


async def _follow_need(session: AsyncSession, principal: Principal, need: AssistanceNeed, to: MatchStatus) -> None:
    """An agreed engagement makes a submitted need MATCHED; an active one IN_PROGRESS."""
    target = {MatchStatus.AGREED: NeedStatus.MATCHED, MatchStatus.ACTIVE: NeedStatus.IN_PROGRESS}.get(to)
    order = [NeedStatus.SUBMITTED, NeedStatus.MATCHED, NeedStatus.IN_PROGRESS]
    if target is None or need.status not in order or order.index(need.status) >= order.index(target):
        return
    before = audit.snapshot(need)
    need.status = target
    need.updated_at = sa.func.now()
    await session.flush()
    await session.refresh(need)
    await audit.record(
        session,
        principal=principal,
        entity_type="Need",
        entity_id=need.id,
        action=f"status:{target.value}",
        before=before,
        after=audit.snapshot(need),
        reason=f"a match became {to.value}",
    )
    event_log.need_status_changed(session, need, previous=before["status"])


async def record_lessons(*, session: AsyncSession, principal: Principal, match_id: int, lessons: str) -> Match:
    """Lessons learned / good practices of a completed engagement (resolution paras 5, 10, 13)."""
    match, need = await _load(session, principal, match_id)
    if party_of(principal, match, need.state_iso3) is None:
        raise Forbidden("Only the parties to this engagement record its lessons.")
    errors = Collector()
    if match.status is not MatchStatus.COMPLETED:
        errors.add(
            "id", f"Lessons are recorded on COMPLETED engagements; this one is {match.status.value}.", "NOT_COMPLETED"
        )
    if not (lessons or "").strip():
        errors.add("lessons", "The lessons are empty.", "REQUIRED")
    elif len(lessons) > 20_000:
        errors.add("lessons", "Keep the lessons under 20,000 characters.", "TOO_LONG")
    errors.raise_if_any()
    before = audit.snapshot(match)
    match.lessons_learned = lessons.strip()
    match.updated_at = sa.func.now()
    await session.flush()
    await session.refresh(match)
    await audit.record(
        session,
        principal=principal,
        entity_type="Match",
        entity_id=match.id,
        action="lessons",
        before=before,
        after=audit.snapshot(match),
    )
    event_log.lessons_recorded(session, match, need)
    return match
