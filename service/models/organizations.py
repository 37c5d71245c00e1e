"""Organizations: donors, UN agencies and funds, regional bodies, NHRIs, civil society."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from .base import created_at_column, enum_column, updated_at_column
from .enums import OrganizationCategory


class Organization(SQLModel, table=True):
    __tablename__ = "organization"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    acronym: str | None = None
    category: OrganizationCategory = Field(sa_column=enum_column(OrganizationCategory, name="organization_category"))
    # IATI OrganisationType code (10 Government, 40 Multilateral, …)
    organisation_type: str | None = Field(default=None, max_length=4)
    iati_identifier: str | None = Field(default=None, unique=True)
    state_iso3: str | None = Field(default=None, foreign_key="state.iso3", index=True, max_length=3)
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    updated_at: datetime | None = Field(default=None, sa_column=updated_at_column())
