"""UPR reviews, the recommendations a State received (from the UPR, treaty bodies and special
procedures) and the pledges it made."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlmodel import Field, SQLModel

from .base import code_array, created_at_column, enum_column, updated_at_column
from .enums import RecommendationResponse, RecommendationSource


def upr_cycle_of_session(session: int) -> int:
    """UPR cycles: 1st sessions 1-12, 2nd 13-26, 3rd 27-40, 4th 41-54."""
    if session <= 12:
        return 1
    if session <= 26:
        return 2
    if session <= 40:
        return 3
    return 4


class Review(SQLModel, table=True):
    """One State's review at one UPR Working Group session."""

    __tablename__ = "review"
    __table_args__ = (
        sa.UniqueConstraint("state_iso3", "session"),
        sa.CheckConstraint("cycle between 1 and 10", name="cycle_range"),
        sa.CheckConstraint("session >= 1", name="session_positive"),
    )
    id: int | None = Field(default=None, primary_key=True)
    state_iso3: str = Field(foreign_key="state.iso3", index=True, max_length=3)
    cycle: int
    session: int
    year: int | None = None


class Recommendation(SQLModel, table=True):
    """A recommendation to one State: by the UPR (with its review), a treaty body or a special
    procedure (with their body and document symbol, and no review)."""

    __tablename__ = "recommendation"
    __table_args__ = (
        sa.CheckConstraint("action_category between 1 and 5", name="action_category_range"),
        sa.Index("ix_recommendation_search_vector", "search_vector", postgresql_using="gin"),
        sa.Index("ix_recommendation_themes", "themes", postgresql_using="gin"),
    )
    id: int | None = Field(default=None, primary_key=True)
    # NULL for treaty-body and special-procedure recommendations, which have no UPR review.
    review_id: int | None = Field(default=None, foreign_key="review.id", index=True)
    state_iso3: str = Field(foreign_key="state.iso3", index=True, max_length=3)
    text: str
    source: RecommendationSource = Field(
        default=RecommendationSource.UPR,
        sa_column=enum_column(RecommendationSource, name="recommendation_source", server_default="UPR"),
    )
    # The treaty body (CRC, CEDAW …) or special-procedure mandate ("SR Torture"); NULL for the UPR.
    body: str | None = Field(default=None, max_length=200, index=True)
    # The UN document symbol it was published in (CRC/C/PER/CO/6-7, A/HRC/43/15).
    symbol: str | None = Field(default=None, max_length=200)
    publication_date: date | None = None
    # Import bookkeeping (UHRI): the Universal Human Rights Index annotation this row is.
    uhri_annotation_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column(sa.Uuid(), nullable=True, unique=True, index=True)
    )
    # The UHRI theme names as given (themes are derived from them through mapping data).
    uhri_themes: list[str] = Field(default_factory=list, sa_column=code_array())
    response: RecommendationResponse | None = Field(
        default=None,
        sa_column=enum_column(RecommendationResponse, name="recommendation_response", nullable=True),
    )
    action_category: int | None = None
    themes: list[str] = Field(default_factory=list, sa_column=code_array())
    sdg_targets: list[str] = Field(default_factory=list, sa_column=code_array())
    affected_persons: list[str] = Field(default_factory=list, sa_column=code_array())
    source_reference: str | None = None
    # Recommending entities that are not States (e.g. "European Union"), kept as text.
    other_recommenders: list[str] = Field(default_factory=list, sa_column=code_array())
    # Import bookkeeping (UPR Info): what identifies the row in its source, so a re-import
    # updates instead of duplicating. sha256 of State under review | session | recommending
    # State (or its text) | whitespace-normalised text; NULL for recommendations made here.
    identity_key: str | None = Field(default=None, max_length=64, unique=True, index=True)
    # sha256 of State | session | normalised text: UPR Info lists a joint recommendation once
    # per recommending State; the rows stay separate and share this key.
    related_key: str | None = Field(default=None, max_length=64, index=True)
    # The UPR Info issue names as given (themes are derived from them through mapping data).
    upr_info_issues: list[str] = Field(default_factory=list, sa_column=code_array())
    search_vector: str | None = Field(
        default=None,
        sa_column=sa.Column(
            TSVECTOR,
            sa.Computed("to_tsvector('english', text)", persisted=True),
        ),
    )
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    updated_at: datetime | None = Field(default=None, sa_column=updated_at_column())


class RecommendationRecommender(SQLModel, table=True):
    """A recommending State of a recommendation (many-to-many)."""

    __tablename__ = "recommendation_recommender"
    recommendation_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("recommendation.id", ondelete="CASCADE"), primary_key=True)
    )
    state_iso3: str = Field(foreign_key="state.iso3", primary_key=True, index=True, max_length=3)


class Pledge(SQLModel, table=True):
    """A voluntary pledge or commitment of a State."""

    __tablename__ = "pledge"
    __table_args__ = (sa.CheckConstraint("action_category between 1 and 5", name="action_category_range"),)
    id: int | None = Field(default=None, primary_key=True)
    state_iso3: str = Field(foreign_key="state.iso3", index=True, max_length=3)
    review_id: int | None = Field(default=None, foreign_key="review.id")
    text: str
    made_on: date | None = None
    themes: list[str] = Field(default_factory=list, sa_column=code_array())
    # Import bookkeeping (UPR Info "Voluntary Pledge" rows): sha256 of State | session |
    # whitespace-normalised text; NULL for pledges entered here.
    identity_key: str | None = Field(default=None, max_length=64, unique=True, index=True)
    upr_info_issues: list[str] = Field(default_factory=list, sa_column=code_array())
    action_category: int | None = None
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    updated_at: datetime | None = Field(default=None, sa_column=updated_at_column())
