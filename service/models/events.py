"""The ordered event log (outbox): one row per meaningful change, written in the change's
transaction. It is separate from the audit trail, whose retention never prunes it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from .base import code_array, created_at_column


class Event(SQLModel, table=True):
    """`sequence` is taken at commit time under a transaction-level advisory lock, so
    sequence order is commit order: a reader that has seen N never later meets a smaller
    number committing (see service/events/outbox.py)."""

    __tablename__ = "event"
    __table_args__ = (sa.Index("ix_event_occurred_at", "occurred_at"),)
    sequence: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False))
    kind: str = Field(max_length=48)
    entity_type: str = Field(max_length=32)
    entity_id: str = Field(max_length=64)
    # What subscription filters and visibility need, captured at write time.
    need_id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, nullable=True, index=True))
    states: list[str] = Field(
        default_factory=list, sa_column=code_array()
    )  # the need's State; a programme's recipients
    themes: list[str] = Field(default_factory=list, sa_column=code_array())
    organization_ids: list[int] = Field(
        default_factory=list,
        sa_column=sa.Column(sa.ARRAY(sa.Integer), nullable=False, server_default=sa.text("'{}'::integer[]")),
    )
    payload: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"))
    )
    occurred_at: datetime | None = Field(default=None, sa_column=created_at_column())
