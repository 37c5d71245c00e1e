"""Capabilities: what an organization can offer without a funded programme yet."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlmodel import Field, SQLModel

from .base import code_array, created_at_column, updated_at_column
from .programmes import PROGRAMME_SEARCH_VECTOR


class Capability(SQLModel, table=True):
    __tablename__ = "capability"
    __table_args__ = (
        sa.Index("ix_capability_search_vector", "search_vector", postgresql_using="gin"),
        sa.Index("ix_capability_themes", "themes", postgresql_using="gin"),
    )
    id: int | None = Field(default=None, primary_key=True)
    organization_id: int = Field(foreign_key="organization.id", index=True)
    title: str
    description: str = ""
    themes: list[str] = Field(default_factory=list, sa_column=code_array())
    sectors: list[str] = Field(default_factory=list, sa_column=code_array())
    modalities: list[str] = Field(default_factory=list, sa_column=code_array())
    # UN M49 region codes ("001" World, "002" Africa, "202" Sub-Saharan Africa, …)
    regions_served: list[str] = Field(default_factory=list, sa_column=code_array())
    languages: list[str] = Field(default_factory=list, sa_column=code_array())
    search_vector: str | None = Field(
        default=None,
        sa_column=sa.Column(TSVECTOR, sa.Computed(PROGRAMME_SEARCH_VECTOR, persisted=True)),
    )
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    updated_at: datetime | None = Field(default=None, sa_column=updated_at_column())
