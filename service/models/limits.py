"""Shared state of the API limits: kept in PostgreSQL so every worker process sees it."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class RateLimitBucket(SQLModel, table=True):
    """A leaky bucket of query cost per principal (API key, token subject or client address)."""

    __tablename__ = "rate_limit_bucket"
    __table_args__ = {"prefixes": ["UNLOGGED"]}
    key: str = Field(primary_key=True, max_length=200)
    level: float = Field(sa_column=sa.Column(sa.Float, nullable=False))
    updated_at: datetime = Field(
        sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()"))
    )
    # pg_lsn as text: the primary's WAL position after this principal's last write, written
    # only when a read replica is configured (DATABASE_READ_URL).
    written_lsn: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))


class PersistedQuery(SQLModel, table=True):
    """A GraphQL document by the SHA-256 of its text: stored by a client through automatic
    persisted queries, or registered by an operator (`tcgraph operations register`)."""

    __tablename__ = "persisted_query"
    sha256: str = Field(primary_key=True, max_length=64)
    document: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    # Only registered documents run when PERSISTED_QUERIES_ONLY is set.
    registered: bool = Field(sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.false()))
    created_at: datetime = Field(
        sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()"))
    )
