"""Programmes: donors' bilateral programmes and agencies' projects (IATI activity aligned)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlmodel import Field, SQLModel

from .base import (
    code_array,
    created_at_column,
    currency_column,
    enum_column,
    money_column,
    updated_at_column,
)
from .enums import ParticipantRole

PROGRAMME_SEARCH_VECTOR = (
    "setweight(to_tsvector('english', coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(description, '')), 'B')"
)


class Programme(SQLModel, table=True):
    __tablename__ = "programme"
    __table_args__ = (
        sa.CheckConstraint("budget_amount >= 0", name="budget_non_negative"),
        sa.CheckConstraint("committed_amount >= 0", name="committed_non_negative"),
        sa.CheckConstraint("disbursed_amount >= 0", name="disbursed_non_negative"),
        sa.CheckConstraint(
            "end_date is null or start_date is null or end_date >= start_date",
            name="dates_ordered",
        ),
        sa.CheckConstraint("parent_id is null or parent_id <> id", name="not_own_parent"),
        sa.Index("ix_programme_search_vector", "search_vector", postgresql_using="gin"),
        sa.Index("ix_programme_themes", "themes", postgresql_using="gin"),
        sa.Index("ix_programme_sectors", "sectors", postgresql_using="gin"),
    )
    id: int | None = Field(default=None, primary_key=True)
    iati_identifier: str = Field(unique=True)
    title: str
    description: str = ""
    reporting_organization_id: int = Field(foreign_key="organization.id", index=True)
    activity_status: str | None = Field(default=None, max_length=4)  # IATI ActivityStatus
    start_date: date | None = None
    end_date: date | None = None
    currency: str | None = Field(default=None, sa_column=currency_column())
    budget_amount: Decimal | None = Field(default=None, sa_column=money_column())
    committed_amount: Decimal | None = Field(default=None, sa_column=money_column())
    disbursed_amount: Decimal | None = Field(default=None, sa_column=money_column())
    open_to_requests: bool = Field(
        default=True, sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.true())
    )
    is_global: bool = Field(
        default=False, sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.false())
    )
    sectors: list[str] = Field(default_factory=list, sa_column=code_array())
    themes: list[str] = Field(default_factory=list, sa_column=code_array())
    sdg_targets: list[str] = Field(default_factory=list, sa_column=code_array())
    modalities: list[str] = Field(default_factory=list, sa_column=code_array())
    languages: list[str] = Field(default_factory=list, sa_column=code_array())
    parent_id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.ForeignKey("programme.id", ondelete="SET NULL"), index=True),
    )
    search_vector: str | None = Field(
        default=None,
        sa_column=sa.Column(TSVECTOR, sa.Computed(PROGRAMME_SEARCH_VECTOR, persisted=True)),
    )
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    updated_at: datetime | None = Field(default=None, sa_column=updated_at_column())


class ProgrammeParticipant(SQLModel, table=True):
    """A participating organization with its IATI role (funding, accountable, …)."""

    __tablename__ = "programme_participant"
    programme_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("programme.id", ondelete="CASCADE"), primary_key=True)
    )
    organization_id: int = Field(foreign_key="organization.id", primary_key=True, index=True)
    role: ParticipantRole = Field(
        sa_column=enum_column(ParticipantRole, name="participant_role", primary_key=True)
    )


class ProgrammeRecipientState(SQLModel, table=True):
    __tablename__ = "programme_recipient_state"
    __table_args__ = (
        sa.CheckConstraint("percentage between 0 and 100", name="percentage_range"),
    )
    programme_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("programme.id", ondelete="CASCADE"), primary_key=True)
    )
    state_iso3: str = Field(foreign_key="state.iso3", primary_key=True, index=True, max_length=3)
    percentage: Decimal | None = Field(
        default=None, sa_column=sa.Column(sa.Numeric(5, 2), nullable=True)
    )
