"""The UPR Voluntary Fund (resolution 21/21 para 15): rounds, their published and versioned
criteria, applications from States linked to needs, scores and decisions."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from .base import created_at_column, currency_column, enum_column, money_column, updated_at_column


class FundRoundStatus(str, Enum):
    DRAFT = "DRAFT"
    OPEN = "OPEN"
    CLOSED = "CLOSED"
    ALLOCATED = "ALLOCATED"


class FundDecision(str, Enum):
    FUNDED = "FUNDED"
    PARTIALLY_FUNDED = "PARTIALLY_FUNDED"
    NOT_FUNDED = "NOT_FUNDED"


class FundRound(SQLModel, table=True):
    """One call for applications with its budget. `criteria_version` is the version in force."""

    __tablename__ = "fund_round"
    __table_args__ = (
        sa.CheckConstraint("budget > 0", name="budget_positive"),
        sa.CheckConstraint("closes_on >= opens_on", name="window_ordered"),
        sa.CheckConstraint("min_partial_share > 0 and min_partial_share <= 1", name="min_partial_share_range"),
    )
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=200)
    description: str = ""
    budget: Decimal = Field(sa_column=money_column(nullable=False))
    currency: str = Field(sa_column=currency_column(nullable=False))
    opens_on: date
    closes_on: date
    status: FundRoundStatus = Field(
        default=FundRoundStatus.DRAFT, sa_column=enum_column(FundRoundStatus, name="fund_round_status", index=True)
    )
    # Partial funding: the last application reached gets what remains only when that covers
    # at least this share of its request (service/fund/allocation.py).
    min_partial_share: Decimal = Field(
        default=Decimal("0.5"), sa_column=sa.Column(sa.Numeric(4, 3), nullable=False, server_default="0.5")
    )
    criteria_version: int = Field(default=1, sa_column=sa.Column(sa.Integer, nullable=False, server_default="1"))
    approved_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True))
    approved_by: str | None = Field(default=None, max_length=128)
    approval_note: str | None = None
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    updated_at: datetime | None = Field(default=None, sa_column=updated_at_column())


class FundCriteriaVersion(SQLModel, table=True):
    """One published set of weights of a round. A changed weight is a new version, never an edit."""

    __tablename__ = "fund_criteria_version"
    __table_args__ = (sa.UniqueConstraint("round_id", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(sa_column=sa.Column(sa.ForeignKey("fund_round.id", ondelete="CASCADE"), nullable=False))
    version: int
    weights: dict[str, float] = Field(sa_column=sa.Column(JSONB, nullable=False))
    note: str = ""
    created_by: str = Field(max_length=128)
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())


class FundApplication(SQLModel, table=True):
    """A State's application to a round (one per State and round). The decision fields are
    written once, when a Fund administrator approves the allocation."""

    __tablename__ = "fund_application"
    __table_args__ = (
        sa.UniqueConstraint("round_id", "state_iso3"),
        sa.CheckConstraint("requested_amount > 0", name="requested_positive"),
        sa.CheckConstraint("co_financing >= 0", name="co_financing_non_negative"),
        sa.CheckConstraint("allocated_amount >= 0", name="allocated_non_negative"),
    )
    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("fund_round.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    state_iso3: str = Field(foreign_key="state.iso3", index=True, max_length=3)
    title: str = Field(max_length=300)
    summary: str = ""
    requested_amount: Decimal = Field(sa_column=money_column(nullable=False))
    co_financing: Decimal = Field(
        default=Decimal("0"), sa_column=sa.Column(sa.Numeric(16, 2), nullable=False, server_default="0")
    )
    currency: str = Field(sa_column=currency_column(nullable=False))
    decision: FundDecision | None = Field(
        default=None, sa_column=enum_column(FundDecision, name="fund_decision", nullable=True)
    )
    allocated_amount: Decimal | None = Field(default=None, sa_column=money_column())
    final_rank: int | None = None
    final_score: float | None = None
    decision_reason: str | None = None
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    updated_at: datetime | None = Field(default=None, sa_column=updated_at_column())


class FundApplicationNeed(SQLModel, table=True):
    __tablename__ = "fund_application_need"
    application_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("fund_application.id", ondelete="CASCADE"), primary_key=True)
    )
    need_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("assistance_need.id", ondelete="CASCADE"), primary_key=True, index=True)
    )


class FundScore(SQLModel, table=True):
    """An application's score under one criteria version, with its breakdown (kept for every
    version, so what moved between two versions can be shown)."""

    __tablename__ = "fund_score"
    __table_args__ = (sa.CheckConstraint("score between 0 and 1", name="score_range"),)
    application_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("fund_application.id", ondelete="CASCADE"), primary_key=True)
    )
    criteria_version: int = Field(primary_key=True)
    score: float
    breakdown: list[dict[str, Any]] = Field(sa_column=sa.Column(JSONB, nullable=False))
    scored_at: datetime | None = Field(default=None, sa_column=created_at_column())
