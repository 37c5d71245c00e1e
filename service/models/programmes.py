"""Programmes: donors' bilateral programmes and agencies' projects (IATI activity aligned)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR
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


def _jsonb_column(empty: str) -> sa.Column:
    return sa.Column(JSONB, nullable=False, server_default=sa.text(empty))


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
    is_global: bool = Field(default=False, sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.false()))
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
    # -- from IATI activity files (service.imports.iati); `title`/`description` above hold
    # the text in the default language, these hold every language given ({"fr": "…"}).
    titles: dict[str, str] = Field(default_factory=dict, sa_column=_jsonb_column("'{}'::jsonb"))
    descriptions: dict[str, str] = Field(default_factory=dict, sa_column=_jsonb_column("'{}'::jsonb"))
    default_language: str | None = Field(default=None, max_length=16)
    # DAC 3-digit categories: those given (sector vocabulary 2) and those of the 5-digit codes.
    sector_categories: list[str] = Field(default_factory=list, sa_column=code_array())
    sdg_goals: list[str] = Field(default_factory=list, sa_column=code_array())
    # [{"vocabulary": "1", "code": "1", "significance": "2"}] (IATI PolicyMarker)
    policy_markers: list[dict[str, Any]] = Field(default_factory=list, sa_column=_jsonb_column("'[]'::jsonb"))
    # [{"ref": "GB-1-109616", "type": "1"}] (IATI RelatedActivityType). Kept as references,
    # also to activities we do not hold; parent_id is set only when the parent exists.
    related_activities: list[dict[str, Any]] = Field(default_factory=list, sa_column=_jsonb_column("'[]'::jsonb"))
    source_file: str | None = None
    # When an import last wrote this programme; unchanged activities are not rewritten.
    last_imported_at: datetime | None = Field(
        default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True)
    )
    # SHA-256 of the activity as read, to tell an unchanged re-import from a change.
    content_hash: str | None = Field(default=None, max_length=64)


class ProgrammeParticipant(SQLModel, table=True):
    """A participating organization with its IATI role (funding, accountable, …)."""

    __tablename__ = "programme_participant"
    programme_id: int = Field(sa_column=sa.Column(sa.ForeignKey("programme.id", ondelete="CASCADE"), primary_key=True))
    organization_id: int = Field(foreign_key="organization.id", primary_key=True, index=True)
    role: ParticipantRole = Field(sa_column=enum_column(ParticipantRole, name="participant_role", primary_key=True))


class ProgrammeRecipientState(SQLModel, table=True):
    __tablename__ = "programme_recipient_state"
    __table_args__ = (sa.CheckConstraint("percentage between 0 and 100", name="percentage_range"),)
    programme_id: int = Field(sa_column=sa.Column(sa.ForeignKey("programme.id", ondelete="CASCADE"), primary_key=True))
    state_iso3: str = Field(foreign_key="state.iso3", primary_key=True, index=True, max_length=3)
    percentage: Decimal | None = Field(default=None, sa_column=sa.Column(sa.Numeric(5, 2), nullable=True))


class ProgrammeRecipientRegion(SQLModel, table=True):
    """A recipient region as published: vocabulary 1 = OECD DAC regions (e.g. 789 Far East
    Asia), 2 = UN M49; which States it covers is region_state (or M49 on State)."""

    __tablename__ = "programme_recipient_region"
    __table_args__ = (sa.CheckConstraint("percentage between 0 and 100", name="percentage_range"),)
    programme_id: int = Field(sa_column=sa.Column(sa.ForeignKey("programme.id", ondelete="CASCADE"), primary_key=True))
    vocabulary: str = Field(primary_key=True, max_length=8)
    region_code: str = Field(primary_key=True, max_length=16, index=True)
    percentage: Decimal | None = Field(default=None, sa_column=sa.Column(sa.Numeric(5, 2), nullable=True))


class ProgrammeBudget(SQLModel, table=True):
    """One IATI budget line. Amounts may be negative (publishers correct earlier periods)."""

    __tablename__ = "programme_budget"
    id: int | None = Field(default=None, primary_key=True)
    programme_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("programme.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    type: str | None = Field(default=None, max_length=4)  # IATI BudgetType: 1 original, 2 revised
    status: str | None = Field(default=None, max_length=4)  # IATI BudgetStatus: 1 indicative, 2 committed
    period_start: date | None = None
    period_end: date | None = None
    amount: Decimal = Field(sa_column=money_column(nullable=False))
    currency: str | None = Field(default=None, sa_column=currency_column())
    value_date: date | None = None


class ProgrammeTransaction(SQLModel, table=True):
    """One IATI transaction (TransactionType: 2 commitment, 3 disbursement, 4 expenditure …)."""

    __tablename__ = "programme_transaction"
    id: int | None = Field(default=None, primary_key=True)
    programme_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("programme.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    type: str = Field(max_length=4)
    value: Decimal = Field(sa_column=money_column(nullable=False))
    currency: str | None = Field(default=None, sa_column=currency_column())
    value_date: date | None = None
    transaction_date: date | None = None
    description: str | None = None


class RegionState(SQLModel, table=True):
    """Which States a recipient region covers, kept as data
    (service/imports/data/dac_region_states.csv, loaded by service.imports.regions)."""

    __tablename__ = "region_state"
    vocabulary: str = Field(primary_key=True, max_length=8)
    region_code: str = Field(primary_key=True, max_length=16)
    state_iso3: str = Field(
        sa_column=sa.Column(sa.String(3), sa.ForeignKey("state.iso3", ondelete="CASCADE"), primary_key=True, index=True)
    )
