"""Audit trail and API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from .base import created_at_column


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (
        sa.Index("ix_audit_event_entity", "entity_type", "entity_id"),
        sa.Index("ix_audit_event_occurred_at_id", "occurred_at", "id"),
    )
    id: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=True))
    occurred_at: datetime | None = Field(default=None, sa_column=created_at_column())
    actor: str = Field(max_length=128)
    actor_role: str = Field(max_length=32)
    actor_state_iso3: str | None = Field(default=None, max_length=3)
    actor_organization_id: int | None = None
    entity_type: str = Field(max_length=64)
    entity_id: str = Field(max_length=64)
    action: str = Field(max_length=64)
    before: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(JSONB, nullable=True))
    after: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(JSONB, nullable=True))
    reason: str | None = None


class ApiKey(SQLModel, table=True):
    """An API key; only the SHA-256 of the secret is stored."""

    __tablename__ = "api_key"
    id: int | None = Field(default=None, primary_key=True)
    prefix: str = Field(max_length=16, index=True)
    secret_hash: str = Field(max_length=64, unique=True)
    role: str = Field(max_length=32)
    state_iso3: str | None = Field(default=None, foreign_key="state.iso3", max_length=3)
    organization_id: int | None = Field(default=None, foreign_key="organization.id")
    label: str
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    expires_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    revoked_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    last_used_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
