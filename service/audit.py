"""The audit trail: who changed what, when, with the before and after, in the same
transaction as the change. Append-only: nothing in the API updates or deletes it."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from service.access.principals import Principal
from service.models.audit import AuditEvent


def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (Decimal, UUID)):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    return value


def snapshot(entity: Any, *, exclude: tuple[str, ...] = ("search_vector", "lessons_vector")) -> dict[str, Any]:
    """The column values of an ORM row, JSON-ready."""
    return {
        column.key: _jsonable(getattr(entity, column.key))
        for column in entity.__table__.columns
        if column.key not in exclude
    }


async def record(
    session: AsyncSession,
    *,
    principal: Principal,
    entity_type: str,
    entity_id: str | int,
    action: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> None:
    session.add(
        AuditEvent(
            actor=principal.actor,
            actor_role=principal.role.value,
            actor_state_iso3=principal.state_iso3,
            actor_organization_id=principal.organization_id,
            entity_type=entity_type,
            entity_id=str(entity_id),
            action=action,
            before=json.loads(json.dumps(_jsonable(before))) if before is not None else None,
            after=json.loads(json.dumps(_jsonable(after))) if after is not None else None,
            reason=reason,
        )
    )


# -- reading (administrators only) -------------------------------------------------------------

from collections.abc import Sequence  # noqa: E402
from dataclasses import dataclass as _dataclass  # noqa: E402

import sqlalchemy as _sa  # noqa: E402

from service.pagination import Ordering, Page, PageArgs, SortKey, count, paginate  # noqa: E402


@_dataclass(frozen=True)
class AuditFilter:
    entity_types: Sequence[str] | None = None
    entity_ids: Sequence[str] | None = None
    actors: Sequence[str] | None = None
    actions: Sequence[str] | None = None
    since: datetime | None = None
    until: datetime | None = None


def _require_admin(principal: Principal) -> None:
    from service.errors import Forbidden, Unauthenticated

    if principal.is_anonymous:
        raise Unauthenticated("The audit trail is for administrators; sign in with an administrator key.")
    if not principal.is_admin:
        raise Forbidden("Only administrators may read the audit trail.")


def _audit_select(f: AuditFilter | None):
    stmt = _sa.select(AuditEvent)
    if f is None:
        return stmt
    if f.entity_types is not None:
        stmt = stmt.where(AuditEvent.entity_type.in_(list(f.entity_types)))
    if f.entity_ids is not None:
        stmt = stmt.where(AuditEvent.entity_id.in_(list(f.entity_ids)))
    if f.actors is not None:
        stmt = stmt.where(AuditEvent.actor.in_(list(f.actors)))
    if f.actions is not None:
        stmt = stmt.where(AuditEvent.action.in_(list(f.actions)))
    if f.since is not None:
        stmt = stmt.where(AuditEvent.occurred_at >= f.since)
    if f.until is not None:
        stmt = stmt.where(AuditEvent.occurred_at < f.until)
    return stmt


def audit_ordering(descending: bool = True) -> Ordering:
    return Ordering(
        f"audit:{'DESC' if descending else 'ASC'}",
        (SortKey("id", AuditEvent.id, descending, "int"),),
    )


async def list_audit_events(
    *,
    session: AsyncSession,
    principal: Principal,
    audit_filter: AuditFilter | None = None,
    descending: bool = True,
    page: PageArgs = PageArgs(),
) -> Page[AuditEvent]:
    _require_admin(principal)
    return await paginate(session, _audit_select(audit_filter), audit_ordering(descending), page)


async def count_audit_events(
    *, session: AsyncSession, principal: Principal, audit_filter: AuditFilter | None = None
) -> int:
    _require_admin(principal)
    return await count(session, _audit_select(audit_filter))
