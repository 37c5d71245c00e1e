"""Matches between needs and offers (programmes, capabilities), their history and the
versioned criteria that scored them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR
from sqlmodel import Field, SQLModel

from .base import created_at_column, currency_column, enum_column, money_column, updated_at_column


class MatchStatus(str, Enum):
    SUGGESTED = "SUGGESTED"
    PROPOSED = "PROPOSED"
    ENDORSED = "ENDORSED"
    DECLINED = "DECLINED"
    AGREED = "AGREED"
    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"
    WITHDRAWN = "WITHDRAWN"


class OfferKind(str, Enum):
    PROGRAMME = "PROGRAMME"
    CAPABILITY = "CAPABILITY"


class CriteriaVersion(SQLModel, table=True):
    """One published set of criteria weights. Matches record the version that scored them."""

    __tablename__ = "criteria_version"
    version: int = Field(primary_key=True)
    weights: dict[str, float] = Field(sa_column=sa.Column(JSONB, nullable=False))
    note: str = ""
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())


class Match(SQLModel, table=True):
    __tablename__ = "match"
    __table_args__ = (
        sa.CheckConstraint("score between 0 and 1", name="score_range"),
        sa.CheckConstraint(
            "(offer_kind = 'PROGRAMME' and programme_id is not null and capability_id is null) or "
            "(offer_kind = 'CAPABILITY' and capability_id is not null and programme_id is null)",
            name="one_offer",
        ),
        sa.CheckConstraint("amount_offered >= 0", name="amount_offered_non_negative"),
        sa.CheckConstraint("agreed_amount >= 0", name="agreed_amount_non_negative"),
        sa.UniqueConstraint("need_id", "programme_id"),
        sa.UniqueConstraint("need_id", "capability_id"),
        sa.Index("ix_match_need_score", "need_id", sa.text("score desc"), "id"),
        sa.Index("ix_match_organization_score", "organization_id", sa.text("score desc"), "id"),
        sa.Index("ix_match_programme_score", "programme_id", sa.text("score desc"), "id"),
        sa.Index("ix_match_capability_score", "capability_id", sa.text("score desc"), "id"),
        # Only completed engagements carry lessons: suggestions stay out of the index.
        sa.Index(
            "ix_match_lessons_vector",
            "lessons_vector",
            postgresql_using="gin",
            postgresql_where=sa.text("lessons_learned IS NOT NULL"),
        ),
    )
    id: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=True))
    need_id: int = Field(sa_column=sa.Column(sa.ForeignKey("assistance_need.id", ondelete="CASCADE"), nullable=False))
    offer_kind: OfferKind = Field(sa_column=enum_column(OfferKind, name="offer_kind"))
    programme_id: int | None = Field(
        default=None, sa_column=sa.Column(sa.ForeignKey("programme.id", ondelete="CASCADE"), nullable=True)
    )
    capability_id: int | None = Field(
        default=None, sa_column=sa.Column(sa.ForeignKey("capability.id", ondelete="CASCADE"), nullable=True)
    )
    # The offering organization (programme's reporting org or capability's org), for
    # "my opportunities" and "my matches" without a join.
    organization_id: int = Field(foreign_key="organization.id")
    score: float = Field(sa_column=sa.Column(sa.Float, nullable=False))
    breakdown: list[dict[str, Any]] = Field(sa_column=sa.Column(JSONB, nullable=False))
    criteria_version: int = Field(foreign_key="criteria_version.version")
    status: MatchStatus = Field(
        default=MatchStatus.SUGGESTED, sa_column=enum_column(MatchStatus, name="match_status", index=True)
    )
    message: str | None = None
    amount_offered: Decimal | None = Field(default=None, sa_column=money_column())
    agreed_amount: Decimal | None = Field(default=None, sa_column=money_column())
    currency: str | None = Field(default=None, sa_column=currency_column())
    lessons_learned: str | None = None
    lessons_vector: str | None = Field(
        default=None,
        sa_column=sa.Column(
            TSVECTOR, sa.Computed("to_tsvector('english', coalesce(lessons_learned, ''))", persisted=True)
        ),
    )
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    updated_at: datetime | None = Field(default=None, sa_column=updated_at_column())


class MatchTransition(SQLModel, table=True):
    """Who moved a match, when, from where to where, and why."""

    __tablename__ = "match_transition"
    id: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=True))
    match_id: int = Field(
        sa_column=sa.Column(sa.BigInteger, sa.ForeignKey("match.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    from_status: MatchStatus = Field(sa_column=enum_column(MatchStatus, name="match_from_status"))
    to_status: MatchStatus = Field(sa_column=enum_column(MatchStatus, name="match_to_status"))
    actor: str = Field(max_length=128)
    actor_role: str = Field(max_length=32)
    reason: str | None = None
    occurred_at: datetime | None = Field(default=None, sa_column=created_at_column())
