"""Assistance needs: what a State asks for, and the links to what they implement."""

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
from .enums import NeedStatus, StakeholderKind, Visibility

NEED_SEARCH_VECTOR = (
    "setweight(to_tsvector('english', coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(description, '')), 'B')"
)


class AssistanceNeed(SQLModel, table=True):
    __tablename__ = "assistance_need"
    __table_args__ = (
        sa.CheckConstraint("estimated_cost >= 0", name="estimated_cost_non_negative"),
        sa.CheckConstraint(
            "end_date is null or start_date is null or end_date >= start_date",
            name="timeframe_ordered",
        ),
        sa.CheckConstraint("(estimated_cost is null) = (currency is null)", name="cost_has_currency"),
        sa.Index("ix_assistance_need_search_vector", "search_vector", postgresql_using="gin"),
        sa.Index("ix_assistance_need_themes", "themes", postgresql_using="gin"),
        sa.Index("ix_assistance_need_sectors", "sectors", postgresql_using="gin"),
        sa.Index("ix_assistance_need_updated_at_id", "updated_at", "id"),
        # The default order of `needs` (newest first, ties by ID): the first page reads 50 index
        # entries instead of sorting every visible need (113 ms at 100,000 needs).
        sa.Index("ix_assistance_need_created_at_id", "created_at", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    state_iso3: str = Field(foreign_key="state.iso3", index=True, max_length=3)
    title: str
    description: str = ""
    themes: list[str] = Field(default_factory=list, sa_column=code_array())
    sectors: list[str] = Field(default_factory=list, sa_column=code_array())
    sdg_targets: list[str] = Field(default_factory=list, sa_column=code_array())
    rights_dimensions: list[str] = Field(default_factory=list, sa_column=code_array())
    modalities: list[str] = Field(default_factory=list, sa_column=code_array())
    working_languages: list[str] = Field(default_factory=list, sa_column=code_array())
    estimated_cost: Decimal | None = Field(default=None, sa_column=money_column())
    currency: str | None = Field(default=None, sa_column=currency_column())
    start_date: date | None = None
    end_date: date | None = None
    status: NeedStatus = Field(
        default=NeedStatus.DRAFT,
        sa_column=enum_column(NeedStatus, name="need_status", index=True),
    )
    visibility: Visibility = Field(
        default=Visibility.PRIVATE,
        sa_column=enum_column(Visibility, name="visibility", index=True),
    )
    search_vector: str | None = Field(
        default=None,
        sa_column=sa.Column(TSVECTOR, sa.Computed(NEED_SEARCH_VECTOR, persisted=True)),
    )
    submitted_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True))
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    updated_at: datetime | None = Field(default=None, sa_column=updated_at_column())


class NeedStakeholder(SQLModel, table=True):
    """A national stakeholder involved in a need (ministry, NHRI, civil society …)."""

    __tablename__ = "need_stakeholder"
    id: int | None = Field(default=None, primary_key=True)
    need_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("assistance_need.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    name: str
    kind: StakeholderKind = Field(sa_column=enum_column(StakeholderKind, name="stakeholder_kind"))
    organization_id: int | None = Field(default=None, foreign_key="organization.id")


class NeedRecommendation(SQLModel, table=True):
    """A need serves a recommendation (many-to-many)."""

    __tablename__ = "need_recommendation"
    need_id: int = Field(sa_column=sa.Column(sa.ForeignKey("assistance_need.id", ondelete="CASCADE"), primary_key=True))
    recommendation_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("recommendation.id", ondelete="CASCADE"), primary_key=True, index=True)
    )


class NeedPledge(SQLModel, table=True):
    __tablename__ = "need_pledge"
    need_id: int = Field(sa_column=sa.Column(sa.ForeignKey("assistance_need.id", ondelete="CASCADE"), primary_key=True))
    pledge_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("pledge.id", ondelete="CASCADE"), primary_key=True, index=True)
    )


class StakeholderInput(SQLModel, table=True):
    """Input from an NHRI or civil society organization on a need (resolution para 8)."""

    __tablename__ = "stakeholder_input"
    __table_args__ = (sa.CheckConstraint("length(body) between 1 and 10000", name="body_length"),)
    id: int | None = Field(default=None, primary_key=True)
    need_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("assistance_need.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    organization_id: int = Field(foreign_key="organization.id", index=True)
    author: str = Field(max_length=128)
    body: str
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
