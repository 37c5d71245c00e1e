"""What each write path records in the event log (next to its audit record)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from service.events.outbox import MATCH_KINDS, Kind, emit, emit_need
from service.models import ProgrammeParticipant, ProgrammeRecipientState


def need_created(session: AsyncSession, need: Any) -> None:
    emit_need(session, Kind.NEED_CREATED, need)


def need_updated(session: AsyncSession, need: Any, *, before_visibility: Any) -> None:
    emit_need(session, Kind.NEED_UPDATED, need)
    if before_visibility != need.visibility:
        emit_need(
            session,
            Kind.NEED_VISIBILITY_CHANGED,
            need,
            previous_visibility=getattr(before_visibility, "value", before_visibility),
        )


def need_status_changed(session: AsyncSession, need: Any, *, previous: Any) -> None:
    emit_need(
        session,
        Kind.NEED_STATUS_CHANGED,
        need,
        previous_status=getattr(previous, "value", previous),
        status=getattr(need.status, "value", need.status),
    )


def need_input_added(session: AsyncSession, need: Any, input_id: int, organization_id: int) -> None:
    emit(
        session,
        Kind.NEED_INPUT_ADDED,
        "StakeholderInput",
        input_id,
        need_id=need.id,
        states=[need.state_iso3],
        themes=need.themes,
        organization_ids=[organization_id],
    )


def match_changed(session: AsyncSession, match: Any, need: Any) -> None:
    kind = MATCH_KINDS.get(getattr(match.status, "value", match.status))
    if kind is None:
        return
    emit(
        session,
        kind,
        "Match",
        match.id,
        need_id=need.id,
        states=[need.state_iso3],
        themes=need.themes,
        organization_ids=[match.organization_id],
        payload={"status": getattr(match.status, "value", match.status)},
    )


def lessons_recorded(session: AsyncSession, match: Any, need: Any) -> None:
    emit(
        session,
        Kind.MATCH_LESSONS_RECORDED,
        "Match",
        match.id,
        need_id=need.id,
        states=[need.state_iso3],
        themes=need.themes,
        organization_ids=[match.organization_id],
    )


async def programme_changed(session: AsyncSession, programme: Any, *, created: bool) -> None:
    states = (
        (
            await session.execute(
                sa.select(ProgrammeRecipientState.state_iso3).where(
                    ProgrammeRecipientState.programme_id == programme.id
                )
            )
        )
        .scalars()
        .all()
    )
    participants = (
        (
            await session.execute(
                sa.select(ProgrammeParticipant.organization_id).where(ProgrammeParticipant.programme_id == programme.id)
            )
        )
        .scalars()
        .all()
    )
    emit(
        session,
        Kind.PROGRAMME_CREATED if created else Kind.PROGRAMME_UPDATED,
        "Programme",
        programme.id,
        states=sorted(states),
        themes=programme.themes,
        organization_ids=sorted({programme.reporting_organization_id, *participants}),
        payload={"global": bool(programme.is_global)},
    )


def capability_changed(session: AsyncSession, capability: Any, *, created: bool) -> None:
    emit(
        session,
        Kind.CAPABILITY_CREATED if created else Kind.CAPABILITY_UPDATED,
        "Capability",
        capability.id,
        themes=capability.themes,
        organization_ids=[capability.organization_id],
        payload={"regions": list(capability.regions_served)},
    )


def suggestions_changed(session: AsyncSession, need_id: int, state: str, themes: Any) -> None:
    emit(session, Kind.NEED_SUGGESTIONS_CHANGED, "Need", need_id, need_id=need_id, states=[state], themes=list(themes))


IMPORTED_KINDS = {
    ("Recommendation", "create"): Kind.RECOMMENDATION_CREATED,
    ("Recommendation", "update"): Kind.RECOMMENDATION_UPDATED,
    ("Pledge", "create"): Kind.PLEDGE_CREATED,
    ("Programme", "create"): Kind.PROGRAMME_CREATED,
    ("Programme", "update"): Kind.PROGRAMME_UPDATED,
    ("Organization", "create"): Kind.ORGANIZATION_CREATED,
    ("Organization", "update"): Kind.ORGANIZATION_UPDATED,
}


def from_audit_rows(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Importers write audit rows in bulk; the same changes go to the event log, so an
    import is seen like any other change."""
    for row in rows:
        kind = IMPORTED_KINDS.get((row["entity_type"], row["action"]))
        if kind is None:
            continue
        after = row.get("after") or {}
        states = after.get("state_iso3")
        states = (
            [states]
            if isinstance(states, str)
            else [r.get("state") for r in after.get("recipient_states", []) if isinstance(r, dict) and r.get("state")]
        )
        organizations = [o for o in (after.get("reporting_organization_id"),) if isinstance(o, int)]
        emit(
            session,
            kind,
            row["entity_type"],
            row["entity_id"],
            states=states,
            themes=after.get("themes") or [],
            organization_ids=organizations,
        )
