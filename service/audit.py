"""The audit trail: who changed what, when, with the before and after, in the same
transaction as the change. Append-only: nothing in the API updates or deletes it."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.access.principals import Principal
from service.models.audit import AuditEvent


def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    return value


def snapshot(entity: Any, *, exclude: tuple[str, ...] = ("search_vector",)) -> dict[str, Any]:
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
