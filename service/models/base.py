"""Shared model plumbing: the naming convention and column helpers."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import SQLModel

# Deterministic constraint names, so migrations can drop what they created.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = SQLModel.metadata


def code_array(*, nullable: bool = False) -> sa.Column:
    """A text[] of codes (themes, DAC sectors, SDG targets…), never NULL, empty by default."""
    return sa.Column(ARRAY(sa.Text()), nullable=nullable, server_default=sa.text("'{}'::text[]"))


def created_at_column() -> sa.Column:
    return sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()"))


def updated_at_column() -> sa.Column:
    return sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()"))


def money_column(*, nullable: bool = True) -> sa.Column:
    return sa.Column(sa.Numeric(16, 2), nullable=nullable)


def currency_column(*, nullable: bool = True) -> sa.Column:
    return sa.Column(sa.String(3), nullable=nullable)


def enum_column(enum_cls: type, *, name: str, nullable: bool = False, **kw) -> sa.Column:
    """Enums as text with a CHECK constraint: no native PG enums to leak on downgrade."""
    return sa.Column(
        sa.Enum(
            enum_cls,
            name=name,
            native_enum=False,
            create_constraint=True,
            length=32,
            values_callable=lambda e: [m.value for m in e],
            validate_strings=True,
        ),
        nullable=nullable,
        **kw,
    )


def utcnow() -> datetime:
    from datetime import UTC

    return datetime.now(UTC)
