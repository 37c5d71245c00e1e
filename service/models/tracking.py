"""Implementation tracking (resolution 21/21 paras 10, 13, 14): a State's actions that
cluster the recommendations it received, their indicators, dated progress reports, and the
comments of NHRIs and civil society on that progress (paras 8, 16)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlmodel import Field, SQLModel

from .base import code_array, created_at_column, enum_column, updated_at_column
from .enums import ImplementationStatus, StakeholderKind, Visibility

ACTION_SEARCH_VECTOR = (
    "setweight(to_tsvector('english', coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(description, '')), 'B')"
)


def _quantity_column() -> sa.Column:
    """Indicator quantities (baselines, targets, values): exact decimals, not money."""
    return sa.Column(sa.Numeric(20, 4), nullable=True)


def _parent(table: str, *, primary_key: bool = False) -> sa.Column:
    return sa.Column(
        sa.ForeignKey(f"{table}.id", ondelete="CASCADE"),
        nullable=False,
        primary_key=primary_key,
        index=not primary_key,
    )


class ImplementationAction(SQLModel, table=True):
    """What a State does about a cluster of its recommendations, led by one national
    institution. Its visibility follows the same consent rule as needs."""

    __tablename__ = "implementation_action"
    __table_args__ = (
        sa.CheckConstraint(
            "end_date is null or start_date is null or end_date >= start_date", name="timeframe_ordered"
        ),
        sa.Index("ix_implementation_action_search_vector", "search_vector", postgresql_using="gin"),
        sa.Index("ix_implementation_action_created_at_id", "created_at", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    state_iso3: str = Field(foreign_key="state.iso3", index=True, max_length=3)
    title: str
    description: str = ""
    lead_institution: str
    lead_institution_kind: StakeholderKind = Field(sa_column=enum_column(StakeholderKind, name="lead_institution_kind"))
    lead_organization_id: int | None = Field(default=None, foreign_key="organization.id")
    start_date: date | None = None
    end_date: date | None = None
    visibility: Visibility = Field(
        default=Visibility.PRIVATE, sa_column=enum_column(Visibility, name="visibility", index=True)
    )
    search_vector: str | None = Field(
        default=None,
        sa_column=sa.Column(TSVECTOR, sa.Computed(ACTION_SEARCH_VECTOR, persisted=True)),
    )
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    updated_at: datetime | None = Field(default=None, sa_column=updated_at_column())


class SupportingInstitution(SQLModel, table=True):
    """A national institution supporting an action (beside its lead)."""

    __tablename__ = "action_supporting_institution"
    id: int | None = Field(default=None, primary_key=True)
    action_id: int = Field(sa_column=_parent("implementation_action"))
    name: str
    kind: StakeholderKind = Field(sa_column=enum_column(StakeholderKind, name="supporting_institution_kind"))
    organization_id: int | None = Field(default=None, foreign_key="organization.id")


class ActionRecommendation(SQLModel, table=True):
    """An action implements a recommendation addressed to its State (the cluster)."""

    __tablename__ = "action_recommendation"
    action_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("implementation_action.id", ondelete="CASCADE"), primary_key=True)
    )
    recommendation_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("recommendation.id", ondelete="CASCADE"), primary_key=True, index=True)
    )


class ActionNeed(SQLModel, table=True):
    """A need of the same State that asks for assistance with an action."""

    __tablename__ = "action_need"
    action_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("implementation_action.id", ondelete="CASCADE"), primary_key=True)
    )
    need_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("assistance_need.id", ondelete="CASCADE"), primary_key=True, index=True)
    )


class Indicator(SQLModel, table=True):
    """How an action's result is measured: from a baseline towards a target by a due date."""

    __tablename__ = "action_indicator"
    id: int | None = Field(default=None, primary_key=True)
    action_id: int = Field(sa_column=_parent("implementation_action"))
    name: str
    unit: str | None = None
    baseline: Decimal | None = Field(default=None, sa_column=_quantity_column())
    target: Decimal | None = Field(default=None, sa_column=_quantity_column())
    due_date: date | None = None
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    updated_at: datetime | None = Field(default=None, sa_column=updated_at_column())


class ProgressReport(SQLModel, table=True):
    """A dated report on an action. PRIVATE by default: the State may publish it; it is never
    seen by anyone who may not see its action."""

    __tablename__ = "progress_report"
    __table_args__ = (sa.Index("ix_progress_report_action_reported", "action_id", "reported_on", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    action_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("implementation_action.id", ondelete="CASCADE"), nullable=False)
    )
    reported_on: date
    status: ImplementationStatus = Field(sa_column=enum_column(ImplementationStatus, name="implementation_status"))
    narrative: str = ""
    evidence_links: list[str] = Field(default_factory=list, sa_column=code_array())
    visibility: Visibility = Field(default=Visibility.PRIVATE, sa_column=enum_column(Visibility, name="visibility"))
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    updated_at: datetime | None = Field(default=None, sa_column=updated_at_column())


class IndicatorValue(SQLModel, table=True):
    """An indicator's value as of a progress report."""

    __tablename__ = "progress_indicator_value"
    report_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("progress_report.id", ondelete="CASCADE"), primary_key=True)
    )
    indicator_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("action_indicator.id", ondelete="CASCADE"), primary_key=True, index=True)
    )
    value: Decimal = Field(sa_column=sa.Column(sa.Numeric(20, 4), nullable=False))


class ProgressComment(SQLModel, table=True):
    """An NHRI's or civil society organization's comment on a progress report."""

    __tablename__ = "progress_comment"
    __table_args__ = (sa.CheckConstraint("length(body) between 1 and 10000", name="body_length"),)
    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(sa_column=_parent("progress_report"))
    organization_id: int = Field(foreign_key="organization.id", index=True)
    author: str = Field(max_length=128)
    body: str
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
